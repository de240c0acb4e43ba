"""Agents decide refunds: approve (money goes through the gateway), reject, settle.

Approve is one transaction: the conditional status change requested → processing
(expected status and version, affected-row check) and a new refund attempt carrying
its idempotency key. The gateway is called only after that commits, by a worker
(support_app.worker) that claims the attempt; the commit wakes the workers through
the bus. Of N concurrent approvals exactly one changes a row; the others get
REFUND_ALREADY_PROCESSED or CONCURRENT_UPDATE and send nothing.

Every decision that makes a refund count against the order's payment — approve, retry,
settle — takes the order's lock first (refund_commands.lock_order_of_refund, then the
refund's row: the same order everywhere) and checks that it fits in what is left of the
payment.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, func, select

from support_app.domain.case_rules import Role, Visibility
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.refund_amounts import check_refund_fits, payment_left
from support_app.domain.refund_decisions import REJECT_LABELS, check_rejection, check_settlement
from support_app.domain.refund_rules import RefundStatus, check_abandon, check_refund_transition, window_verdict
from support_app.models import CaseMessage, OrderSnapshot, RefundAttempt, RefundCase
from support_app.models.base import utcnow
from support_app.services.case_commands import case_event, touch_case
from support_app.live.bus import publish_after_commit
from support_app.live.channels import ATTEMPTS
from support_app.services.refund_commands import (
    change_refund_status, lock_order_of_refund, refund_event, settlement_label, settlement_messages,
)
from support_app.services.refund_execution import LIVE, MONEY_MAY_HAVE_MOVED
from support_app.services.refund_facts import existing_refunds
from support_app.services.refund_queries import load_refund_for, refund_key
from support_app.services.runner import writes
from support_app.services.views import Caller
from support_app.settings import get_settings

R = RefundStatus


@dataclass(frozen=True)
class AttemptRef:
    attempt_id: int
    idempotency_key: str


def _require_agent(caller: Caller) -> None:
    """Every decision here is an agent's; checked before any row is read or locked."""
    if caller.role != Role.AGENT:
        raise DomainError(ErrorCode.FORBIDDEN)


def _agent_refund(session: Session, caller: Caller, refund_id: object) -> RefundCase:
    """The refund, locked."""
    _require_agent(caller)
    return load_refund_for(session, caller, refund_id, lock=True)


def _money_decision(session: Session, caller: Caller, refund_id: object) -> tuple[RefundCase, OrderSnapshot]:
    """A decision about the order's money: the refund's order is locked (found through
    the refund in the same statement), then the refund locked and read. The order is
    returned too: held here, the session keeps it (its identity map holds unchanged rows
    only weakly), so no one reads it again."""
    _require_agent(caller)
    snap = lock_order_of_refund(session, refund_key(refund_id))
    refund = load_refund_for(session, caller, refund_id, lock=True)  # REFUND_NOT_FOUND when there was no order to lock
    assert snap is not None  # the refund's foreign key
    return refund, snap


def _payment_left(session: Session, refund: RefundCase, snap: OrderSnapshot) -> tuple[int, int]:
    """(what is left of the order's payment without this refund, what was paid)."""
    return payment_left(snap.amount_paid, existing_refunds(session, snap.id), excluding=refund.id), snap.amount_paid


def _new_attempt(session: Session, refund: RefundCase, number: int) -> AttemptRef:
    """The refund's ``number``-th gateway attempt, committed with the decision."""
    now = utcnow()
    attempt = RefundAttempt(
        refund_case_id=refund.id,
        # Random as well as readable: ids repeat across databases (a restored backup,
        # a re-created dev database, staging on the same gateway account), and a
        # repeated key would make the gateway replay someone else's refund.
        idempotency_key=f"refund-{refund.id}-attempt-{number}-{secrets.token_hex(8)}",
        status="pending",
        amount=refund.amount,
        currency=refund.currency,
        created_at=now,
        updated_at=now,
        next_try_at=now,
    )
    session.add(attempt)
    session.flush()  # the unique indexes speak here, inside the transaction
    publish_after_commit(session, ATTEMPTS, str(attempt.id))  # a worker claims it once it is committed
    return AttemptRef(attempt.id, attempt.idempotency_key)


@writes
def approve_refund(session: Session, caller: Caller, refund_id: object, expected_version: int | None = None) -> AttemptRef:
    refund, snap = _money_decision(session, caller, refund_id)
    check_refund_transition(refund.status, R.APPROVED, caller.role)
    # Judged at request time: an agent's backlog never costs the customer.
    verdict = window_verdict(snap.delivered_at, refund.requested_at, get_settings().refund_window_days)
    if not verdict.eligible:
        raise DomainError(verdict.code or ErrorCode.REFUND_WINDOW_EXPIRED, f"{verdict.text}. Record a settlement instead.")
    check_refund_fits(refund.amount, _payment_left(session, refund, snap)[0], refund.currency)
    now = utcnow()
    change_refund_status(session, refund, R.REQUESTED, R.PROCESSING, expected_version, now, decided_by=caller.id)
    refund_event(session, refund.id, caller.id, "status_changed", R.REQUESTED, R.APPROVED, verdict.text, now)
    refund_event(session, refund.id, caller.id, "status_changed", R.APPROVED, R.PROCESSING, "sent to the payment gateway", now)
    _touch_case(session, refund, caller.id, f"Approved refund {refund.number}", now)
    return _new_attempt(session, refund, 1)  # approved once, from requested (the only way in): its first attempt


@writes
def retry_refund(session: Session, caller: Caller, refund_id: object, expected_version: int | None = None) -> AttemptRef:
    """A definite failure (a decline) moved no money: a new attempt, with a new key."""
    refund, snap = _money_decision(session, caller, refund_id)
    check_refund_transition(refund.status, R.PROCESSING, caller.role, abandoned=refund.abandoned)
    check_refund_fits(refund.amount, _payment_left(session, refund, snap)[0], refund.currency)
    now = utcnow()
    change_refund_status(session, refund, R.FAILED, R.PROCESSING, expected_version, now, failure_reason=None)
    refund_event(session, refund.id, caller.id, "status_changed", R.FAILED, R.PROCESSING, "retried", now)
    made = session.exec(select(func.count()).where(RefundAttempt.refund_case_id == refund.id)).one()
    return _new_attempt(session, refund, made + 1)


@writes
def check_with_gateway(session: Session, caller: Caller, refund_id: object) -> int:
    """"Check with gateway now": this refund's open attempts are due at once and the
    workers are woken; one of them asks the gateway about the same key (and sends it
    only if the gateway never saw it). Returns how many attempts were made due."""
    refund = _agent_refund(session, caller, refund_id)
    due = session.execute(
        update(RefundAttempt)
        .where(RefundAttempt.refund_case_id == refund.id, RefundAttempt.status.in_(LIVE))  # type: ignore[attr-defined]
        .values(next_try_at=utcnow())
    ).rowcount
    if not due:
        raise DomainError(ErrorCode.REFUND_ALREADY_PROCESSED, "The payment gateway has already answered for this refund.")
    publish_after_commit(session, ATTEMPTS, f"refund:{refund.id}")
    return due


@writes
def reject_refund(
    session: Session, caller: Caller, refund_id: object, code: object, message: object, expected_version: int | None = None
) -> None:
    """Say no, with a reason code; the message goes to the customer's conversation."""
    refund = _agent_refund(session, caller, refund_id)
    reason, text = check_rejection(code, message)
    check_refund_transition(refund.status, R.REJECTED, caller.role)
    now = utcnow()
    change_refund_status(
        session, refund, R.REQUESTED, R.REJECTED, expected_version, now,
        decided_by=caller.id, decision_code=reason.value, decision_note=text,
    )
    refund_event(session, refund.id, caller.id, "status_changed", R.REQUESTED, R.REJECTED, REJECT_LABELS[reason], now)
    session.add(
        CaseMessage(
            case_id=refund.support_case_id,
            author_id=caller.id,
            visibility=Visibility.PUBLIC,
            body=f"Refund {refund.number} was not approved ({REJECT_LABELS[reason]}). {text}",
            created_at=now,
        )
    )
    _touch_case(session, refund, caller.id, f"Rejected refund {refund.number}: {REJECT_LABELS[reason]}", now, message=True)


@writes
def settle_refund(
    session: Session, caller: Caller, refund_id: object, kind: object, amount: object, message: object,
    internal_note: object = "", expected_version: int | None = None,
) -> None:
    """Record that the customer was made whole another way; nothing goes to the gateway.
    ``amount`` is more than 0 and at most what is left of the order's payment (for a
    replacement also at most the refund's value); ``message`` goes to the customer,
    ``internal_note`` to agents only (refund_decisions)."""
    refund, snap = _money_decision(session, caller, refund_id)
    left, paid = _payment_left(session, refund, snap)
    settlement = check_settlement(kind, amount, message, internal_note, items_value=refund.amount, left=left,
                                  amount_paid=paid, currency=refund.currency)
    src, dst = check_refund_transition(refund.status, R.SETTLED, caller.role, abandoned=refund.abandoned)
    if src is R.FAILED and session.exec(
        select(RefundAttempt.id).where(RefundAttempt.refund_case_id == refund.id, RefundAttempt.status.in_(MONEY_MAY_HAVE_MOVED))  # type: ignore[attr-defined]
    ).first():
        raise DomainError(ErrorCode.REFUND_ALREADY_PROCESSED, "A gateway refund may still be under way; check with the gateway first.")
    now = utcnow()
    change_refund_status(
        session, refund, src, dst, expected_version, now, decided_by=caller.id, decision_code=settlement.kind.value,
        decision_note=settlement.message, internal_note=settlement.internal_note or None, settled_amount=settlement.amount,
    )
    label = settlement_label(settlement, refund.currency)
    refund_event(session, refund.id, caller.id, "settled", src, dst, label, now)
    settlement_messages(session, refund.support_case_id, refund.number or "", caller.id, label, settlement, now)
    _touch_case(session, refund, caller.id, f"Recorded a settlement on refund {refund.number}: {label}", now, message=True)


@writes
def abandon_refund(session: Session, caller: Caller, refund_id: object, expected_version: int | None = None) -> None:
    """Give up on a failed refund: its items become refundable again."""
    refund = _agent_refund(session, caller, refund_id)
    check_abandon(refund.status, caller.role, abandoned=refund.abandoned)
    now = utcnow()
    change_refund_status(session, refund, R.FAILED, R.FAILED, expected_version, now, abandoned=True)
    refund_event(session, refund.id, caller.id, "abandoned", None, None, "Abandoned; items released", now)


def _touch_case(session: Session, refund: RefundCase, actor_id: int | None, text: str, now, *, message: bool = False) -> None:
    case_event(session, refund.support_case_id, actor_id, "refund_update", detail=text, at=now)
    touch_case(session, refund.support_case_id, now, message=message)
