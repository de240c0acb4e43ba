"""Real loopback HTTP servers for tests: the sandboxes served by uvicorn in a thread.

Tests exercise the real httpx clients against real sockets, so timeouts, refused
connections and retries behave as in production. The server binds port 0 itself
(no free-port race) and is stopped and joined at teardown.

Use: ``pytest_plugins = ["fixtures_http"]`` in conftest, or import the fixtures.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
import uvicorn

from support_app.integrations.orders_sandbox import create_orders_app


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1:<free port> in a daemon thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1
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


@dataclass
class OrdersServer:
    """A running order sandbox: its URL, the ``now`` its demo data is relative to, faults."""

    url: str
    now: datetime
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=5))

    def set_faults(self, mode: str = "none", status: int = 503, latency_ms: int = 0,
                   count: int | None = None) -> None:
        body = {"mode": mode, "status": status, "latency_ms": latency_ms, "count": count}
        self.http.post(f"{self.url}/_faults", json=body).raise_for_status()

    def faults(self) -> dict[str, Any]:
        return self.http.get(f"{self.url}/_faults").json()

    def requests_seen(self) -> int:
        """Order-endpoint requests since the fault switch was last set."""
        return int(self.faults()["requests"])


@pytest.fixture(scope="session")
def orders_server_session() -> Iterator[OrdersServer]:
    """One order sandbox per test session (demo data fixed at session start)."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with serve_asgi(create_orders_app(now=now)) as url:
        server = OrdersServer(url=url, now=now)
        yield server
        server.http.close()


@pytest.fixture
def orders_server(orders_server_session: OrdersServer) -> Iterator[OrdersServer]:
    """The shared sandbox with faults switched off and the request counter reset."""
    orders_server_session.set_faults("none")
    yield orders_server_session
    orders_server_session.set_faults("none")


@pytest.fixture
def refused_order_url() -> Iterator[str]:
    """A base URL that refuses connections."""
    with refused_url() as url:
        yield url
