"""The row-level pieces of the large generated dataset (devdata/generate.py): time units,
the fast timestamp text, money text, weighted pickers, the tables and their encrypted
columns, and ``seal``, which encrypts a chunk's customer data as the app stores it."""

from __future__ import annotations

import random
from bisect import bisect
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from math import log

from support_app.devdata.generate_vocabulary import SYMBOL
from support_app.domain.search_terms import name_terms, subject_terms
from support_app.models.search_index import NAME, SUBJECT, email_index, term_index
from support_app.security.crypto import get_keyring

US = 1_000_000
MIN = 60 * US
HOUR = 3600 * US
DAY = 24 * HOUR

# ------------------------------------------------------------------ timestamps

_D3 = [f"{i:03d}" for i in range(1000)]
_MS = [f"{m:02d}:{s:02d}." for m in range(60) for s in range(60)]


class Clock:
    """Integer microseconds since the epoch → SQLAlchemy's SQLite text, fast.

    ``'2026-11-22 00:24:37.889784'`` is what the UTCDateTime columns hold (naive UTC).
    """

    def __init__(self, first_us: int, last_us: int) -> None:
        self.h0 = first_us // HOUR
        start = datetime.fromtimestamp(self.h0 * 3600, UTC)
        hours = last_us // HOUR - self.h0 + 2
        self.hours = [(start + timedelta(hours=i)).strftime("%Y-%m-%d %H:") for i in range(hours)]

    def fmt(self, t: int) -> str:
        s = t // US
        u = t - s * US
        return self.hours[s // 3600 - self.h0] + _MS[s % 3600] + _D3[u // 1000] + _D3[u % 1000]


def money(amount: int, currency: str) -> str:
    return f"{SYMBOL[currency]}{amount // 100:,}.{amount % 100:02d}"


def weighted(rng: random.Random, values, weights):
    cum = list(accumulate(weights))
    total = cum[-1]
    r = rng.random

    def pick():
        return values[bisect(cum, r() * total)]

    return pick


# The tables a generator fills, in the order they are loaded.
TABLES = ("users", "customer_name_terms", "order_snapshots", "order_lines", "support_cases", "case_subject_terms",
          "case_messages", "case_events", "refund_cases", "refund_items", "refund_events", "refund_attempts")
# Encrypted columns: table → (position in the generated row, AAD).
SEALED = {
    "order_snapshots": ((9, "order_snapshots.payment_reference"),),
    "support_cases": ((4, "support_cases.subject"), (5, "support_cases.description")),
    "case_messages": ((3, "case_messages.body"),),
    "case_events": ((5, "case_events.detail"),),
    "refund_cases": ((7, "refund_cases.note"), (17, "refund_cases.decision_note")),
    "refund_events": ((5, "refund_events.detail"),),
}


_SUBJECT_BIDX: dict[str, tuple[str, ...]] = {}  # subjects repeat (templates × products): tokenised once


def _subject_bidx(subject: str) -> tuple[str, ...]:
    found = _SUBJECT_BIDX.get(subject)
    if found is None:
        found = tuple(term_index(SUBJECT, t) for t in subject_terms(subject))
        if len(_SUBJECT_BIDX) < 200_000:
            _SUBJECT_BIDX[subject] = found
    return found


def seal(tables: dict[str, list]) -> None:
    """Encrypt the customer data of generated rows in place and add their blind-index
    rows: users become (id, email, email_bidx, full_name, …) plus name terms; cases add
    subject terms. Every value gets its own random nonce (no ciphertext is reused).
    Term rows are sorted, so the load inserts them in key order."""
    encrypt = get_keyring().encrypt
    users = tables["users"]
    if users:
        terms = tables["customer_name_terms"]
        for n, (uid, email, name, role, *rest) in enumerate(users):
            users[n] = (uid, encrypt(email, "users.email"), email_index(email), encrypt(name, "users.full_name"), role, *rest)
            if role == "customer":
                terms.extend((term_index(NAME, t), uid) for t in name_terms(name))
        terms.sort()
    cases = tables["support_cases"]
    if cases:
        terms = tables["case_subject_terms"]
        for row in cases:
            cid = row[0]
            terms.extend((bidx, cid) for bidx in _subject_bidx(row[4]))
        terms.sort()
    for name, columns in SEALED.items():
        rows = tables[name]
        for n, row in enumerate(rows):
            row = list(row)
            for i, aad in columns:
                if row[i] is not None:
                    row[i] = encrypt(row[i], aad)
            rows[n] = tuple(row)


def pick(r, seq):
    """One of ``seq``, uniformly, with ``r`` = the random stream's ``random``."""
    return seq[int(r() * len(seq))]


def first_field(row: tuple) -> int:
    return row[0]


def log_or_floor(x: float) -> float:
    return log(x) if x > 0 else -30.0
