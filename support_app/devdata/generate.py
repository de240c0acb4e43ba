"""Rows of a large, realistic dataset, generated in memory (no I/O): load.py writes them.

What is generated (deterministic for a given ``--seed`` and run date):

* 20 agents (``agent@example.com`` / ``agent2@example.com`` as in the demo, then
  ``agent03@example.com`` …) and N customers with unique lower-case emails and unique
  names. Every account's password is ``demo-pass-2026`` (one real argon2 hash, reused).
* One order snapshot per case: 1–4 lines, mostly EUR, amounts in minor units with
  ``amount_paid = Σ(qty·unit − discount + tax) + shipping + shipping_tax``.
* Support cases created over the last two years (ids follow creation time, numbers
  ``SC-%06d`` = id). Each case's life is simulated — first agent reply, an optional
  wait on the customer, refunds, resolution, closing — and cut at "now", so recent
  cases are open / in progress / waiting and old ones resolved or closed. Assignee,
  ``first_response_at``, ``resolved_at``, ``closed_at``, ``updated_at`` (last
  customer-visible change) and ``version`` follow from that history.
* Messages (≈2.4 per case: the agent's first reply, customer replies, some internal
  notes, a resolution reply) and case events (≈5 per case: created, assigned, each
  status change, refund requested/updated). To keep the load within minutes the
  ``reply``/``note`` events the app writes alongside each message are NOT generated.
* Refund cases (``RF-%06d``) on distinct delivered orders, 1–2 items each (quantities
  ≤ purchased, item amounts = the largest-first unit amounts of
  ``refund_amounts.unit_amounts``, shipping added for the shop's fault or a whole-order
  refund), requested inside the 14-day window; statuses follow the simulated decision
  (approve → processing → refunded/failed, retry, abandon, reject, settle, cancel).
  Refund events 2–4 each; attempts with unique idempotency keys for every refund that
  reached processing — at most one live (pending/unknown/succeeded) attempt per refund.

Customer data is written as the app writes it (security/crypto, models/search_index):
emails, names, subjects, descriptions, messages, event details, refund notes and
payment references encrypted under the keyring's current key with their column as AAD,
users.email_bidx, and the customer-name and case-subject term rows. The rows are made
in plaintext and sealed per chunk (``seal``), so the simulation above stays readable.
"""

from __future__ import annotations

import random
from bisect import bisect
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from math import log

from support_app.devdata.generate_vocabulary import (
    AGENT_NAMES, AGENT_REPLIES, CATEGORIES, CAT_WEIGHTS, CAT_WEIGHTS_REFUND, CURRENCIES, CUSTOMER_REPLIES,
    DECLINES, DESCRIPTIONS, DOMAINS, FIRST, LAST_A, LAST_B, NOTES, PRIORITIES, PRIO_WEIGHTS, PRODUCTS,
    REASON_BY_CATEGORY, REFUND_NOTES, REJECT, RESOLUTIONS, SETTLE, SHOP_FAULT, SUBJECTS, SYMBOL,
)
from support_app.domain.refund_amounts import unit_amounts
from support_app.domain.search_terms import name_terms, subject_terms
from support_app.models.search_index import NAME, SUBJECT, email_index, term_index
from support_app.security.crypto import get_keyring

PASSWORD = "demo-pass-2026"  # same as the demo accounts (devdata/demo.py)
N_AGENTS = 20

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


# ------------------------------------------------------------------ generator

class Generator:
    """Fills ``tables`` (name → list of row tuples, see TABLES) with users, then cases in chunks."""

    def __init__(self, customers: int, cases: int, refunds: int, seed: int, now_us: int, password_hash: str) -> None:
        self.n_customers, self.n_cases, self.n_refunds = customers, cases, refunds
        self.rng = random.Random(seed)
        self.now = now_us
        self.start = now_us - 730 * DAY
        self.clock = Clock(self.start - 4 * 365 * DAY, now_us)
        self.password_hash = password_hash
        self.tables: dict[str, list] = {name: [] for name in TABLES}
        self.seed = seed
        self.refund_id = 0
        self.refunds_left = refunds
        self.cases_left = cases
        self.status_counts: dict[str, int] = {}
        self.refund_status_counts: dict[str, int] = {}
        rng = self.rng
        self.pick_category = weighted(rng, CATEGORIES, CAT_WEIGHTS)
        self.pick_category_refund = weighted(rng, CATEGORIES, CAT_WEIGHTS_REFUND)
        self.pick_priority = weighted(rng, PRIORITIES, PRIO_WEIGHTS)
        self.pick_lines = weighted(rng, (1, 2, 3, 4), (45, 30, 15, 10))
        self.pick_qty = weighted(rng, (1, 2, 3, 4, 5), (65, 22, 9, 3, 1))
        self.pick_currency = weighted(rng, CURRENCIES, (85, 10, 5))
        # Some agents handle far more cases than others.
        self.pick_agent = weighted(rng, list(range(1, N_AGENTS + 1)), [30 - i for i in range(N_AGENTS)])

    # -------------------------------------------------------------- chunks
    def chunk(self, k: int, first: int, last: int) -> tuple[dict[str, list], dict[str, int], dict[str, int]]:
        """Cases ``first..last`` (inclusive) with everything hanging off them.

        A chunk depends only on (seed, k, first, last, sizes, now), never on another
        chunk, so chunks can be made in parallel and the file is the same either way:
        its own random stream, its exact share of the refunds (selection sampling inside
        the chunk), refund ids from its share's start, order-line ids ``4·(case-1)+n``.
        """
        self.rng.seed(self.seed * 1_000_003 + k)  # the pickers hold rng.random: they follow
        before = self.n_refunds * (first - 1) // self.n_cases
        self.refund_id = before
        self.refunds_left = self.n_refunds * last // self.n_cases - before
        self.cases_left = last - first + 1
        self.status_counts, self.refund_status_counts = {}, {}
        for cid in range(first, last + 1):
            self.case(cid)
        seal(self.tables)
        tables = self.tables
        self.tables = {name: [] for name in TABLES}
        return tables, self.status_counts, self.refund_status_counts

    # -------------------------------------------------------------- users
    def users(self) -> None:
        fmt, rows = self.clock.fmt, self.tables["users"]
        t_agents = self.start - 400 * DAY
        for i, (email, name) in enumerate(AGENT_NAMES[:N_AGENTS], start=1):
            rows.append((i, email, name, "agent", self.password_hash, None, fmt(t_agents + i * HOUR)))
        # A bijection from customer number to (first, middle initial, last name): unique names.
        n_last = len(LAST_A) * len(LAST_B)
        space = len(FIRST) * 26 * n_last
        if self.n_customers > space:
            raise SystemExit(f"at most {space} customers have unique names")
        step = 7_919_993 % space or 1
        while _gcd(step, space) != 1:
            step += 1
        r = self.rng.random
        for k in range(self.n_customers):
            c = (k * step + 12_345) % space
            first = FIRST[c % len(FIRST)]
            c //= len(FIRST)
            initial = chr(65 + c % 26)
            c //= 26
            last = LAST_A[c // len(LAST_B)] + LAST_B[c % len(LAST_B)]
            uid = N_AGENTS + 1 + k
            email = f"{first}.{initial}.{last}@{DOMAINS[k % len(DOMAINS)]}".lower()
            created = self.start - int(r() * 3 * 365 * DAY)
            rows.append((uid, email, f"{first} {initial}. {last}", "customer", self.password_hash, f"LC-{100000 + k}", fmt(created)))
        seal(self.tables)

    def pick_customer(self) -> int:
        """Customer user id; a third of the cases come from a skewed group of frequent customers."""
        r = self.rng.random
        n = self.n_customers
        k = int(n * r() ** 1.5) if r() < 0.3 else int(n * r())
        return N_AGENTS + 1 + min(k, n - 1)

    # -------------------------------------------------------------- one case
    def case(self, cid: int) -> None:
        rng = self.rng
        r = rng.random
        fmt = self.clock.fmt
        now = self.now
        T = self.tables

        def choice(seq):
            return seq[int(r() * len(seq))]

        span = self.now - 2 * HOUR - self.start
        t0 = self.start + (span * cid) // self.n_cases - int(r() * (span // self.n_cases))  # increasing with id

        # Refund on this case? Selection sampling: exactly n_refunds distinct cases.
        has_refund = self.refunds_left > 0 and r() * self.cases_left < self.refunds_left
        self.cases_left -= 1
        if has_refund:
            self.refunds_left -= 1
        category = self.pick_category_refund() if has_refund else self.pick_category()
        customer = self.pick_customer()

        # ---- order snapshot
        currency, rates = self.pick_currency()
        rate = choice(rates)
        undelivered = not has_refund and category in ("delivery", "missing_item") and r() < 0.4
        delivered = None if undelivered else t0 - int((0.1 + r() * 11.5) * DAY)
        placed = (delivered or t0) - int((1 + r() * 5) * DAY)
        cust_k = customer - N_AGENTS
        order_id = f"ORD-{100000 + cust_k}-{cid}"
        lines = []
        items_total = 0
        for n in range(1, self.pick_lines() + 1):
            sku, name, price = choice(PRODUCTS)
            qty = self.pick_qty()
            unit = price + (int(r() * 5) - 2) * 50 if r() < 0.3 else price
            discount = (qty * unit * choice((5, 10, 15, 20))) // 100 if r() < 0.25 else 0
            tax = ((qty * unit - discount) * rate + 50) // 100
            line_pk = 4 * (cid - 1) + n  # at most 4 lines: ids stay unique whatever the chunking
            lines.append((line_pk, f"L{n}", name, qty, unit, discount, tax))
            T["order_lines"].append((line_pk, cid, f"L{n}", sku, name, qty, unit, discount, tax))
            items_total += qty * unit - discount + tax
        shipping = 0 if r() < 0.3 else choice((395, 495, 695, 995))
        shipping_tax = (shipping * rate + 50) // 100
        paid = items_total + shipping + shipping_tax
        T["order_snapshots"].append((
            cid, order_id, customer, currency, fmt(placed), None if delivered is None else fmt(delivered),
            shipping, shipping_tax, paid, f"PAY-{order_id[4:]}", fmt(t0),
        ))

        # ---- the case's history, simulated in full, then cut at now
        number = f"SC-{cid:06d}"
        product = lines[0][2].lower()
        subject = choice(SUBJECTS[category]) % (order_id if category == "delivery" else product)
        if r() < 0.5:
            description = choice(DESCRIPTIONS[:1] + DESCRIPTIONS[2:3]) % (order_id, product)
        else:
            description = choice(DESCRIPTIONS[1:2] + DESCRIPTIONS[3:]) % (product, order_id)
        agent = self.pick_agent()
        ev: list[tuple] = [(t0, customer, "created", None, "open", None, 0, True)]  # (t, actor, kind, from, to, detail, internal, visible)
        msgs: list[tuple] = []
        withdrawn = not has_refund and r() < 0.02
        if withdrawn:
            ev.append((t0 + int((0.2 + r() * 20) * HOUR), customer, "status_changed", "open", "closed", "No longer needed", 0, True))
            last = t0
        else:
            # First reply: usually within hours, in busy weeks days later; a few are forgotten.
            backlog = r()
            mean_wait = 6 * HOUR if backlog < 0.85 else 4 * DAY if backlog < 0.998 else 3 * 365 * DAY
            t_first = t0 + int((5 + r() * 60) * MIN) + int(-mean_wait * _log(r()))
            # Mostly assigned when an agent picks the case up; some triaged to someone early.
            t_assign = t_first - int((1 + r() * 20) * MIN) if r() < 0.8 else t0 + int((2 + r() * 120) * MIN)
            t_assign = max(t_assign, t0 + US)
            ev.append((t_assign, agent, "assigned", None, None, AGENT_NAMES[agent - 1][1], 0, True))
            ev.append((t_first, agent, "status_changed", "open", "in_progress", None, 0, True))
            msgs.append((t_first, agent, "public", choice(AGENT_REPLIES)))
            last = t_first
            if r() < 0.3:
                t_wait = t_first + int((1 + r() * 60) * MIN)
                ev.append((t_wait, agent, "status_changed", "in_progress", "waiting_on_customer", "Asked for photos", 0, True))
                if r() < 0.95:
                    t_back = t_wait + int((0.5 + r() * 48) * HOUR)
                    msgs.append((t_back, customer, "public", choice(CUSTOMER_REPLIES)))
                    ev.append((t_back, customer, "status_changed", "waiting_on_customer", "in_progress", "customer replied", 0, True))
                    last = t_back
                else:
                    last = None  # the customer never answered: the case waits for ever
            elif r() < 0.35:
                t_c = t_first + int((0.5 + r() * 30) * HOUR)
                msgs.append((t_c, customer, "public", choice(CUSTOMER_REPLIES)))
                last = t_c
            if r() < 0.25:
                t_note = t_first + int(r() * 20 * HOUR)
                msgs.append((t_note, agent, "internal", choice(NOTES)))

        # ---- refund
        if has_refund:
            t_req = t0 + int((1 + r() * 600) * MIN)
            if t_req >= now:  # a case opened just now: its request came in meanwhile
                t_req = t0 + int((now - t0) * r())
            t_req = min(t_req, delivered + 14 * DAY - MIN)  # inside the window
            t_end = self.refund(cid, customer, agent, t_req, max(t_req, t_first), delivered, currency, category, lines, shipping + shipping_tax, paid, ev, msgs)
            if last is not None:
                last = max(last, t_end)

        # ---- resolution and closing
        if last is not None and not withdrawn:
            stuck = r()
            if stuck > 0.005:  # a few stay in progress for ever
                t_res = last + int((0.5 + r() * 4) * HOUR) + int(-1.5 * DAY * _log(r()))
                ev.append((t_res, agent, "status_changed", "in_progress", "resolved", None, 0, True))
                if r() < 0.5:
                    msgs.append((t_res, agent, "public", choice(RESOLUTIONS)))
                if stuck > 0.10:  # most are closed: by the customer or after a week
                    by_customer = r() < 0.4
                    t_close = t_res + int((0.1 + r() * (2 if by_customer else 7)) * DAY)
                    ev.append((t_close, customer if by_customer else agent, "status_changed", "resolved", "closed",
                               "Thanks!" if by_customer else None, 0, True))

        # ---- cut the story at now and derive the case row
        status, assignee = "open", None
        updated = t0
        first_response = resolved_at = closed_at = None
        version = 1
        ce = T["case_events"]
        ev.sort(key=_first)
        for t, actor, kind, src, dst, detail, internal, visible in ev:
            if t > now:
                break
            ce.append((cid, actor, kind, src, dst, detail, internal, fmt(t)))
            if kind != "created":
                version += 1
                if visible:
                    updated = t
            if dst is not None and kind == "status_changed":
                status = dst
                if dst == "resolved":
                    resolved_at = t
                elif dst == "closed":
                    closed_at = t
            elif kind == "assigned":
                assignee = actor
        cm = T["case_messages"]
        msgs.sort(key=_first)
        for t, author, visibility, body in msgs:
            if t > now:
                break
            cm.append((cid, author, visibility, body, fmt(t)))
            version += 1
            if visibility == "public":
                updated = max(updated, t)
                if first_response is None and author <= N_AGENTS:
                    first_response = t
        self.status_counts[status] = self.status_counts.get(status, 0) + 1
        T["support_cases"].append((
            cid, number, customer, cid, subject, description, category, self.pick_priority(), status, assignee, version,
            fmt(t0), fmt(updated), None if first_response is None else fmt(first_response),
            None if resolved_at is None else fmt(resolved_at), None if closed_at is None else fmt(closed_at),
        ))

    # -------------------------------------------------------------- one refund
    def refund(self, cid, customer, agent, t_req, t_agent, delivered, currency, category, lines, shipping_total, paid, ev, msgs) -> int:
        """Append the refund's rows (cut at now); add its case events and messages. Returns its last moment."""
        rng = self.rng
        r = rng.random
        fmt = self.clock.fmt
        now = self.now
        T = self.tables
        self.refund_id += 1
        rid = self.refund_id
        number = f"RF-{rid:06d}"
        reason = _pick(r, REASON_BY_CATEGORY[category])

        # items: 1 line, or 2 when the order has them; whole order → shipping comes back too
        chosen = rng.sample(lines, 2) if len(lines) > 1 and r() < 0.3 else [_pick(r, lines)]
        whole = len(chosen) == len(lines)
        items_amount = 0
        item_rows = []
        for line_pk, _lid, _name, qty, unit, discount, tax in chosen:
            q = qty if qty == 1 or r() < 0.5 else 1 + int(r() * qty)
            whole = whole and q == qty
            units = unit_amounts(qty, unit, discount, tax)[:q]
            amount = sum(units)
            items_amount += amount
            item_rows.append((rid, line_pk, q, ",".join(map(str, units)), amount))
        shipping_back = shipping_total if (whole or reason in SHOP_FAULT) else 0
        total = items_amount + shipping_back
        assert total <= paid
        summary = f"{number} · {money(total, currency)}"

        # decision path
        x = r()
        rev = [(t_req, customer, "requested", None, "requested", summary)]
        cev = [(t_req, customer, "refund_requested", None, None, f"Requested refund {summary}", 0, True)]
        attempts = []  # (created, outcome time, final status, error)
        decided_by = code = note = settled = gateway_ref = None
        t_dec = max(t_req, t_agent) + int((10 + r() * 2 * 24 * 60) * MIN)
        if x < 0.07:  # the customer withdraws it
            t_c = t_req + int((5 + r() * 600) * MIN)
            rev.append((t_c, customer, "status_changed", "requested", "cancelled", None))
            cev.append((t_c, customer, "refund_cancelled", None, None, f"Cancelled refund {number}", 0, True))
            t_end = t_c
        elif x < 0.19:  # rejected, with a message to the customer
            rc, label, text = _pick(r, REJECT)
            decided_by, code, note = agent, rc, text
            rev.append((t_dec, agent, "status_changed", "requested", "rejected", label))
            cev.append((t_dec, agent, "refund_update", None, None, f"Rejected refund {number}: {label}", 0, True))
            msgs.append((t_dec, agent, "public", f"Refund {number} was not approved ({label}). {text}"))
            t_end = t_dec
        elif x < 0.28:  # settled another way
            sc, label = _pick(r, SETTLE)
            settled = total if r() < 0.8 else total + total // 10
            decided_by, code, note = agent, sc, "Settled with the customer by phone."
            text = f"{label} of {money(settled, currency)}"
            rev.append((t_dec, agent, "status_changed", "requested", "settled", f"{text}: {note}"))
            cev.append((t_dec, agent, "refund_update", None, None, f"Settled refund {number}: {text}", 0, True))
            t_end = t_dec
        else:  # approved and sent to the gateway
            decided_by = agent
            days = max(0, (t_req - delivered) // DAY)
            when = f"{days} day{'s' if days != 1 else ''} after delivery" if days else "on the day of delivery"
            rev.append((t_dec, agent, "status_changed", "requested", "approved", f"requested {when} — within window"))
            slow = r() < 0.01  # the agent approved but it waited before being sent
            t_send = t_dec + (int((1 + r() * 600) * MIN) if slow else 0)
            rev.append((t_send, agent, "status_changed", "approved", "processing", "sent to the payment gateway"))
            cev.append((t_dec, agent, "refund_update", None, None, f"Approved refund {number}", 0, True))
            t = t_send
            while True:
                lag = int((0.3 + r() * 4) * US) if r() > 0.02 else int((0.2 + r() * 30) * HOUR)  # timeout → reconciled later
                declined = r() < 0.07
                err = _pick(r, DECLINES) if declined else None
                attempts.append((t, t + lag, "failed" if declined else "succeeded", err, lag > HOUR))
                t += lag
                if not declined:
                    gateway_ref = f"re_{rng.getrandbits(128):032x}"
                    rev.append((t, None, "status_changed", "processing", "refunded", f"gateway reference {gateway_ref}"))
                    cev.append((t, None, "refund_update", None, None, f"Refund {number} refunded: gateway reference {gateway_ref}", 0, True))
                    break
                rev.append((t, None, "status_changed", "processing", "failed", err[1]))
                cev.append((t, None, "refund_update", None, None, f"Refund {number} failed: {err[1]}", 0, True))
                y = r()
                t_next = t + int((0.5 + r() * 30) * HOUR)
                if y < 0.45 and len(attempts) < 3:  # retried with a new key
                    rev.append((t_next, agent, "status_changed", "failed", "processing", "retried"))
                    t = t_next
                    continue
                if y < 0.75:
                    rev.append((t_next, agent, "abandoned", None, None, "Abandoned; items released"))
                    t = t_next
                elif y < 0.9:
                    settled = total
                    code, note = "manual_transfer", "Refunded by bank transfer instead."
                    text = f"Manual transfer of {money(settled, currency)}"
                    rev.append((t_next, agent, "status_changed", "failed", "settled", f"{text}: {note}"))
                    cev.append((t_next, agent, "refund_update", None, None, f"Settled refund {number}: {text}", 0, True))
                    t = t_next
                break
            t_end = t
        ev.extend(cev)

        # cut at now
        status, version, updated, abandoned, failure = "requested", 1, t_req, 0, None
        re_rows = T["refund_events"]
        for t, actor, kind, src, dst, detail in rev:
            if t > now:
                break
            re_rows.append((rid, actor, kind, src, dst, detail, fmt(t)))
            version += 1
            updated = t
            if kind == "abandoned":
                abandoned = 1
            elif kind == "status_changed":
                status = dst
                if dst == "failed":
                    failure = detail
                elif src == "failed" and dst == "processing":
                    failure = None
        if status in ("requested", "cancelled"):
            decided_by = None
        if status not in ("rejected", "settled"):
            code = note = None
        if status != "settled":
            settled = None
        if status != "refunded":
            gateway_ref = None
        for n, (t_a, t_o, outcome, err, timed_out) in enumerate(attempts, start=1):
            if t_a > now:
                break
            key = f"refund-{rid}-attempt-{n}-{rng.getrandbits(64):016x}"
            if t_o <= now:
                st, upd = outcome, t_o
            else:
                st, upd = ("unknown" if timed_out else "pending"), t_a
            T["refund_attempts"].append((
                rid, key, st, total, currency, gateway_ref if st == "succeeded" and status == "refunded" else None,
                err[0] if st == "failed" else None, err[1] if st == "failed" else None,
                (2 if timed_out else 1) if st != "pending" else 1, 1, fmt(upd), fmt(t_a), fmt(upd),
            ))
        self.refund_status_counts[status] = self.refund_status_counts.get(status, 0) + 1
        T["refund_items"].extend(item_rows)
        T["refund_cases"].append((
            rid, number, cid, cid, customer, status, reason, _pick(r, REFUND_NOTES) if r() < 0.3 else None,
            total, shipping_back, currency, f"{rng.getrandbits(128):032x}", abandoned, gateway_ref,
            failure, decided_by, code, note, settled, version, fmt(t_req), fmt(t_req), fmt(updated),
        ))
        return t_end


# A worker process's generator (multiprocessing: made once per process by init_worker).
_WORKER: Generator | None = None


def init_worker(*args) -> None:
    global _WORKER
    _WORKER = Generator(*args)


def make_chunk(k: int, first: int, last: int):
    assert _WORKER is not None
    return _WORKER.chunk(k, first, last)


def _pick(r, seq):
    return seq[int(r() * len(seq))]


def _first(row: tuple) -> int:
    return row[0]


def _log(x: float) -> float:
    return log(x) if x > 0 else -30.0


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a
