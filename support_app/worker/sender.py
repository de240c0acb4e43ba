"""Work one claimed attempt: always with its own idempotency key, never a new one.

- Never handed to the gateway (``sends == 0``): send it.
- Sent before (``sends > 0``): a previous claimant may have sent it and died while
  the call was in flight, or timed out after the gateway committed. Ask the gateway
  about the key first: found → record what it says; not found → the gateway never
  committed it, so send again with the same key; no answer → leave it open (a later
  try, after the backoff).
Outcomes go through the conditional ``record_outcome`` (only a pending/unknown
attempt changes), so a stale claimant, a webhook and a new claimant can race
without double effects. A new key is only ever made by an agent's retry after a
definite failure (services.refund_review).
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine

from support_app.db import session_scope
from support_app.integrations.gateway_client import GatewayClient, GatewayResult, GatewayUnavailable
from support_app.models import RefundAttempt
from support_app.models.base import utcnow
from support_app.services.refund_execution import LIVE, prepare_send, record_outcome
from support_app.worker.claims import release

log = logging.getLogger(__name__)


def process(attempt_id: int, owner: str, client: GatewayClient, engine: Engine | None = None) -> str:
    """One pass over a claimed attempt, ending with the claim released (in the same
    transaction as the outcome, when there is one; with the next try scheduled if the
    attempt is still open). Returns what happened: the gateway's outcome (succeeded,
    failed, pending, unknown), "mismatch" (its answer named another amount or currency),
    "unreachable" (lookup without an answer) or "skipped" (settled meanwhile, or the
    claim is no longer ours)."""
    with session_scope(engine) as session:
        attempt = session.get(RefundAttempt, attempt_id)
        ours = attempt is not None and attempt.claimed_by == owner
        key, sends = (attempt.idempotency_key, attempt.sends) if ours else ("", 0)
        live = ours and attempt.status in LIVE
    if not live:
        return _release(attempt_id, owner, engine, "skipped") if ours else "skipped"
    if sends > 0:
        try:
            found = client.find_refund(key)
        except GatewayUnavailable as exc:
            log.warning("refund attempt %s: gateway lookup of %s failed: %s", attempt_id, key, exc)
            return _release(attempt_id, owner, engine, "unreachable")
        if found is not None:
            return _record_and_release(attempt_id, owner, engine, found)
    with session_scope(engine, write=True) as session:
        order = prepare_send(session, attempt_id, owner)
    if order is None:
        return _release(attempt_id, owner, engine, "skipped")
    result = client.create_refund(
        order.payment_reference, order.amount, order.currency, order.key,
        {"refund_case_id": order.refund_id, "refund_number": order.refund_number},
    )
    return _record_and_release(attempt_id, owner, engine, result)


def handle(attempt_id: int, owner: str, client: GatewayClient, engine: Engine | None = None) -> str:
    """``process``, and on an unexpected error still release with the backoff; if even
    that fails, the claim simply expires and the attempt is taken over."""
    try:
        return process(attempt_id, owner, client, engine)
    except Exception:
        log.exception("refund attempt %s: processing failed; will try again", attempt_id)
        return _release(attempt_id, owner, engine, "error")


def _record_and_release(attempt_id: int, owner: str, engine: Engine | None, result: GatewayResult) -> str:
    """Returns the gateway's outcome, or "mismatch" when its answer did not match the
    attempt (recorded for an agent; the attempt is no longer live, so never retried)."""
    with session_scope(engine, write=True) as session:
        recorded = record_outcome(session, attempt_id, result)
        release(session, attempt_id, owner, utcnow())
    return "mismatch" if recorded == "mismatch" else result.outcome


def _release(attempt_id: int, owner: str, engine: Engine | None, outcome: str) -> str:
    with session_scope(engine, write=True) as session:
        release(session, attempt_id, owner, utcnow())
    return outcome
