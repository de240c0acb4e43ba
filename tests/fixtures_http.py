"""Real loopback HTTP servers for tests: the sandboxes served by uvicorn in a thread.

Tests exercise the real httpx clients against real sockets, so timeouts, refused
connections and retries behave as in production. The server binds port 0 itself
(no free-port race), runs the app's lifespan, and is stopped and joined at teardown.
The order sandbox and the gateway sandbox of a test session share one SQLite file
(``sandbox_db_path``), as they do in the sandbox process: the gateway's captured
amounts are the orders' amounts paid.

Use: ``pytest_plugins = ["fixtures_http"]`` in conftest, or import the fixtures.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from support_app.integrations.order_client import OrderClient
from support_app.integrations.order_data import OrderData
from support_app.sandbox.db import SandboxDB
from support_app.sandbox.orders import create_orders_app


def control_client(timeout: float) -> httpx.Client:
    """A test's client for a sandbox's control and inspection endpoints: a new connection per request.

    uvicorn closes a connection idle for 5 s; a pooled one reused at that instant fails with
    "Server disconnected without sending a response" (seen in CI after a worker test's wait).
    Production clients retry that with the same idempotency key; a test's inspection call must
    not need to, so it never reuses a connection.
    """
    return httpx.Client(timeout=timeout, limits=httpx.Limits(max_keepalive_connections=0))


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1:<free port> in a daemon thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="auto", access_log=False, timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"uvicorn-{port}")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test HTTP server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("test HTTP server did not shut down")


@contextmanager
def refused_url() -> Iterator[str]:
    """A URL where nothing listens: the port is bound but not listening, so connects are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def sandbox_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test session's sandbox database (one per session and xdist worker)."""
    return tmp_path_factory.getbasetemp() / "sandbox" / "sandbox.db"


@dataclass
class OrdersServer:
    """A running order sandbox: its URL, the ``now`` its demo data is relative to, faults."""

    url: str
    now: datetime
    http: httpx.Client = field(default_factory=lambda: control_client(timeout=5))

    def set_faults(self, mode: str = "none", status: int = 503, latency_ms: int = 0,
                   count: int | None = None) -> None:
        body = {"mode": mode, "status": status, "latency_ms": latency_ms, "count": count}
        self.http.post(f"{self.url}/_faults", json=body).raise_for_status()

    def faults(self) -> dict[str, Any]:
        return self.http.get(f"{self.url}/_faults").json()

    def requests_seen(self) -> int:
        """Order-endpoint requests since the fault switch was last set."""
        return int(self.faults()["requests"])

    def load(self, orders: list[OrderData]) -> dict[str, Any]:
        """Upsert orders through the admin endpoint (they stay for the rest of the session)."""
        response = self.http.post(f"{self.url}/_admin/orders", json=[o.to_json() for o in orders])
        return response.raise_for_status().json()


@pytest.fixture(scope="session")
def orders_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrdersServer]:
    """One order sandbox per test session (demo data anchored at the database's first open)."""
    db = SandboxDB(sandbox_db_path(tmp_path_factory))
    try:
        with serve_asgi(create_orders_app(db)) as url:
            server = OrdersServer(url=url, now=db.anchor)
            yield server
            server.http.close()
    finally:
        db.close()


@pytest.fixture
def orders_server(orders_server_session: OrdersServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[OrdersServer]:
    """The shared sandbox with faults switched off and the request counter reset. It is
    also the app's order system for the test (as SUPPORT_ORDER_SYSTEM_URL would make it):
    services that refresh an order without being handed a client ask this sandbox,
    never whatever listens at the default URL."""
    from support_app.services import orders as order_service

    orders_server_session.set_faults("none")
    client = OrderClient(orders_server_session.url, timeout_seconds=2, backoff_seconds=0.01)
    monkeypatch.setattr(order_service, "get_order_client", lambda: client)
    yield orders_server_session
    client.close()
    orders_server_session.set_faults("none")


@pytest.fixture
def refused_order_url() -> Iterator[str]:
    """A base URL that refuses connections."""
    with refused_url() as url:
        yield url
