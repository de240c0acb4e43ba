"""The order-system sandbox: the HTTP contract the real order system is expected to speak.

    GET  /customers/{id}/orders   {"orders": [...]}, newest placed first
    GET  /orders/{id}             one order, or 404 {"error": "not_found"}
    GET  /health                  {"status", "orders", "anchor"}, not affected by faults; the anchor is
                                  the sandbox's first start, which dates the demo data (the demo
                                  history reads it here: it is not part of a real order system)
    GET|POST /_faults             fault switch (only with faults enabled)
    POST /_admin/orders           upsert a JSON list of orders in the wire format (only with faults enabled)

Orders live in the sandbox database, so every app process sees the same ones and a
restart keeps them. The fault switch makes the order endpoints fail (``error``),
slow down (``latency``) or answer garbage (``malformed``) on purpose; it is held by
this process, which is the only one serving the sandbox.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import dataclass, replace
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_app.integrations.order_data import OrderData
from support_app.sandbox.db import SandboxDB
from support_app.sandbox.order_rows import customer_orders_json, order_json, upsert_orders

FAULT_MODES = ("none", "error", "latency", "malformed")
MAX_ADMIN_BATCH = 10_000


@dataclass
class FaultState:
    """What the order endpoints should do; ``count`` None means 'until switched off'."""

    mode: str = "none"
    status: int = 503
    latency_ms: int = 0
    count: int | None = None
    requests: int = 0  # order-endpoint requests seen since the switch was last set

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "status": self.status, "latency_ms": self.latency_ms,
                "count": self.count, "requests": self.requests}


class FaultSwitch:
    """The current fault and the request counter, behind a lock (handlers run concurrently)."""

    def __init__(self) -> None:
        self._state = FaultState()
        self._lock = threading.Lock()

    def set(self, state: FaultState) -> None:
        with self._lock:
            self._state = state

    def get(self) -> FaultState:
        with self._lock:
            return replace(self._state)

    def take(self) -> FaultState:
        """Count a request and return the fault to apply to it (mode 'none' if none)."""
        with self._lock:
            state = self._state
            state.requests += 1
            if state.mode == "none":
                return FaultState()
            if state.count is not None:
                if state.count <= 0:
                    return FaultState()
                state.count -= 1
            return replace(state)


async def _apply_fault(switch: FaultSwitch) -> Response | None:
    """Return a fault response, or None to serve normally (after any injected latency)."""
    fault = switch.take()
    if fault.mode == "latency" and fault.latency_ms > 0:
        await asyncio.sleep(fault.latency_ms / 1000)
    elif fault.mode == "error":
        return JSONResponse({"error": "injected_fault"}, status_code=fault.status)
    elif fault.mode == "malformed":
        return Response('{"orders": [ this is not json', media_type="application/json")
    return None


def _parse_faults(body: Any) -> FaultState:
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    state = FaultState(
        mode=body.get("mode", "none"),
        status=body.get("status", 503),
        latency_ms=body.get("latency_ms", 0),
        count=body.get("count"),
    )
    if state.mode not in FAULT_MODES:
        raise ValueError(f"mode must be one of {FAULT_MODES}")
    if not isinstance(state.status, int) or not 400 <= state.status <= 599:
        raise ValueError("status must be an HTTP error status")
    if not isinstance(state.latency_ms, int) or not 0 <= state.latency_ms <= 60_000:
        raise ValueError("latency_ms must be 0..60000")
    if state.count is not None and (not isinstance(state.count, int) or state.count < 0):
        raise ValueError("count must be null or a non-negative integer")
    return state


def parse_orders(body: Any) -> list[OrderData]:
    """A JSON list of wire-format orders, each validated like the app's client does."""
    if not isinstance(body, list):
        raise ValueError("expected a JSON list of orders")
    if len(body) > MAX_ADMIN_BATCH:
        raise ValueError(f"at most {MAX_ADMIN_BATCH} orders per request")
    orders = []
    for index, item in enumerate(body):
        try:
            orders.append(OrderData.from_json(item))
        except ValueError as exc:
            raise ValueError(f"orders[{index}]: {exc}") from exc
    return orders


def create_orders_app(db: SandboxDB, enable_faults: bool = True) -> Starlette:
    """The order-system ASGI app on ``db``; mount it (under /orders) or serve it alone."""
    switch = FaultSwitch()

    def bad(error: str, detail: str, status: int = 400) -> Response:
        return JSONResponse({"error": error, "detail": detail}, status_code=status)

    def read(fn, *args):
        def run():
            with db.read() as conn:
                return fn(conn, *args)
        return run_in_threadpool(run)

    async def health(request: Request) -> Response:
        count = await read(lambda conn: conn.execute("SELECT count(*) FROM orders").fetchone()[0])
        return JSONResponse({"status": "ok", "orders": count, "anchor": db.anchor.isoformat()})

    async def list_orders(request: Request) -> Response:
        if (fault := await _apply_fault(switch)) is not None:
            return fault
        return JSONResponse({"orders": await read(customer_orders_json, request.path_params["customer_id"])})

    async def get_order(request: Request) -> Response:
        if (fault := await _apply_fault(switch)) is not None:
            return fault
        found = await read(order_json, request.path_params["order_id"])
        return JSONResponse(found) if found is not None else JSONResponse({"error": "not_found"}, status_code=404)

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(switch.get().to_json())
        try:
            state = _parse_faults(await request.json())
        except ValueError as exc:  # includes JSONDecodeError
            return bad("invalid", str(exc))
        switch.set(state)
        return JSONResponse(state.to_json())

    async def admin_orders(request: Request) -> Response:
        try:
            orders = parse_orders(await request.json())
        except ValueError as exc:  # includes JSONDecodeError
            return bad("invalid", str(exc))

        def write() -> int:
            with db.write() as conn:
                return upsert_orders(conn, orders)

        try:
            count = await run_in_threadpool(write)
        except sqlite3.IntegrityError as exc:  # nothing of the batch was written
            return bad("payment_reference_conflict", str(exc), status=409)
        return JSONResponse({"upserted": count})

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/customers/{customer_id}/orders", list_orders, methods=["GET"]),
        Route("/orders/{order_id}", get_order, methods=["GET"]),
    ]
    if enable_faults:  # test and demo controls
        routes += [Route("/_faults", faults, methods=["GET", "POST"]),
                   Route("/_admin/orders", admin_orders, methods=["POST"])]
    app = Starlette(routes=routes)
    app.state.db = db
    return app
