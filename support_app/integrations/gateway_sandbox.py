"""A small in-memory payment gateway so refunds run and are tested with nothing else.

It speaks the contract GatewayClient expects: a retry with the same ``Idempotency-Key``
and parameters replays the first answer instead of moving money twice — the property
exactly-once refunds rest on. Captured amounts come from the order sandbox's demo data.
The fault switch (``/_faults``) reproduces latency, 5xx, declines, a commit whose answer
never arrives (``commit_then_timeout``) and async settlement confirmed by a signed webhook.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_app.integrations.gateway_webhook import signed_headers
from support_app.integrations.orders_sandbox import demo_orders

logger = logging.getLogger(__name__)

FAULT_MODES = ("none", "latency", "error", "decline", "commit_then_timeout", "async")
HTTP_FOR_STATUS = {"succeeded": 201, "pending": 202, "failed": 402}


def _check(ok: bool, message: str) -> None:
    """Validation helper: the sandbox answers 400 with ``message`` when ``ok`` is false."""
    if not ok:
        raise ValueError(message)


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def demo_payments() -> dict[str, tuple[int, str]]:
    """Captured amount and currency of every demo order (amounts do not depend on ``now``)."""
    return {o.payment_reference: (o.amount_paid, o.currency) for o in demo_orders(datetime.now(timezone.utc))}


@dataclass
class GatewayFaults:
    """What POST /refunds should do; ``count`` None means 'until switched off'."""

    mode: str = "none"
    latency_ms: int = 0
    status: int = 503
    count: int | None = None
    decline_reason: str = "card_declined"
    webhook_delay_ms: int = 200

    @classmethod
    def parse(cls, body: Any) -> "GatewayFaults":
        _check(isinstance(body, dict), "expected a JSON object")
        state = cls(**{k: body[k] for k in cls.__dataclass_fields__ if k in body})
        _check(state.mode in FAULT_MODES, f"mode must be one of {FAULT_MODES}")
        for name in ("latency_ms", "webhook_delay_ms"):
            _check(_is_int(getattr(state, name), 0, 60_000), f"{name} must be 0..60000")
        _check(_is_int(state.status, 400, 599), "status must be an HTTP error status")
        _check(state.count is None or _is_int(state.count, 0, 10**9), "count must be null or >= 0")
        _check(isinstance(state.decline_reason, str) and bool(state.decline_reason), "decline_reason required")
        return cls() if state.count == 0 else state


@dataclass
class GatewaySandbox:
    """All gateway state behind one lock (handlers and webhook threads share it)."""

    payments: dict[str, tuple[int, str]]
    webhook_url: str | None
    webhook_secret: str
    faults: GatewayFaults = field(default_factory=GatewayFaults)
    # idempotency key -> ((payment, amount, currency) a reuse must match, refund)
    by_key: dict[str, tuple[tuple[str, int, str], dict[str, Any]]] = field(default_factory=dict)
    create_requests: int = 0
    refunds_committed: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    timers: list[threading.Timer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_fault(self) -> GatewayFaults:
        """Count a well-formed create request and return the fault to apply to it."""
        with self.lock:
            self.create_requests += 1
            state = replace(self.faults)
            if self.faults.count is not None:
                self.faults.count -= 1
                if self.faults.count <= 0:  # the affected requests are used up: back to normal
                    self.faults = GatewayFaults()
            return state

    def create(self, key: str, ref: str, amount: int, currency: str, metadata: dict[str, Any],
               fault: GatewayFaults) -> tuple[int, dict[str, Any], str | None]:
        """Atomically replay or create; returns (http status, body, refund id to settle later).

        A replay answers with the refund's *current* state (a settled async refund
        replays as 201 succeeded): same id, never a second refund.
        """
        with self.lock:
            if key in self.by_key:
                fingerprint, refund = self.by_key[key]
                if fingerprint != (ref, amount, currency):
                    return 422, {"error": "idempotency_key_reused"}, None
                return HTTP_FOR_STATUS[refund["status"]], dict(refund), None
            if ref not in self.payments:
                return 404, {"error": "payment_not_found"}, None
            captured, payment_currency = self.payments[ref]
            if currency != payment_currency:
                return 400, {"error": "currency_mismatch"}, None
            refund: dict[str, Any] = {
                "id": f"re_{uuid.uuid4().hex}", "status": "succeeded", "amount": amount, "currency": currency,
                "payment_reference": ref, "idempotency_key": key, "metadata": metadata,
                "created_at": datetime.now(timezone.utc).isoformat(), "failure_reason": None, "failure_message": None,
            }
            if amount > captured - self._refunded(ref, ("succeeded", "pending")):
                refund.update(status="failed", failure_reason="exceeds_captured",
                              failure_message="Refund exceeds the amount captured")
            elif fault.mode == "decline":
                refund.update(status="failed", failure_reason=fault.decline_reason,
                              failure_message="The refund was declined by the card issuer")
            else:
                refund["status"] = "pending" if fault.mode == "async" else "succeeded"
                self.refunds_committed += 1
            self.by_key[key] = ((ref, amount, currency), refund)
            settle = refund["id"] if refund["status"] == "pending" else None
            return HTTP_FOR_STATUS[refund["status"]], dict(refund), settle

    def _refunds(self, ref: str, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
        return [r for _, r in self.by_key.values() if r["payment_reference"] == ref and r["status"] in statuses]

    def _refunded(self, ref: str, statuses: tuple[str, ...]) -> int:
        return sum(r["amount"] for r in self._refunds(ref, statuses))

    def find(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.by_key.get(key)
            return None if found is None else dict(found[1])

    def payment(self, ref: str) -> dict[str, Any] | None:
        """Money view of one payment; tests use refund_count to prove money moved once."""
        with self.lock:
            if ref not in self.payments:
                return None
            captured, currency = self.payments[ref]
            return {"payment_reference": ref, "captured": captured, "refunded": self._refunded(ref, ("succeeded",)),
                    "currency": currency, "refund_count": len(self._refunds(ref, ("succeeded",)))}

    def schedule_settlement(self, refund_id: str, delay_ms: int) -> None:
        """Settle a pending refund later, in a thread, like a real asynchronous gateway."""
        timer = threading.Timer(delay_ms / 1000, self._settle_and_notify, args=(refund_id,))
        timer.daemon = True
        with self.lock:
            self.timers.append(timer)
        timer.start()

    def _settle_and_notify(self, refund_id: str) -> None:
        with self.lock:
            refund = next((r for _, r in self.by_key.values() if r["id"] == refund_id), None)
            if refund is None or refund["status"] != "pending":
                return  # reset in between, or already settled
            refund["status"] = "succeeded"  # before sending: a receiver that looks it up sees the truth
            event = {"id": f"evt_{uuid.uuid4().hex}", "type": "refund.succeeded",
                     "created": int(time.time()), "data": dict(refund)}
            self.events.append(event)
        self.deliver(event)

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        """POST one signed event to the webhook URL (blocking); failures are logged, never raised."""
        url, secret = self.webhook_url, self.webhook_secret  # fixed at construction
        result: dict[str, Any] = {"event_id": event["id"], "status_code": None, "error": None}
        body = json.dumps(event, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **signed_headers(secret, int(time.time()), body)}
        try:
            if not url:
                raise ValueError("no webhook_url configured")
            result["status_code"] = httpx.post(url, content=body, headers=headers, timeout=5.0).status_code
        except Exception as exc:  # noqa: BLE001 — a delivery thread must never die loudly
            result["error"] = f"{type(exc).__name__}: {exc}"
        if not 200 <= (result["status_code"] or 0) < 300:
            logger.warning("gateway sandbox webhook %s to %s failed: %s", event["id"], url, result)
        with self.lock:
            self.deliveries.append(result)
        return result

    def reset(self) -> None:
        with self.lock:
            for timer in self.timers:
                timer.cancel()
            for store in (self.timers, self.by_key, self.events, self.deliveries):
                store.clear()
            self.create_requests = self.refunds_committed = 0
            self.faults = GatewayFaults()


def _parse_create(body: Any) -> tuple[str, int, str, dict[str, Any]]:
    _check(isinstance(body, dict), "expected a JSON object")
    ref, amount, currency, metadata = (body.get(k) for k in ("payment_reference", "amount", "currency", "metadata"))
    _check(isinstance(ref, str) and bool(ref), "payment_reference must be a non-empty string")
    _check(_is_int(amount, 1, 10**12), "amount must be a positive integer (minor units)")
    _check(isinstance(currency, str) and len(currency) == 3 and currency.isalpha(), "currency: 3 letters")
    _check(metadata is None or isinstance(metadata, dict), "metadata must be an object")
    return ref, amount, currency.upper(), metadata or {}


def create_gateway_app(
    payments: dict[str, tuple[int, str]] | None = None,
    webhook_url: str | None = None,
    webhook_secret: str = "",
    enable_faults: bool = True,
) -> Starlette:
    """Build the sandbox ASGI app; mount it (e.g. under /sandbox/gateway) or serve it alone."""
    sandbox = GatewaySandbox(dict(demo_payments() if payments is None else payments), webhook_url, webhook_secret)

    def bad(error: str, detail: str = "", status: int = 400) -> Response:
        return JSONResponse({"error": error, "detail": detail}, status_code=status)

    async def create_refund(request: Request) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None or not 8 <= len(key) <= 128:
            return bad("invalid_idempotency_key", "Idempotency-Key header of 8..128 characters is required")
        try:
            ref, amount, currency, metadata = _parse_create(await request.json())
        except ValueError as exc:  # includes JSONDecodeError
            return bad("invalid_request", str(exc))
        fault = sandbox.take_fault()  # malformed requests above are neither counted nor faulted
        if fault.mode == "error":
            return JSONResponse({"error": "injected_fault"}, status_code=fault.status)
        if fault.mode == "latency":
            await asyncio.sleep(fault.latency_ms / 1000)
        status, payload, settle = sandbox.create(key, ref, amount, currency, metadata, fault)
        if settle is not None:
            sandbox.schedule_settlement(settle, fault.webhook_delay_ms)
        if fault.mode == "commit_then_timeout":
            await asyncio.sleep(fault.latency_ms / 1000)  # money moved; the answer is late
        return JSONResponse(payload, status_code=status)

    async def find_refund(request: Request) -> Response:
        found = sandbox.find(request.query_params.get("idempotency_key", ""))
        return JSONResponse(found) if found else bad("not_found", status=404)

    async def get_payment(request: Request) -> Response:
        found = sandbox.payment(request.path_params["ref"])
        return JSONResponse(found) if found else bad("payment_not_found", status=404)

    async def faults(request: Request) -> Response:
        try:
            state = GatewayFaults.parse(await request.json()) if request.method == "POST" else None
        except (ValueError, TypeError) as exc:  # includes JSONDecodeError
            return bad("invalid", str(exc))
        with sandbox.lock:
            sandbox.faults = state or sandbox.faults
            return JSONResponse({**asdict(sandbox.faults), "create_requests": sandbox.create_requests,
                                 "refunds_committed": sandbox.refunds_committed})

    async def reset(request: Request) -> Response:
        sandbox.reset()
        return JSONResponse({"status": "ok"})

    async def webhooks(request: Request) -> Response:
        with sandbox.lock:
            return JSONResponse({"events": list(sandbox.events), "deliveries": list(sandbox.deliveries),
                                 "webhook_url": sandbox.webhook_url})

    async def redeliver(request: Request) -> Response:
        try:
            event_id = (await request.json())["event_id"]
        except (ValueError, TypeError, KeyError):
            return bad("invalid", "expected {\"event_id\": ...}")
        with sandbox.lock:
            event = next((e for e in sandbox.events if e["id"] == event_id), None)
        if event is None:
            return bad("not_found", status=404)
        # In a thread: the receiver may be this very server (mounted in the app).
        return JSONResponse(await asyncio.to_thread(sandbox.deliver, event))

    routes = [Route("/refunds", create_refund, methods=["POST"]), Route("/refunds", find_refund, methods=["GET"]),
              Route("/payments/{ref}", get_payment, methods=["GET"])]
    if enable_faults:  # test and demo controls; never mounted when faults are disabled
        routes += [Route("/_faults", faults, methods=["GET", "POST"]), Route("/_reset", reset, methods=["POST"]),
                   Route("/_webhooks", webhooks, methods=["GET"]), Route("/_redeliver", redeliver, methods=["POST"])]
    app = Starlette(routes=routes)
    app.state.sandbox = sandbox
    return app
