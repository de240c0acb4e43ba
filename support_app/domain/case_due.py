"""When a support case is due: the agents' queue is sorted by it.

A case waits on the agents when it is open or in progress and the customer wrote
last (opening the case counts as writing). It is then due a response within a
target that depends on its priority, counted from when the customer last wrote.
A case that waits on the customer, is resolved or closed, or that an agent has
already answered since the customer last wrote, is not due: it sorts after every
due case, oldest first.

Boundaries: a case is due *at* ``anchor + target``; it is overdue only once that
instant has passed (``now > due_at``). An agent reply at the same instant as the
customer's message counts as an answer (``agent_last >= customer_last``).

Pure: no I/O, imports nothing of ours but the domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from support_app.domain.case_rules import CaseStatus, Priority

RESPONSE_TARGETS: dict[Priority, timedelta] = {
    Priority.URGENT: timedelta(hours=1),
    Priority.HIGH: timedelta(hours=4),
    Priority.NORMAL: timedelta(hours=24),
    Priority.LOW: timedelta(hours=72),
}
WAITING_ON_AGENT = frozenset({CaseStatus.OPEN, CaseStatus.IN_PROGRESS})


def due_at(status: str, priority: str, created_at: datetime, customer_last: datetime | None,
           agent_last: datetime | None) -> datetime | None:
    """When the agents owe this case a response, or None when they owe nothing now.
    An unknown priority counts as normal."""
    if status not in WAITING_ON_AGENT:
        return None
    anchor = max(created_at, customer_last) if customer_last else created_at
    if agent_last is not None and agent_last >= anchor:
        return None
    try:
        target = RESPONSE_TARGETS[Priority(priority)]
    except ValueError:
        target = RESPONSE_TARGETS[Priority.NORMAL]
    return anchor + target


def is_overdue(due: datetime | None, now: datetime) -> bool:
    return due is not None and now > due


@dataclass(frozen=True)
class QueueKey:
    """Sort key of the queue: due cases first, soonest due first; then the rest, oldest
    first; the id breaks ties so the order is stable."""

    not_due: bool
    due: datetime | None
    created_at: datetime
    id: int

    def __lt__(self, other: QueueKey) -> bool:
        return self._tuple() < other._tuple()

    def _tuple(self) -> tuple:
        return (self.not_due, self.due or self.created_at, self.created_at, self.id)


def queue_key(due: datetime | None, created_at: datetime, case_id: int) -> QueueKey:
    return QueueKey(due is None, due, created_at, case_id)
