"""Applying a (verified) gateway webhook: each event id at most once."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from support_app.integrations.gateway_client import GatewayResult
from support_app.models import RefundAttempt, WebhookEvent
from support_app.services.refund_execution import record_outcome
from support_app.services.runner import writes

OUTCOMES = {"refund.succeeded": "succeeded", "refund.failed": "failed"}


@writes
def apply_gateway_event(session: Session, event: object) -> str:
    """Returns "applied", "duplicate", "ignored" (nothing to do) or "unknown_refund"."""
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("data"), dict):
        return "ignored"
    event_id, kind, data = event["id"][:80], str(event.get("type", ""))[:64], event["data"]
    key = data.get("idempotency_key") if isinstance(data.get("idempotency_key"), str) else None
    if session.get(WebhookEvent, event_id) is not None:
        return "duplicate"
    try:
        with session.begin_nested():  # a concurrent delivery of the same event loses here
            session.add(WebhookEvent(event_id=event_id, type=kind, idempotency_key=key))
    except IntegrityError:
        return "duplicate"
    outcome = OUTCOMES.get(kind)
    if outcome is None or key is None:
        return "ignored"
    attempt_id = session.exec(select(RefundAttempt.id).where(RefundAttempt.idempotency_key == key)).first()
    if attempt_id is None:
        return "unknown_refund"
    result = GatewayResult(
        outcome=outcome,
        reference=data.get("id") if isinstance(data.get("id"), str) else None,
        failure_reason=data.get("failure_reason"),
        failure_message=data.get("failure_message"),
        http_status=None,
    )
    return "applied" if record_outcome(session, attempt_id, result) else "duplicate"
