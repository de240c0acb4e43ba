"""Signing and verifying payment-gateway webhooks (pure functions, no I/O).

A webhook tells us a refund settled, so a forged or replayed one could mark money
as returned when it was not. The gateway signs ``"<timestamp>." + raw body`` with a
shared secret (HMAC-SHA256, hex); we recompute it over the exact bytes received,
compare in constant time, and refuse timestamps outside a tolerance window in
either direction so a captured request cannot be replayed later. Duplicate
deliveries inside the window are expected: handlers dedupe on the event id.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Gateway-Timestamp"
SIGNATURE_HEADER = "X-Gateway-Signature"
DEFAULT_TOLERANCE_SECONDS = 300

REJECT_REASONS = ("missing_headers", "bad_timestamp", "stale", "bad_signature")


class WebhookRejected(Exception):
    """The webhook must not be trusted; ``reason`` is one of REJECT_REASONS (safe to log)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"webhook rejected: {reason}")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` under ``secret``."""
    message = f"{int(timestamp)}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The two headers a sender attaches; shared by the sandbox and tests."""
    return {TIMESTAMP_HEADER: str(int(timestamp)), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(
    secret: str,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    now: int,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Return None if the webhook is authentic and fresh, else raise WebhookRejected.

    ``now`` is passed in (unix seconds) so the rule is testable without clocks.
    An empty secret never verifies: a misconfigured receiver must fail closed.
    """
    if not timestamp_header or not signature_header:
        raise WebhookRejected("missing_headers")
    text = timestamp_header.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise WebhookRejected("bad_timestamp")
    timestamp = int(text)
    if abs(int(now) - timestamp) > tolerance_seconds:
        raise WebhookRejected("stale")  # too old (replay) or too far in the future (clock/forgery)
    if not secret:
        raise WebhookRejected("bad_signature")
    expected = sign(secret, timestamp, body)
    # compare_digest on bytes: constant time, and no TypeError on non-ASCII input.
    if not hmac.compare_digest(expected.encode(), signature_header.strip().lower().encode("utf-8", "replace")):
        raise WebhookRejected("bad_signature")
