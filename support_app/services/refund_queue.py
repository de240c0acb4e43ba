"""The agents' refund queue: every refund, oldest request first, with counts per status and
the refunds whose gateway answer did not match what was sent."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import bindparam
from sqlmodel import Session, func, select

from support_app.domain.case_rules import Role
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.money import format_money
from support_app.domain.refund_rules import STATUS_LABELS, RefundStatus
from support_app.live.shared_reads import SHARED
from support_app.models import RefundAttempt, RefundCase, SupportCase, User
from support_app.services.views import Caller, Option, RefundQueue, RefundQueueRow, iso

QUEUE_LIMIT = 200
# The refund queue: the columns a row shows (no whole refunds to build), oldest first.
_STATUS_COUNTS = select(RefundCase.status, func.count()).group_by(RefundCase.status)
_QUEUE_ROWS = (
    select(RefundCase.id, RefundCase.number, RefundCase.status, RefundCase.amount, RefundCase.currency,
           RefundCase.requested_at, User.full_name, SupportCase.number)
    .join(User, User.id == RefundCase.customer_id)
    .join(SupportCase, SupportCase.id == RefundCase.support_case_id)
)
_QUEUE = _QUEUE_ROWS.order_by(RefundCase.requested_at, RefundCase.id).limit(QUEUE_LIMIT)
_QUEUE_BY_STATUS = (_QUEUE_ROWS.where(RefundCase.status == bindparam("status"))
                    .order_by(RefundCase.requested_at, RefundCase.id).limit(QUEUE_LIMIT))
_ATTENTION = (  # processing refunds whose gateway answer did not match what was sent
    _QUEUE_ROWS.where(RefundCase.id.in_(select(RefundAttempt.refund_case_id).where(RefundAttempt.status == "mismatch")),  # type: ignore[union-attr]
                      RefundCase.status == RefundStatus.PROCESSING)
    .order_by(RefundCase.requested_at, RefundCase.id).limit(QUEUE_LIMIT)
)


def refund_queue(session: Session, caller: Caller, status: str = "") -> RefundQueue:
    """Agents' refund queue: oldest first (who waited longest), with counts per status. The
    same for every agent: read once per change for all of them (live.shared_reads)."""
    if caller.role != Role.AGENT:
        raise DomainError(ErrorCode.FORBIDDEN)
    status = status if status in set(RefundStatus) else ""
    shared = SHARED.get(session, ("refund queue", status), lambda: _refund_queue(session, status))
    return RefundQueue(rows=[replace(r) for r in shared.rows], counts=[replace(o) for o in shared.counts],
                       attention=[replace(r) for r in shared.attention])  # each tab its own


def _refund_queue(session: Session, status: str) -> RefundQueue:
    counts = dict(session.exec(_STATUS_COUNTS).all())
    rows = session.exec(_QUEUE_BY_STATUS if status else _QUEUE, params={"status": status})
    return RefundQueue(
        rows=[_queue_row(*row) for row in rows],
        counts=[Option(value=s.value, label=f"{STATUS_LABELS[s]} ({counts.get(s.value, 0)})") for s in RefundStatus],
        attention=[_queue_row(*row) for row in session.exec(_ATTENTION)],
    )


def _queue_row(rid: int, number: str | None, status: str, amount: int, currency: str, requested_at, name: str,
               case_number: str | None) -> RefundQueueRow:
    return RefundQueueRow(rid, number or "", status, STATUS_LABELS[RefundStatus(status)],
                          format_money(amount, currency), name, case_number or "", iso(requested_at))
