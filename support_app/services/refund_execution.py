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
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session

from support_app.domain.refund_rules import RefundStatus
from support_app.integrations.gateway_client import GatewayResult
from support_app.models import OrderSnapshot, RefundAttempt, RefundCase
from support_app.models.base import utcnow
from support_app.live.changes import changed as live_changed
from support_app.services.case_commands import case_event, touch_case
from support_app.services.refund_commands import refund_changed, refund_event
from support_app.services.runner import writes

LIVE = ("pending", "unknown")


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
def record_outcome(session: Session, attempt_id: int, result: GatewayResult) -> bool:
    """Apply a gateway answer to a live attempt and its refund; False if already applied."""
    if result.outcome not in ("succeeded", "failed", "unknown"):
        return False  # pending: a webhook or a later lookup by a worker brings the answer
    now = utcnow()
    changed = session.execute(
        update(RefundAttempt)
        .where(RefundAttempt.id == attempt_id, RefundAttempt.status.in_(LIVE))  # type: ignore[attr-defined]
        .values(
            status=result.outcome,
            gateway_reference=result.reference,
            error_code=result.failure_reason,
            error_message=(result.failure_message or "")[:300] or None,
            updated_at=now,
        )
    ).rowcount
    if changed != 1:
        return False
    attempt = session.get(RefundAttempt, attempt_id)
    refund = session.get(RefundCase, attempt.refund_case_id) if attempt else None
    assert attempt is not None and refund is not None
    if result.outcome == "unknown":  # only the agent's view of the attempts changed
        live_changed(session, refund=refund.id, case=refund.support_case_id, internal=True)
        return True
    if result.outcome == "succeeded":
        target, values, text = RefundStatus.REFUNDED, {"gateway_reference": result.reference}, f"gateway reference {result.reference}"
    else:
        reason = result.failure_message or result.failure_reason or "declined"
        target, values, text = RefundStatus.FAILED, {"failure_reason": reason[:300]}, reason
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
    return True
