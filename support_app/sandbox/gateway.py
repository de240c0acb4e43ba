"""The payment-gateway sandbox: the contract GatewayClient expects, on a persisted ledger.

    POST /refunds (Idempotency-Key)   201 succeeded | 202 pending | 402 failed | 404 payment_not_found
                                      | 400 currency_mismatch / invalid_request | 422 idempotency_key_reused
    GET  /refunds?idempotency_key=K   the refund made with K, or 404
    GET  /payments/{ref}              captured, refunded, refund_count
    GET  /health
    with faults enabled: GET|POST /_faults, POST /_reset, GET /_webhooks, POST /_redeliver

A retry with the same key and parameters replays the first answer instead of moving
money twice — the property exactly-once refunds rest on — and, because the ledger is
in the sandbox database, it holds across restarts and for any number of app workers.
Captured amounts come from the orders table (payment reference → amount paid).
The fault switch reproduces latency, 5xx, declines (``decline_message`` sets the
issuer's text, up to 10,000 characters), a commit whose answer never arrives
(``commit_then_timeout``), an answer about another amount or currency than asked
(``mismatch``: the refund is made as asked, but the answer states ``answer_amount`` /
``answer_currency`` — a gateway bug or a reply about someone else's refund) and
asynchronous settlement confirmed by a signed webhook; refunds still pending when the
sandbox starts are settled again on schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_app.integrations.gateway_webhook import signed_headers
from support_app.sandbox.db import SandboxDB
from support_app.sandbox.ledger import Ledger

logger = logging.getLogger(__name__)

FAULT_MODES = ("none", "latency", "error", "decline", "commit_then_timeout", "async", "mismatch")
DECLINE_MESSAGE_MAX = 10_000


def _check(ok: bool, message: str) -> None:
    """Validation helper: the sandbox answers 400 with ``message`` when ``ok`` is false."""
    if not ok:
        raise ValueError(message)


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


@dataclass
class GatewayFaults:
    """What POST /refunds should do; ``count`` None means 'until switched off'."""

    mode: str = "none"
    latency_ms: int = 0
    status: int = 503
    count: int | None = None
    decline_reason: str = "card_declined"
    decline_message: str | None = None  # None: the sandbox's own wording
    webhook_delay_ms: int = 200
    answer_amount: int | None = None  # mismatch: what the answer says instead of the amount asked
    answer_currency: str | None = None  # mismatch: ... and instead of the currency asked

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
        _check(state.decline_message is None or (isinstance(state.decline_message, str)
                                                 and 0 < len(state.decline_message) <= DECLINE_MESSAGE_MAX),
               f"decline_message must be null or 1..{DECLINE_MESSAGE_MAX} characters")
        _check(state.answer_amount is None or _is_int(state.answer_amount, 0, 10**15), "answer_amount must be null or 0..10**15")
        _check(state.answer_currency is None or (isinstance(state.answer_currency, str) and 0 < len(state.answer_currency) <= 8),
               "answer_currency must be null or 1..8 characters")
        _check(state.mode != "mismatch" or state.answer_amount is not None or state.answer_currency is not None,
               "mismatch needs answer_amount or answer_currency")
        return cls() if state.count == 0 else state


class Gateway:
    """The ledger plus what this process holds: the fault switch, a request counter,
    settlement timers and the webhook sender."""

    def __init__(self, db: SandboxDB, webhook_url: str | None, webhook_secret: str) -> None:
        self.ledger = Ledger(db)
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.faults = GatewayFaults()
        self.create_requests = 0
        self.lock = threading.Lock()
        self._timers: list[threading.Timer] = []
        # Settlements and their webhooks run here: few threads, so few database connections.
        self._settler = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gateway-settle")

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

    def fault_report(self, new: GatewayFaults | None = None) -> dict[str, Any]:
        with self.lock:
            self.faults = new or self.faults
            report = {**asdict(self.faults), "create_requests": self.create_requests}
        return {**report, "refunds_committed": self.ledger.committed()}

    def schedule_settlement(self, refund_id: str, delay_ms: int) -> None:
        """Settle a pending refund later, like a real asynchronous gateway."""
        timer = threading.Timer(delay_ms / 1000, self._settler.submit, args=(self._settle_and_notify, refund_id))
        timer.daemon = True
        with self.lock:
            self._timers = [t for t in self._timers if t.is_alive()]
            self._timers.append(timer)
        timer.start()

    def resume_pending(self) -> int:
        """Schedule every refund left pending (by an earlier run) at its settle time."""
        pending = self.ledger.pending()
        now_us = int(time.time() * 1_000_000)
        for refund_id, settle_at_us in pending:
            self.schedule_settlement(refund_id, max(0, settle_at_us - now_us) // 1000)
        return len(pending)

    def _settle_and_notify(self, refund_id: str) -> None:
        try:
            event = self.ledger.settle(refund_id)
        except sqlite3.Error as exc:  # closed while a timer was due; the next start settles it
            logger.warning("gateway sandbox could not settle %s: %s", refund_id, exc)
            return
        if event is not None:
            self.deliver(event)

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        """POST one signed event to the webhook URL (blocking); failures are logged, never raised."""
        url, secret = self.webhook_url, self.webhook_secret
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
        try:
            self.ledger.record_delivery(result)
        except sqlite3.Error as exc:
            logger.warning("gateway sandbox could not record delivery %s: %s", event["id"], exc)
        return result

    def _cancel_timers(self) -> None:
        with self.lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()

    def reset(self) -> None:
        """No refunds, events or deliveries; no faults; zeroed counter; no settlement due."""
        self._cancel_timers()
        self.ledger.reset()
        with self.lock:
            self.create_requests = 0
            self.faults = GatewayFaults()

    def close(self) -> None:
        """Stop settling (pending refunds stay pending in the ledger for the next start)."""
        self._cancel_timers()
        self._settler.shutdown(wait=True, cancel_futures=True)


def _parse_create(body: Any) -> tuple[str, int, str, dict[str, Any]]:
    _check(isinstance(body, dict), "expected a JSON object")
    ref, amount, currency, metadata = (body.get(k) for k in ("payment_reference", "amount", "currency", "metadata"))
    _check(isinstance(ref, str) and bool(ref), "payment_reference must be a non-empty string")
    _check(_is_int(amount, 1, 10**12), "amount must be a positive integer (minor units)")
    _check(isinstance(currency, str) and len(currency) == 3 and currency.isalpha(), "currency: 3 letters")
    _check(metadata is None or isinstance(metadata, dict), "metadata must be an object")
    return ref, amount, currency.upper(), metadata or {}


def create_gateway_app(db: SandboxDB, webhook_url: str | None = None, webhook_secret: str = "",
                       enable_faults: bool = True) -> Starlette:
    """The gateway ASGI app on ``db``; mount it (under /gateway) or serve it alone.

    Refunds left pending in ``db`` are scheduled for settlement right away. Call
    ``app.state.gateway.close()`` when done (the combined app does it on shutdown).
    """
    gateway = Gateway(db, webhook_url, webhook_secret)
    gateway.resume_pending()
    ledger = gateway.ledger

    def bad(error: str, detail: str = "", status: int = 400) -> Response:
        return JSONResponse({"error": error, "detail": detail}, status_code=status)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "refunds_committed": await run_in_threadpool(ledger.committed)})

    async def create_refund(request: Request) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None or not 8 <= len(key) <= 128:
            return bad("invalid_idempotency_key", "Idempotency-Key header of 8..128 characters is required")
        try:
            ref, amount, currency, metadata = _parse_create(await request.json())
        except ValueError as exc:  # includes JSONDecodeError
            return bad("invalid_request", str(exc))
        fault = gateway.take_fault()  # malformed requests above are neither counted nor faulted
        if fault.mode == "error":
            return JSONResponse({"error": "injected_fault"}, status_code=fault.status)
        if fault.mode == "latency":
            await asyncio.sleep(fault.latency_ms / 1000)
        status, payload, made = await run_in_threadpool(
            lambda: ledger.create(key, ref, amount, currency, metadata,
                                  decline_reason=fault.decline_reason if fault.mode == "decline" else None,
                                  decline_message=fault.decline_message if fault.mode == "decline" else None,
                                  settle_after_ms=fault.webhook_delay_ms if fault.mode == "async" else None))
        if made and payload["status"] == "pending":
            gateway.schedule_settlement(payload["id"], fault.webhook_delay_ms)
        if fault.mode == "mismatch" and "amount" in payload:  # the answer misstates the refund it made
            payload = {**payload, "amount": payload["amount"] if fault.answer_amount is None else fault.answer_amount,
                       "currency": payload["currency"] if fault.answer_currency is None else fault.answer_currency}
        if fault.mode == "commit_then_timeout":
            await asyncio.sleep(fault.latency_ms / 1000)  # money moved; the answer is late
        return JSONResponse(payload, status_code=status)

    async def find_refund(request: Request) -> Response:
        found = await run_in_threadpool(ledger.find, request.query_params.get("idempotency_key", ""))
        return JSONResponse(found) if found else bad("not_found", status=404)

    async def get_payment(request: Request) -> Response:
        found = await run_in_threadpool(ledger.payment, request.path_params["ref"])
        return JSONResponse(found) if found else bad("payment_not_found", status=404)

    async def faults(request: Request) -> Response:
        try:
            state = GatewayFaults.parse(await request.json()) if request.method == "POST" else None
        except (ValueError, TypeError) as exc:  # includes JSONDecodeError
            return bad("invalid", str(exc))
        return JSONResponse(await run_in_threadpool(gateway.fault_report, state))

    async def reset(request: Request) -> Response:
        await run_in_threadpool(gateway.reset)
        return JSONResponse({"status": "ok"})

    async def webhooks(request: Request) -> Response:
        events, deliveries = await run_in_threadpool(lambda: (ledger.events(), ledger.deliveries()))
        return JSONResponse({"events": events, "deliveries": deliveries, "webhook_url": gateway.webhook_url})

    async def redeliver(request: Request) -> Response:
        try:
            event_id = (await request.json())["event_id"]
        except (ValueError, TypeError, KeyError):
            return bad("invalid", "expected {\"event_id\": ...}")
        event = await run_in_threadpool(ledger.event, str(event_id))
        if event is None:
            return bad("not_found", status=404)
        return JSONResponse(await run_in_threadpool(gateway.deliver, event))

    routes = [Route("/health", health, methods=["GET"]),
              Route("/refunds", create_refund, methods=["POST"]), Route("/refunds", find_refund, methods=["GET"]),
              Route("/payments/{ref}", get_payment, methods=["GET"])]
    if enable_faults:  # test and demo controls; never served when faults are disabled
        routes += [Route("/_faults", faults, methods=["GET", "POST"]), Route("/_reset", reset, methods=["POST"]),
                   Route("/_webhooks", webhooks, methods=["GET"]), Route("/_redeliver", redeliver, methods=["POST"])]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):  # served alone; mounted, the combined app closes it
        yield
        await run_in_threadpool(gateway.close)

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.gateway = gateway
    return app
