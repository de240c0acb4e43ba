"""HTTP client for the payment gateway (the sandbox or a real one, by configuration).

Creating a refund is not naturally idempotent, so every attempt of one refund
carries the SAME ``Idempotency-Key``: the gateway then replays its first answer
instead of moving money twice, which is what makes retrying timeouts, connection
errors and 5xx safe. Anything else is an answer and is not retried.

The result is a value, never an exception, because "we do not know" is a normal
state the caller must record: after the bounded retries a timeout or 5xx yields
outcome ``unknown`` (money may have moved), and a worker later asks
``find_refund(key)``. Even a refused connection is ``unknown``: we cannot prove the
request never reached the gateway, and looking up the key is cheap and certain.
Sync ``httpx`` because services run in worker threads, never on the event loop.

A result carries the amount and currency the gateway's refund object states (None for
what it does not state readably); the caller compares them with what it asked for
(domain/gateway_answers) — the client only reads.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

import httpx

from support_app.settings import get_settings

logger = logging.getLogger(__name__)

Outcome = Literal["succeeded", "failed", "pending", "unknown"]

# Transient transport failures: the request may or may not have been processed.
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)
# Definite refusals whose body names the reason; nothing was (or will be) refunded.
DEFINITE_REFUSALS = (400, 404, 422)
# "Not now" answers (concurrent request with this key, rate limit): not definite.
NOT_DEFINITE = (409, 429)


@dataclass(frozen=True)
class GatewayResult:
    """What the gateway said about one refund (or that we could not find out).

    ``reference`` is the gateway refund id when known; ``failure_reason`` is a
    stable machine code (``card_declined``, ``exceeds_captured``, ``payment_not_found``...).
    ``amount`` (minor units) and ``currency`` are what the answer says the refund is for.
    """

    outcome: Outcome
    reference: str | None = None
    failure_reason: str | None = None
    failure_message: str | None = None
    http_status: int | None = None
    amount: int | None = None
    currency: str | None = None


class GatewayUnavailable(Exception):
    """find_refund could not get an answer; the caller keeps the attempt 'unknown'."""


class GatewayClient:
    """Creates and looks up refunds; see the module docstring for the retry contract."""

    def __init__(
        self,
        base_url: str,
        timeout_seconds: float = 5.0,
        retries: int = 2,
        backoff_seconds: float = 0.1,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.retries = max(0, retries)
        self.backoff_seconds = backoff_seconds
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "GatewayClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def worst_call_seconds(self) -> float:
        """The longest one call can take: every try timing out, plus the backoff between tries."""
        backoff = sum(self.backoff_seconds * (2 ** (attempt - 1)) for attempt in range(1, self.retries + 1))
        return self.timeout_seconds * (self.retries + 1) + backoff

    # -- public API -------------------------------------------------------------

    def create_refund(
        self, payment_reference: str, amount: int, currency: str, idempotency_key: str, metadata: dict[str, Any]
    ) -> GatewayResult:
        """Ask for a refund of ``amount`` minor units; safe to call again with the same key."""
        body = {"payment_reference": payment_reference, "amount": amount, "currency": currency, "metadata": metadata}
        response, error, attempts = self._send(
            "POST", "refunds", json=body, headers={"Idempotency-Key": idempotency_key}
        )
        if response is None:
            status = error.response.status_code if isinstance(error, httpx.HTTPStatusError) else None
            logger.warning(
                "gateway refund %s outcome unknown after %d attempt(s): %s: %s",
                idempotency_key, attempts, type(error).__name__, error,
            )
            return GatewayResult("unknown", http_status=status)
        return self._interpret_create(response, idempotency_key)

    def find_refund(self, idempotency_key: str) -> GatewayResult | None:
        """The gateway's record for this key, or None if it never committed one.

        Only the gateway's own ``{"error": "not_found"}`` means None: a 404 from a
        wrong URL must not be mistaken for "no money moved".
        """
        response, error, attempts = self._send("GET", "refunds", params={"idempotency_key": idempotency_key})
        if response is None:
            logger.warning("gateway lookup of %s failed after %d attempt(s): %s", idempotency_key, attempts, error)
            raise GatewayUnavailable(f"no answer from the payment gateway: {error}") from error
        body = _json_object(response)
        if response.status_code == 404 and body.get("error") == "not_found":
            return None
        result = _refund_result(body, response.status_code) if response.status_code == 200 else None
        if result is None:
            logger.error("gateway lookup of %s: unexpected answer %d %.200s",
                         idempotency_key, response.status_code, response.text)
            raise GatewayUnavailable(f"unexpected answer {response.status_code} from the payment gateway")
        return result

    # -- internals --------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response | None, Exception | None, int]:
        """Send with bounded retries; returns (a non-retryable response or None, last error, attempts)."""
        attempts = self.retries + 1
        last: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff_seconds * (2 ** (attempt - 1)))
            try:
                response = self._http.request(method, path, **kwargs)
            except RETRYABLE_ERRORS as exc:
                last = exc
                continue
            except httpx.HTTPError as exc:  # e.g. an invalid URL: retrying will not help
                return None, exc, attempt + 1
            if response.status_code >= 500:
                last = httpx.HTTPStatusError(
                    f"gateway answered {response.status_code}", request=response.request, response=response
                )
                continue
            return response, None, attempt + 1
        return None, last, attempts

    def _interpret_create(self, response: httpx.Response, key: str) -> GatewayResult:
        status = response.status_code
        body = _json_object(response)
        if status in (200, 201, 202):
            result = _refund_result(body, status)
            if result is not None and status == 202 and result.outcome == "succeeded":
                result = replace(result, outcome="pending")
            if result is not None:
                return result
            logger.error("gateway refund %s: unreadable %d answer %.200s; outcome unknown", key, status, response.text)
            return GatewayResult("unknown", http_status=status)
        if status == 402:
            reference = body.get("id") if isinstance(body.get("id"), str) else None
            return GatewayResult("failed", reference, _text(body.get("failure_reason")) or "declined",
                                 _text(body.get("failure_message")), status, *stated_money(body))
        if status in NOT_DEFINITE or status < 400:
            logger.warning("gateway refund %s: %d is not a definite answer; outcome unknown", key, status)
            return GatewayResult("unknown", http_status=status)
        reason = _text(body.get("error")) or f"http_{status}"
        # 422 (key reused with other parameters) or an auth/route error is a bug or a
        # misconfiguration on our side, never a customer problem: log it loudly.
        level = logging.WARNING if status in DEFINITE_REFUSALS and status != 422 else logging.ERROR
        logger.log(level, "gateway refused refund %s with %d %s: %.200s", key, status, reason, response.text)
        return GatewayResult("failed", None, reason, _text(body.get("detail")), status)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object, or {} when it is not one (reasons then fall back)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


AMOUNT_MAX = 10**15  # minor units; a larger "amount" is not a figure anyone can trust


def stated_money(body: dict[str, Any]) -> tuple[int | None, str | None]:
    """The amount (minor units) and currency a refund object states. None for what it
    does not state readably: a missing, non-integer, negative or absurd amount; a
    currency that is not three letters (upper-cased when it is)."""
    amount, currency = body.get("amount"), body.get("currency")
    ok_amount = isinstance(amount, int) and not isinstance(amount, bool) and 0 <= amount <= AMOUNT_MAX
    ok_currency = isinstance(currency, str) and len(currency) == 3 and currency.isascii() and currency.isalpha()
    return (amount if ok_amount else None), (currency.upper() if ok_currency else None)


def _refund_result(body: dict[str, Any], http_status: int) -> GatewayResult | None:
    """Map a refund JSON object to a result; None if it is not a recognisable refund."""
    reference, status = body.get("id"), body.get("status")
    if not isinstance(reference, str) or not reference or status not in ("succeeded", "pending", "failed"):
        return None
    amount, currency = stated_money(body)
    if status == "failed":
        return GatewayResult("failed", reference, _text(body.get("failure_reason")) or "declined",
                             _text(body.get("failure_message")), http_status, amount, currency)
    return GatewayResult(status, reference, http_status=http_status, amount=amount, currency=currency)


@lru_cache
def get_gateway_client() -> GatewayClient:
    """The process-wide client built from settings, sharing one connection pool."""
    settings = get_settings()
    timeout = float(getattr(settings, "gateway_timeout_seconds", 5.0))
    return GatewayClient(settings.payment_gateway_url, timeout_seconds=timeout)
