"""Moving the money: what to send for an attempt, and recording what happened.

The order of things is what makes a refund happen exactly once:
1. approve committed the attempt row with its idempotency key (refund_review);
2. a worker that holds the claim on the attempt (support_app.worker) counts the send
   (``prepare_send``), calls the gateway with that key — no transaction open, no
   lock held — and records the outcome in a new transaction (``record_outcome``);
3. a timeout or 5xx leaves the attempt ``unknown``: a later claimant asks the
   gateway about the same key, and re-sends only if the gateway never committed it.
   A new key is only ever made by an agent's retry after a definite failure.
Recording is conditional (only a pending/unknown attempt changes), so a stale
claimant, a new claimant and webhook deliveries can race and replay without double
effects.

Every answer is compared with the attempt (domain/gateway_answers): one that says
money moved in another amount or currency, or does not say how much, makes the
attempt ``mismatch`` with what the gateway reported. The refund is then never marked
refunded (it stays processing), the attempt is neither live nor retried, and the
refund is put in front of the agents (refund page alert, refund queue).

What the gateway says is bounded before it is stored: machine codes to 64 characters,
its messages to 2,000 (cut with "…"); references are stored whole (TEXT).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session

from support_app.domain.gateway_answers import answer_mismatch
from support_app.domain.refund_rules import RefundStatus
from support_app.integrations.gateway_client import GatewayResult
from support_app.models import OrderSnapshot, RefundAttempt, RefundCase
from support_app.models.base import utcnow
from support_app.live.changes import changed as live_changed
from support_app.services.case_commands import case_event, touch_case
from support_app.services.refund_commands import refund_changed, refund_event
from support_app.services.runner import writes

LIVE = ("pending", "unknown")
# Attempts after which money may have moved: at most one per refund (the partial unique
# index), and a failed refund with one cannot be settled another way.
MONEY_MAY_HAVE_MOVED = ("pending", "unknown", "succeeded", "mismatch")
CODE_MAX, TEXT_MAX = 64, 2000


def clip(text: str | None, limit: int) -> str | None:
    """``text`` bounded to ``limit`` characters (the last one "…" when cut); None stays None."""
    if not text:
        return None
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True)
class SendOrder:
    key: str
    payment_reference: str
    amount: int
    currency: str
    refund_id: int
    refund_number: str


@writes
def prepare_send(session: Session, attempt_id: int, owner: str) -> SendOrder | None:
    """What to send for a live attempt claimed by ``owner``; counts the send.

    None once the attempt has an outcome or another worker took the claim over (a
    stale claimant must not send beside the new one)."""
    counted = session.execute(  # atomic and conditional: re-checked against the latest row
        update(RefundAttempt)
        .where(RefundAttempt.id == attempt_id, RefundAttempt.status.in_(LIVE),  # type: ignore[attr-defined]
               RefundAttempt.claimed_by == owner)
        .values(sends=RefundAttempt.sends + 1)
    ).rowcount
    if counted != 1:
        return None
    attempt = session.get(RefundAttempt, attempt_id)
    refund = session.get(RefundCase, attempt.refund_case_id) if attempt else None
    snap = session.get(OrderSnapshot, refund.order_snapshot_id) if refund else None
    assert attempt is not None and refund is not None and snap is not None
    return SendOrder(attempt.idempotency_key, snap.payment_reference, attempt.amount, attempt.currency, refund.id, refund.number or "")


@writes
def record_outcome(session: Session, attempt_id: int, result: GatewayResult) -> str | None:
    """Apply a gateway answer to a live attempt and its refund. Returns the attempt's new
    status (succeeded, failed, unknown, mismatch), or None when nothing changed (already
    applied, or pending: a webhook or a later lookup by a worker brings the answer)."""
    if result.outcome not in ("succeeded", "failed", "unknown", "pending"):
        return None
    attempt = session.get(RefundAttempt, attempt_id)
    if attempt is None:
        return None
    problem = answer_mismatch(result.outcome, attempt.amount, attempt.currency, result.amount, result.currency)
    if problem is not None:
        return _record_mismatch(session, attempt, result, problem)
    if result.outcome == "pending":
        return None
    now = utcnow()
    failure = clip(result.failure_message or result.failure_reason or "declined", TEXT_MAX)
    changed = session.execute(
        update(RefundAttempt)
        .where(RefundAttempt.id == attempt_id, RefundAttempt.status.in_(LIVE))  # type: ignore[attr-defined]
        .values(
            status=result.outcome,
            gateway_reference=result.reference,
            error_code=clip(result.failure_reason, CODE_MAX),
            error_message=clip(result.failure_message, TEXT_MAX),
            updated_at=now,
        )
    ).rowcount
    if changed != 1:
        return None
    refund = session.get(RefundCase, attempt.refund_case_id)
    assert refund is not None
    if result.outcome == "unknown":  # only the agent's view of the attempts changed
        live_changed(session, refund=refund.id, case=refund.support_case_id, internal=True)
        return result.outcome
    if result.outcome == "succeeded":
        target, values, text = RefundStatus.REFUNDED, {"gateway_reference": result.reference}, f"gateway reference {result.reference}"
    else:
        target, values, text = RefundStatus.FAILED, {"failure_reason": failure}, failure
    moved = session.execute(
        update(RefundCase)
        .where(RefundCase.id == refund.id, RefundCase.status == RefundStatus.PROCESSING)
        .values(status=target, version=RefundCase.version + 1, updated_at=now, **values)
    ).rowcount
    if moved == 1:
        refund_event(session, refund.id, None, "status_changed", RefundStatus.PROCESSING, target, text, now)
        case_event(session, refund.support_case_id, None, "refund_update", detail=f"Refund {refund.number} {target.value}: {text}", at=now)
        touch_case(session, refund.support_case_id, now)
        refund_changed(session, refund)
    return result.outcome


def _record_mismatch(session: Session, attempt: RefundAttempt, result: GatewayResult, problem: str) -> str | None:
    """The answer disagrees with the attempt: record what the gateway said, leave the
    refund processing (never refunded), and tell the agents — in the case's internal
    history and on their pages; the customer's pages do not change."""
    now = utcnow()
    changed = session.execute(
        update(RefundAttempt)
        .where(RefundAttempt.id == attempt.id, RefundAttempt.status.in_(LIVE))  # type: ignore[attr-defined]
        .values(
            status="mismatch",
            gateway_reference=result.reference,
            error_code=f"answer_{result.outcome}",
            error_message=clip(problem, TEXT_MAX),
            reported_amount=result.amount,
            reported_currency=result.currency,
            updated_at=now,
        )
    ).rowcount
    if changed != 1:
        return None
    refund = session.get(RefundCase, attempt.refund_case_id)
    assert refund is not None
    case_event(session, refund.support_case_id, None, "refund_update", internal=True, at=now,
               detail=f"Refund {refund.number} needs an agent: {problem} It was not marked refunded.")
    live_changed(session, refund=refund.id, case=refund.support_case_id, internal=True)
    return "mismatch"
