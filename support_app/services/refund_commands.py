"""Asking for a refund, withdrawing the request, and an agent recording a settlement.

A request (or a settlement) is priced and checked by the pure domain
(refund_amounts.build_refund, refund_decisions.check_settlement) inside one write
transaction that serialises all refunds of the order: SQLite's BEGIN IMMEDIATE
(session_scope(write=True)), and on PostgreSQL a row lock on the order snapshot
(``lock_order``; approvals, retries and settlements of existing refunds take it too).
Two concurrent decisions that together exceed what is refundable, or what is left of
the order's payment, therefore see each other: exactly one succeeds.

A request judges the 14-day window against the order's delivery facts as the order
system states them now (services/order_refresh, asked before the transaction begins).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, select

from support_app import logs
from support_app.domain.case_rules import CaseStatus, Role, Visibility
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.money import format_money
from support_app.domain.refund_amounts import build_refund, payment_left
from support_app.domain.refund_decisions import SETTLEMENT_LABELS, Settlement, check_settlement
from support_app.domain.refund_rules import RefundStatus, check_refund_transition
from support_app.integrations.order_client import OrderClient
from support_app.live.changes import changed
from support_app.models import CaseMessage, OrderSnapshot, RefundCase, RefundEvent, RefundItem
from support_app.models.base import utcnow
from support_app.services.case_commands import case_event, touch_case
from support_app.services.case_queries import load_case_for
from support_app.services.order_refresh import refresh_order_facts
from support_app.services.orders import snapshot_lines
from support_app.services.refund_facts import existing_refunds, order_facts
from support_app.services.refund_queries import load_refund_for
from support_app.services.runner import writes
from support_app.services.views import Caller
from support_app.settings import get_settings

log = logging.getLogger(__name__)
NOTE_MAX = 1000
MAX_LINES = 200


def refund_number(refund_id: int) -> str:
    return f"RF-{refund_id:06d}"


@writes
def record_settlement(
    session: Session,
    caller: Caller,
    case_id: object,
    selection: object,
    reason: object,
    kind: object,
    amount: object,
    message: object,
    request_key: object = "",
    internal_note: object = "",
) -> int:
    """An agent settles chosen items without the gateway (store credit, replacement,
    manual transfer, goodwill) — the path for undelivered or out-of-window items,
    with the reason on record. The items are held like a refund's, so nothing can be
    refunded twice; ``amount`` (minor units) is what the customer actually got: more
    than 0, at most what is left of the order's payment (for a replacement also at most
    the items' value), checked under the order's lock. The record is the agent's: the
    history says the agent recorded it, ``message`` goes to the customer (refund page
    and case conversation, as from support), ``internal_note`` only to agents."""
    if caller.role != Role.AGENT:
        raise DomainError(ErrorCode.FORBIDDEN)
    case = load_case_for(session, caller, case_id)
    key = _key(request_key)
    snap = lock_order(session, case.order_snapshot_id)
    if (same := _same_submission(session, case, key)) is not None:
        return same
    snap, lines, draft, now, existing = _draft(session, case, selection, reason, snap=snap, for_settlement=True)
    settlement = check_settlement(kind, amount, message, internal_note, items_value=draft.total,
                                  left=payment_left(snap.amount_paid, existing), amount_paid=snap.amount_paid,
                                  currency=draft.currency)
    refund = _store(session, case, snap, lines, draft, case.customer_id, key, now,
                    status=RefundStatus.SETTLED, decided_by=caller.id, decision_code=settlement.kind.value,
                    decision_note=settlement.message, internal_note=settlement.internal_note or None,
                    settled_amount=settlement.amount)
    label = settlement_label(settlement, refund.currency)
    refund_event(session, refund.id, caller.id, "settled", None, RefundStatus.SETTLED, label, now)
    settlement_messages(session, case.id, refund.number or "", caller.id, label, settlement, now)
    case_event(session, case.id, caller.id, "refund_update", detail=f"Recorded a settlement, {refund.number}: {label}", at=now)
    touch_case(session, case.id, now, message=True)
    return refund.id


def settlement_label(settlement: Settlement, currency: str) -> str:
    """"Store credit of €20.00": what the history and the pages say was given."""
    return f"{SETTLEMENT_LABELS[settlement.kind]} of {format_money(settlement.amount, currency)}"


def settlement_messages(session: Session, case_id: int, number: str, agent_id: int, label: str,
                        settlement: Settlement, now: datetime) -> None:
    """The settlement in the case conversation: its message as a reply from support the
    customer reads, its internal note (if any) as an internal note only agents see."""
    session.add(CaseMessage(case_id=case_id, author_id=agent_id, visibility=Visibility.PUBLIC,
                            body=f"Settlement of refund {number}: {label}.\n\n{settlement.message}", created_at=now))
    if settlement.internal_note:
        session.add(CaseMessage(case_id=case_id, author_id=agent_id, visibility=Visibility.INTERNAL,
                                body=f"Internal note on the settlement of refund {number}: {settlement.internal_note}",
                                created_at=now))


def _key(request_key: object) -> str:
    if not isinstance(request_key, str) or not 8 <= len(request_key) <= 64:
        raise DomainError(ErrorCode.VALIDATION_FAILED, "This form has expired. Please reload the page.")
    return request_key


@writes
def request_refund(
    session: Session,
    caller: Caller,
    case_id: object,
    selection: object,
    reason: object,
    note: object = "",
    request_key: object = "",
    client: OrderClient | None = None,
) -> int:
    """Open a refund case for chosen quantities of the case's order; returns its id.

    ``request_key`` identifies one submission of the form: sending it again (a
    double click, a retried event) returns the refund it already created. The order's
    delivery facts are refreshed from the order system first (``client``, or the
    app's); if it cannot be asked and the snapshot says not delivered, the customer is
    told to try again (ORDER_SYSTEM_UNAVAILABLE) rather than that it was not delivered.
    """
    if caller.role != Role.CUSTOMER:
        raise DomainError(ErrorCode.FORBIDDEN)
    request_key = _key(request_key)
    text = note.strip() if isinstance(note, str) else ""
    if len(text) > NOTE_MAX:
        raise DomainError(ErrorCode.VALIDATION_FAILED, fields={"note": f"Note must be at most {NOTE_MAX} characters."})
    if not isinstance(selection, dict) or len(selection) > MAX_LINES:
        raise DomainError(ErrorCode.EMPTY_REFUND)
    fresh = refresh_order_facts(session, caller, case_id, client)  # HTTP first: no transaction is open yet
    case = load_case_for(session, caller, case_id)
    if case.status == CaseStatus.CLOSED:
        raise DomainError(ErrorCode.CASE_CLOSED)
    snap = lock_order(session, case.order_snapshot_id)
    if (same := _same_submission(session, case, request_key)) is not None:
        return same
    try:
        snap, lines, draft, now, _ = _draft(session, case, selection, reason, snap=snap)
    except DomainError as err:
        if err.code is ErrorCode.ORDER_NOT_DELIVERED and not fresh:
            raise DomainError(ErrorCode.ORDER_SYSTEM_UNAVAILABLE) from err
        raise
    refund = _store(session, case, snap, lines, draft, caller.id, request_key, now, note=text or None)
    summary = f"{refund.number} · {format_money(draft.total, draft.currency)}"
    refund_event(session, refund.id, caller.id, "requested", None, RefundStatus.REQUESTED, summary, now)
    case_event(session, case.id, caller.id, "refund_requested", detail=f"Requested refund {summary}", at=now)
    touch_case(session, case.id, now)
    return refund.id


def _same_submission(session: Session, case, request_key: str) -> int | None:
    """The refund a form submission already made (a double click), looked up under the
    order lock so a concurrent duplicate sees the first; a key from another case's
    form is refused rather than answered with that case's refund."""
    same = session.exec(
        select(RefundCase.id, RefundCase.support_case_id)
        .where(RefundCase.customer_id == case.customer_id, RefundCase.request_key == request_key)
    ).first()
    if same is not None and same[1] != case.id:
        raise DomainError(ErrorCode.VALIDATION_FAILED, "This form has expired. Please reload the page.")
    return same[0] if same is not None else None


def lock_order(session: Session, snapshot_id: int) -> OrderSnapshot:
    """The order's snapshot, locked: every decision about this order's money queues here
    (PostgreSQL: SELECT ... FOR UPDATE; SQLite: BEGIN IMMEDIATE already did), and it is
    read afresh, whatever this session loaded before."""
    return session.exec(_locked_order(OrderSnapshot.id == snapshot_id)).one()


def lock_order_of_refund(session: Session, refund_id: int) -> OrderSnapshot | None:
    """``lock_order`` for the order of a refund, found in the same statement (only the
    order's row is locked: FOR UPDATE locks the rows of the outer query); None when no
    such refund exists."""
    of_refund = select(RefundCase.order_snapshot_id).where(RefundCase.id == refund_id).scalar_subquery()
    return session.exec(_locked_order(OrderSnapshot.id == of_refund)).first()


def _locked_order(where):
    return select(OrderSnapshot).where(where).with_for_update().execution_options(populate_existing=True)


def _draft(session: Session, case, selection: object, reason: object, *, snap: OrderSnapshot,
           for_settlement: bool = False):
    """Price the selection against every refund already on the order, under the order lock."""
    lines = snapshot_lines(session, snap.id)
    now = utcnow()
    existing = existing_refunds(session, snap.id)
    draft = build_refund(order_facts(snap, lines), existing, selection, reason, now,
                         get_settings().refund_window_days, for_settlement=for_settlement)
    return snap, lines, draft, now, existing


def _store(session: Session, case, snap: OrderSnapshot, lines, draft, customer_id: int, request_key: str, now,
           status: str = RefundStatus.REQUESTED, **values: object) -> RefundCase:
    refund = RefundCase(
        support_case_id=case.id, order_snapshot_id=snap.id, customer_id=customer_id, status=status,
        reason=draft.reason, amount=draft.total, shipping_amount=draft.shipping_amount, currency=draft.currency,
        request_key=request_key, requested_at=now, created_at=now, updated_at=now, **values,
    )
    session.add(refund)
    session.flush()
    refund.number = refund_number(refund.id)
    refund_changed(session, refund)
    by_line = {ln.line_id: ln for ln in lines}
    for item in draft.items:
        session.add(RefundItem(refund_case_id=refund.id, order_line_id=by_line[item.line_id].id, quantity=item.quantity,
                               unit_amounts=",".join(str(a) for a in item.unit_amounts), amount=item.amount))
    return refund


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
    version the caller saw; otherwise someone else got there first. SQLAlchemy applies
    the same SET to the loaded ``refund``, so the rest of the unit of work sees the new
    row without reading it again."""
    expected = refund.version if expected_version is None else expected_version
    result = session.execute(
        update(RefundCase)
        .where(RefundCase.id == refund.id, RefundCase.status == src, RefundCase.version == expected)
        .values(status=dst, version=RefundCase.version + 1, updated_at=now, **values)
    )
    if result.rowcount != 1:
        raise DomainError(ErrorCode.CONCURRENT_UPDATE, "Someone else changed this refund just now. It has been reloaded.")
    refund_changed(session, refund)
    logs.security_after_commit(session, log, "refund_decision", "refund %s moved from %s to %s", refund.id, src, dst)


def refund_changed(session: Session, refund: RefundCase) -> None:
    """Pages showing this refund, its case or its customer's lists reload after commit."""
    changed(session, refund=refund.id, case=refund.support_case_id, customer=refund.customer_id)


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
