"""Moving the money: send an attempt to the gateway, record what happened, reconcile.

The order of things is what makes a refund happen exactly once:
1. approve committed the attempt row with its idempotency key (refund_review);
2. ``execute_attempt`` reads it, calls the gateway with that key — no transaction
   open, no lock held — and records the outcome in a new transaction;
3. a timeout or 5xx leaves the attempt ``unknown``: the same key is asked about
   (``reconcile``), and re-sent only if the gateway never committed it. A new key is
   only ever made by an agent's retry after a definite failure (refund_review).
Recording is conditional (only a pending/unknown attempt changes), so the executor,
the reconciler and webhook deliveries can race and replay without double effects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from support_app.db import session_scope
from support_app.domain.refund_rules import RefundStatus
from support_app.integrations.gateway_client import GatewayClient, GatewayResult, GatewayUnavailable, get_gateway_client
from support_app.models import OrderSnapshot, RefundAttempt, RefundCase
from support_app.models.base import utcnow
from support_app.services.case_commands import case_event, touch_case
from support_app.services.refund_commands import refund_event
from support_app.services.runner import writes
from support_app.settings import get_settings

log = logging.getLogger(__name__)
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
def prepare_send(session: Session, attempt_id: int) -> SendOrder | None:
    """What to send for a live attempt (None once it has an outcome); counts the send."""
    counted = session.execute(  # atomic: concurrent executors never lose a count
        update(RefundAttempt)
        .where(RefundAttempt.id == attempt_id, RefundAttempt.status.in_(LIVE))  # type: ignore[attr-defined]
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
        return False  # pending: a webhook or the reconciler will bring the answer
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
    if changed != 1 or result.outcome == "unknown":
        return changed == 1
    attempt = session.get(RefundAttempt, attempt_id)
    refund = session.get(RefundCase, attempt.refund_case_id) if attempt else None
    assert attempt is not None and refund is not None
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
    return True


def execute_attempt(attempt_id: int, client: GatewayClient | None = None, engine: Engine | None = None) -> str:
    """Send one attempt (same key every time) and record the outcome; returns it."""
    with session_scope(engine, write=True) as session:
        order = prepare_send(session, attempt_id)
    if order is None:
        return "done"
    result = (client or get_gateway_client()).create_refund(
        order.payment_reference, order.amount, order.currency, order.key,
        {"refund_case_id": order.refund_id, "refund_number": order.refund_number},
    )
    with session_scope(engine, write=True) as session:
        record_outcome(session, attempt_id, result)
    return result.outcome


def stale_attempts(session: Session, older_than_seconds: float, refund_id: int | None = None) -> list[int]:
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    stmt = select(RefundAttempt.id).where(RefundAttempt.status.in_(LIVE), RefundAttempt.updated_at <= cutoff)  # type: ignore[attr-defined]
    if refund_id is not None:
        stmt = stmt.where(RefundAttempt.refund_case_id == refund_id)
    return list(session.exec(stmt.order_by(RefundAttempt.id)))


def reconcile(
    client: GatewayClient | None = None, engine: Engine | None = None, older_than_seconds: float | None = None,
    refund_id: int | None = None,
) -> dict[str, int]:
    """Settle pending/unknown attempts by asking the gateway about their own key.

    Found → record its outcome. Not found → the gateway never committed it, so it is
    sent again with the SAME key (safe: the gateway deduplicates by key). Gateway
    unreachable → left for the next round.
    """
    gateway = client or get_gateway_client()
    age = get_settings().reconcile_after_seconds if older_than_seconds is None else older_than_seconds
    with session_scope(engine) as session:
        ids = stale_attempts(session, age, refund_id)
    tally = {"checked": len(ids), "recorded": 0, "resent": 0, "unreachable": 0}
    for attempt_id in ids:
        with session_scope(engine) as session:
            attempt = session.get(RefundAttempt, attempt_id)
            key = attempt.idempotency_key if attempt else None
        if key is None:
            continue
        try:
            found = gateway.find_refund(key)
        except GatewayUnavailable:
            tally["unreachable"] += 1
            continue
        if found is None:
            execute_attempt(attempt_id, gateway, engine)
            tally["resent"] += 1
        else:
            with session_scope(engine, write=True) as session:
                if record_outcome(session, attempt_id, found):
                    tally["recorded"] += 1
    if ids:
        log.info("reconciled refund attempts: %s", tally)
    return tally
