"""When a support case is due: the agents' queue is sorted by it.

A case waits on the agents when it is open or in progress and the customer wrote
last (opening the case counts as writing). It is then due a response within a
target that depends on its priority, counted from when the customer last wrote.
A case that waits on the customer, is resolved or closed, or that an agent has
already answered since the customer last wrote, is not due. The queue shows the due
cases first, soonest due first, then the others, oldest first; ties by age, then id
(services/workspace_queries.py sorts in the database, on the due time each case
stores: services/case_due_store.py).

Boundaries: a case is due *at* ``anchor + target``; it is overdue only once that
instant has passed (``now > due_at``). An agent reply at the same instant as the
customer's message counts as an answer (``agent_last >= customer_last``).

Pure: no I/O, imports nothing of ours but the domain.
"""

from __future__ import annotations

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
