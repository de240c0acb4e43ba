"""Applying a (verified) gateway webhook: each event id at most once.

The event's refund object goes through the same recording as a worker's answer
(refund_execution.record_outcome), so its amount and currency are compared with the
attempt's. What the gateway sends is bounded before it is stored: an event id longer
than the column (80) cannot be deduplicated and an idempotency key longer than ours
(64) cannot be ours, so such events are ignored (a worker's lookup by the key still
finds the outcome); the type is cut to 64 characters.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from support_app.integrations.gateway_client import GatewayResult, stated_money
from support_app.models import RefundAttempt, WebhookEvent
from support_app.services.refund_execution import record_outcome
from support_app.services.runner import writes

OUTCOMES = {"refund.succeeded": "succeeded", "refund.failed": "failed"}
EVENT_ID_MAX, TYPE_MAX, KEY_MAX = 80, 64, 64


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@writes
def apply_gateway_event(session: Session, event: object) -> str:
    """Returns "applied", "mismatch" (recorded, for an agent), "duplicate", "ignored"
    (nothing to do) or "unknown_refund"."""
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        return "ignored"
    event_id = event.get("id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= EVENT_ID_MAX:
        return "ignored"
    kind, data = str(event.get("type", ""))[:TYPE_MAX], event["data"]
    key = data.get("idempotency_key") if isinstance(data.get("idempotency_key"), str) else None
    key = key if key is not None and len(key) <= KEY_MAX else None
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
    amount, currency = stated_money(data)
    result = GatewayResult(
        outcome=outcome,
        reference=_text(data.get("id")),
        failure_reason=_text(data.get("failure_reason")),
        failure_message=_text(data.get("failure_message")),
        http_status=None,
        amount=amount,
        currency=currency,
    )
    recorded = record_outcome(session, attempt_id, result)
    return "duplicate" if recorded is None else "mismatch" if recorded == "mismatch" else "applied"
