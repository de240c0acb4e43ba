"""The payment-gateway sandbox and a webhook receiver, served over real loopback HTTP.

Why real sockets: the exactly-once guarantees depend on what happens when an answer
is late or lost, which only a real server and a real client timeout reproduce.
One gateway per session on the session's sandbox database (its webhooks go to a
receiver started first, because the gateway's webhook URL is fixed at construction);
``gateway_server`` resets refunds, counters, faults and received webhooks around every test.

Use: ``pytest_plugins = ["fixtures_gateway"]`` in conftest, or import the fixtures.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fixtures_http import control_client, sandbox_db_path, serve_asgi
from support_app.integrations.gateway_client import GatewayClient
from support_app.integrations.gateway_webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookRejected, verify
from support_app.sandbox.db import SandboxDB
from support_app.sandbox.gateway import create_gateway_app

GATEWAY_WEBHOOK_SECRET = "whsec_test_" + "k" * 32


@dataclass
class WebhookReceiver:
    """Collects webhooks that pass signature verification; rejected ones keep their reason."""

    secret: str
    url: str = ""
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def record(self, event: dict[str, Any] | None, reason: str | None = None) -> None:
        with self._cond:
            if event is not None:
                self.accepted.append(event)
            if reason is not None:
                self.rejected.append(reason)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until ``count`` events were accepted; fail the test (not hang) otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.accepted) >= count, timeout):
                pytest.fail(f"expected {count} webhook(s), got {len(self.accepted)}; rejected: {self.rejected}")
            return list(self.accepted)

    def clear(self) -> None:
        with self._cond:
            self.accepted.clear()
            self.rejected.clear()


def create_receiver_app(receiver: WebhookReceiver) -> Starlette:
    """A tiny webhook endpoint (POST /webhooks) that verifies like production code must."""

    async def webhooks(request: Request) -> Response:
        body = await request.body()
        try:
            verify(receiver.secret, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER),
                   body, now=int(time.time()))
        except WebhookRejected as exc:
            receiver.record(None, exc.reason)
            return JSONResponse({"error": exc.reason}, status_code=400)
        receiver.record(await request.json())
        return JSONResponse({"received": True})

    return Starlette(routes=[Route("/webhooks", webhooks, methods=["POST"])])


@dataclass
class GatewayServer:
    """A running gateway sandbox: URL, fault switch, inspection helpers and its receiver."""

    url: str
    receiver: WebhookReceiver
    http: httpx.Client = field(default_factory=lambda: control_client(timeout=10))

    def set_faults(self, mode: str = "none", latency_ms: int = 0, status: int = 503, count: int | None = None,
                   decline_reason: str = "card_declined", webhook_delay_ms: int = 200, decline_message: str | None = None,
                   answer_amount: int | None = None, answer_currency: str | None = None) -> dict[str, Any]:
        body = {"mode": mode, "latency_ms": latency_ms, "status": status, "count": count,
                "decline_reason": decline_reason, "webhook_delay_ms": webhook_delay_ms,
                "decline_message": decline_message, "answer_amount": answer_amount, "answer_currency": answer_currency}
        response = self.http.post(f"{self.url}/_faults", json=body)
        response.raise_for_status()
        return response.json()

    def faults(self) -> dict[str, Any]:
        """Current fault state plus counters ``create_requests`` and ``refunds_committed``."""
        return self.http.get(f"{self.url}/_faults").raise_for_status().json()

    def counters(self) -> tuple[int, int]:
        """(create_requests, refunds_committed) since the last reset."""
        faults = self.faults()
        return faults["create_requests"], faults["refunds_committed"]

    def payment(self, ref: str) -> dict[str, Any]:
        """captured / refunded / refund_count of one payment: proof of how often money moved."""
        return self.http.get(f"{self.url}/payments/{ref}").raise_for_status().json()

    def reset(self) -> None:
        self.http.post(f"{self.url}/_reset").raise_for_status()
        self.receiver.clear()

    def webhooks(self) -> list[dict[str, Any]]:
        """Event bodies the gateway has sent (each redelivery reuses the event)."""
        return self.http.get(f"{self.url}/_webhooks").raise_for_status().json()["events"]

    def redeliver(self, event_id: str) -> dict[str, Any]:
        """Send one event again (fresh timestamp and signature, same id); returns the delivery result."""
        return self.http.post(f"{self.url}/_redeliver", json={"event_id": event_id}).raise_for_status().json()


def gateway_client_for(url: str, **kw: Any) -> GatewayClient:
    """A client with test-friendly defaults (short backoff); pass overrides as keywords."""
    kw.setdefault("timeout_seconds", 5.0)
    kw.setdefault("backoff_seconds", 0.01)
    return GatewayClient(url, **kw)


def new_idempotency_key() -> str:
    return f"refund-attempt-{uuid.uuid4().hex}"


def scripted(*answers: httpx.Response | Exception) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport that plays ``answers`` in order and records every request."""
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handler), seen


@pytest.fixture(scope="session")
def gateway_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    """One receiver and one gateway (the session's orders, webhooks to the receiver) per session."""
    receiver = WebhookReceiver(secret=GATEWAY_WEBHOOK_SECRET)
    db = SandboxDB(sandbox_db_path(tmp_path_factory))
    try:
        with serve_asgi(create_receiver_app(receiver)) as receiver_base:
            receiver.url = f"{receiver_base}/webhooks"
            app = create_gateway_app(db, webhook_url=receiver.url, webhook_secret=GATEWAY_WEBHOOK_SECRET)
            with serve_asgi(app) as url:
                server = GatewayServer(url=url, receiver=receiver)
                yield server
                server.http.close()
    finally:
        db.close()


@pytest.fixture
def gateway_server(gateway_server_session: GatewayServer) -> Iterator[GatewayServer]:
    """The shared gateway with no refunds, no faults, zeroed counters and no received webhooks."""
    gateway_server_session.reset()
    yield gateway_server_session
    gateway_server_session.reset()


@pytest.fixture
def webhook_receiver(gateway_server: GatewayServer) -> WebhookReceiver:
    """The receiver the shared gateway sends webhooks to (cleared per test)."""
    return gateway_server.receiver
