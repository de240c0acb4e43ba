"""What changed, published when the transaction commits, for the pages showing it.

Services say which support cases, refund cases and customers a write touched; the
message goes out on the bus (channel ``changes``) only after commit, so a page that
reloads on it sees the change. ``internal`` marks a change customers cannot see (an
internal note): their pages ignore it, so they cannot even tell that one was written.
A message is a hint, never data: pages read their own read model again.

A change made by a tab's own command (``made_by``) names that tab as its origin: the tab
reads its page again right after the command, so the push would only repeat that read.

Topics a page watches (support_app/live/push.py): ``case:<id>``, ``refund:<id>``,
``customer:<id>`` (that customer's cases and refunds), ``cases`` and ``refunds``
(the lists agents see).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sqlmodel import Session

from support_app.live.bus import publish_after_commit
from support_app.live.channels import CHANGES
from support_app.live.shared_reads import forget_after_commit

MAX_ORIGIN_CHARS = 64  # a Reflex client token is 36
_ORIGIN: ContextVar[str] = ContextVar("change_origin", default="")


@contextmanager
def made_by(tab: str) -> Iterator[None]:
    """Changes published in this block (in service threads too: runner.call copies the
    context) come from ``tab``, which reads its page again itself."""
    token = _ORIGIN.set(tab)
    try:
        yield
    finally:
        _ORIGIN.reset(token)


def changed(
    session: Session, *, case: int | None = None, refund: int | None = None, customer: int | None = None,
    internal: bool = False,
) -> None:
    """Publish, after this transaction commits, that these records changed."""
    message = {"c": [case] if case else [], "r": [refund] if refund else [], "u": [customer] if customer else [],
               "i": internal, **({"o": origin} if (origin := _ORIGIN.get()) else {})}
    publish_after_commit(session, CHANGES, json.dumps(message, separators=(",", ":")))
    forget_after_commit(session)  # this process's shared reads: before the service returns


@dataclass(frozen=True)
class Change:
    cases: frozenset[int]
    refunds: frozenset[int]
    customers: frozenset[int]
    internal: bool
    origin: str = ""  # the tab whose own command made it ("" when none: workers, other requests)

    def topics(self) -> set[str]:
        found = {f"case:{i}" for i in self.cases} | {f"refund:{i}" for i in self.refunds}
        found |= {f"customer:{i}" for i in self.customers}
        if self.cases:
            found.add("cases")
        if self.refunds:
            found.add("refunds")
        return found


def parse(message: str) -> Change | None:
    """The change a bus message names, or None for anything malformed."""
    try:
        data = json.loads(message)
        ids = {key: frozenset(int(v) for v in data.get(key, ())) for key in ("c", "r", "u")}
        origin = data.get("o", "")
        if not isinstance(origin, str) or len(origin) > MAX_ORIGIN_CHARS:
            return None
        return Change(ids["c"], ids["r"], ids["u"], bool(data.get("i", False)), origin)
    except (ValueError, TypeError, AttributeError):
        return None
