"""Asking for a refund, and withdrawing the request.

A request is priced and checked by the pure domain (refund_amounts.build_refund)
inside one write transaction that serialises all refunds of the order: SQLite's
BEGIN IMMEDIATE (session_scope(write=True)), and on PostgreSQL a row lock on the
order snapshot. Two concurrent requests that together exceed what is refundable
therefore see each other: exactly one succeeds.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, select

from support_app.domain.case_rules import CaseStatus, Role
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.money import format_money
from support_app.domain.refund_amounts import build_refund
from support_app.domain.refund_rules import RefundStatus, check_refund_transition
from support_app.models import OrderSnapshot, RefundCase, RefundEvent, RefundItem
from support_app.models.base import utcnow
from support_app.services.case_commands import case_event, touch_case
from support_app.services.case_queries import load_case_for
from support_app.services.orders import snapshot_lines
from support_app.services.refund_facts import existing_refunds, order_facts
from support_app.services.refund_queries import load_refund_for
from support_app.services.runner import writes
from support_app.services.views import Caller
from support_app.settings import get_settings

NOTE_MAX = 1000
MAX_LINES = 200


def refund_number(refund_id: int) -> str:
    return f"RF-{refund_id:06d}"


@writes
def request_refund(
    session: Session,
    caller: Caller,
    case_id: object,
    selection: object,
    reason: object,
    note: object = "",
    request_key: object = "",
) -> int:
    """Open a refund case for chosen quantities of the case's order; returns its id.

    ``request_key`` identifies one submission of the form: sending it again (a
    double click, a retried event) returns the refund it already created.
    """
    if caller.role != Role.CUSTOMER:
        raise DomainError(ErrorCode.FORBIDDEN)
    if not isinstance(request_key, str) or not 8 <= len(request_key) <= 64:
        raise DomainError(ErrorCode.VALIDATION_FAILED, "This form has expired. Please reload the page.")
    text = note.strip() if isinstance(note, str) else ""
    if len(text) > NOTE_MAX:
        raise DomainError(ErrorCode.VALIDATION_FAILED, fields={"note": f"Note must be at most {NOTE_MAX} characters."})
    if not isinstance(selection, dict) or len(selection) > MAX_LINES:
        raise DomainError(ErrorCode.EMPTY_REFUND)
    case = load_case_for(session, caller, case_id)
    if case.status == CaseStatus.CLOSED:
        raise DomainError(ErrorCode.CASE_CLOSED)
    snap = session.exec(
        select(OrderSnapshot).where(OrderSnapshot.id == case.order_snapshot_id).with_for_update()
    ).one()  # PostgreSQL: every refund of this order queues here; SQLite: BEGIN IMMEDIATE did
    same = session.exec(  # looked up under the lock, so a concurrent double submit sees the first
        select(RefundCase.id, RefundCase.support_case_id)
        .where(RefundCase.customer_id == caller.id, RefundCase.request_key == request_key)
    ).first()
    if same is not None:
        if same[1] != case.id:  # a key from another case's form: never hand back its refund
            raise DomainError(ErrorCode.VALIDATION_FAILED, "This form has expired. Please reload the page.")
        return same[0]
    lines = snapshot_lines(session, snap.id)
    now = utcnow()
    draft = build_refund(
        order_facts(snap, lines),
        existing_refunds(session, snap.id),
        selection,
        reason,
        now,
        get_settings().refund_window_days,
    )
    refund = RefundCase(
        support_case_id=case.id,
        order_snapshot_id=snap.id,
        customer_id=caller.id,
        status=RefundStatus.REQUESTED,
        reason=draft.reason,
        note=text or None,
        amount=draft.total,
        shipping_amount=draft.shipping_amount,
        currency=draft.currency,
        request_key=request_key,
        requested_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(refund)
    session.flush()
    refund.number = refund_number(refund.id)
    by_line = {ln.line_id: ln for ln in lines}
    for item in draft.items:
        session.add(
            RefundItem(
                refund_case_id=refund.id,
                order_line_id=by_line[item.line_id].id,
                quantity=item.quantity,
                unit_amounts=",".join(str(a) for a in item.unit_amounts),
                amount=item.amount,
            )
        )
    summary = f"{refund.number} · {format_money(draft.total, draft.currency)}"
    refund_event(session, refund.id, caller.id, "requested", None, RefundStatus.REQUESTED, summary, now)
    case_event(session, case.id, caller.id, "refund_requested", detail=f"Requested refund {summary}", at=now)
    touch_case(session, case.id, now)
    return refund.id


@writes
def cancel_refund(session: Session, caller: Caller, refund_id: object, expected_version: int | None = None) -> None:
    """The customer withdraws a request nobody has decided yet; its quantity is released."""
    refund = load_refund_for(session, caller, refund_id, lock=True)
    src, dst = check_refund_transition(refund.status, RefundStatus.CANCELLED, caller.role)
    now = utcnow()
    change_refund_status(session, refund, src, dst, expected_version, now)
    refund_event(session, refund.id, caller.id, "status_changed", src, dst, None, now)
    case_event(session, refund.support_case_id, caller.id, "refund_cancelled", detail=f"Cancelled refund {refund.number}", at=now)
    touch_case(session, refund.support_case_id, now)


def change_refund_status(
    session: Session, refund: RefundCase, src: str, dst: str, expected_version: int | None, now: datetime, **values: object
) -> None:
    """Conditional update: applies only if the refund is still in ``src`` at the
    version the caller saw; otherwise someone else got there first."""
    expected = refund.version if expected_version is None else expected_version
    result = session.execute(
        update(RefundCase)
        .where(RefundCase.id == refund.id, RefundCase.status == src, RefundCase.version == expected)
        .values(status=dst, version=RefundCase.version + 1, updated_at=now, **values)
    )
    if result.rowcount != 1:
        raise DomainError(ErrorCode.CONCURRENT_UPDATE, "Someone else changed this refund just now. It has been reloaded.")
    session.expire(refund)


def refund_event(
    session: Session,
    refund_id: int,
    actor_id: int | None,
    kind: str,
    from_status: str | None,
    to_status: str | None,
    detail: str | None,
    at: datetime,
) -> None:
    session.add(
        RefundEvent(
            refund_case_id=refund_id,
            actor_id=actor_id,
            kind=kind,
            from_status=from_status,
            to_status=to_status,
            detail=detail,
            created_at=at,
        )
    )
