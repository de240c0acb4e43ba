"""What changed, published when the transaction commits, for the pages showing it.

Services say which support cases, refund cases and customers a write touched; the
message goes out on the bus (channel ``changes``) only after commit, so a page that
reloads on it sees the change. ``internal`` marks a change customers cannot see (an
internal note): their pages ignore it, so they cannot even tell that one was written.
A message is a hint, never data: pages read their own read model again.

Topics a page watches (support_app/live/push.py): ``case:<id>``, ``refund:<id>``,
``customer:<id>`` (that customer's cases and refunds), ``cases`` and ``refunds``
(the lists agents see).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlmodel import Session

from support_app.live.bus import publish_after_commit
from support_app.live.channels import CHANGES


def changed(
    session: Session, *, case: int | None = None, refund: int | None = None, customer: int | None = None,
    internal: bool = False,
) -> None:
    """Publish, after this transaction commits, that these records changed."""
    message = {"c": [case] if case else [], "r": [refund] if refund else [], "u": [customer] if customer else [],
               "i": internal}
    publish_after_commit(session, CHANGES, json.dumps(message, separators=(",", ":")))


@dataclass(frozen=True)
class Change:
    cases: frozenset[int]
    refunds: frozenset[int]
    customers: frozenset[int]
    internal: bool

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
        return Change(ids["c"], ids["r"], ids["u"], bool(data.get("i", False)))
    except (ValueError, TypeError, AttributeError):
        return None
