"""A small in-memory order system so the product runs and is tested with nothing else.

It speaks the same HTTP contract the real order system is expected to speak, so
pointing ``SUPPORT_ORDER_SYSTEM_URL`` elsewhere is a configuration change. Demo
data is generated relative to ``now`` so the 14-day refund window always has
orders on both sides of its boundary. A fault switch (``/_faults``) lets tests
and demos make the order endpoints fail, slow down or return garbage on purpose.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_app.integrations.order_data import OrderData, OrderLineData

# (external customer id, email, full name) — the seeder creates matching accounts.
DEMO_CUSTOMERS: list[tuple[str, str, str]] = [
    ("C-1001", "alice@example.com", "Alice Martin"),
    ("C-1002", "bob@example.com", "Bob Chen"),
    ("C-1003", "carol@example.com", "Carol Diaz"),
]

FAULT_MODES = ("none", "error", "latency", "malformed")


def _line(line_id: str, sku: str, name: str, qty: int, unit: int, discount: int, tax: int) -> OrderLineData:
    return OrderLineData(line_id, sku, name, qty, unit, discount, tax)


def _order(
    order_id: str,
    customer_id: str,
    now: datetime,
    placed_days: float,
    delivered_days: float | None,
    status: str,
    currency: str,
    lines: list[OrderLineData],
    shipping: int,
    shipping_tax: int,
) -> OrderData:
    """Build a consistent order: amount_paid is derived, never typed by hand."""
    paid = sum(item.paid_total for item in lines) + shipping + shipping_tax
    return OrderData(
        order_id=order_id,
        customer_id=customer_id,
        placed_at=now - timedelta(days=placed_days),
        delivered_at=None if delivered_days is None else now - timedelta(days=delivered_days),
        status=status,
        currency=currency,
        lines=tuple(lines),
        shipping_amount=shipping,
        shipping_tax=shipping_tax,
        amount_paid=paid,
        payment_reference=f"PAY-{order_id.removeprefix('ORD-')}",
    )


def demo_orders(now: datetime) -> list[OrderData]:
    """The demo catalogue; offsets are exact so the window boundary is testable."""
    d = "delivered"
    return [
        # Alice: 3 mugs with a 1.00 discount that does not split evenly over 3 units.
        _order("ORD-1001-1", "C-1001", now, 5, 2, d, "EUR", [
            _line("L1", "MUG-BLUE", "Blue ceramic mug", 3, 1200, 100, 665),
            _line("L2", "TEA-SAMPLER", "Tea sampler box", 1, 2500, 0, 475),
            _line("L3", "COASTER-4", "Cork coasters (4)", 2, 450, 0, 171),
        ], 495, 94),
        _order("ORD-1001-2", "C-1001", now, 16, 13, d, "EUR", [
            _line("L1", "KETTLE-STEEL", "Steel kettle", 1, 4999, 500, 855),
        ], 0, 0),
        _order("ORD-1001-3", "C-1001", now, 18, 15, d, "EUR", [
            _line("L1", "TEAPOT-GLASS", "Glass teapot", 1, 3200, 0, 608),
            _line("L2", "INFUSER", "Tea infuser", 2, 600, 0, 228),
        ], 495, 94),
        _order("ORD-1001-4", "C-1001", now, 3, None, "shipped", "EUR", [
            _line("L1", "GRINDER", "Burr coffee grinder", 1, 8900, 0, 1691),
        ], 0, 0),
        _order("ORD-1001-5", "C-1001", now, 0.5, None, "processing", "EUR", [
            _line("L1", "BEANS-1KG", "Coffee beans 1 kg", 2, 2400, 0, 336),
        ], 495, 94),
        # Bob: one recent EUR order and one USD order.
        _order("ORD-1002-1", "C-1002", now, 4, 1, d, "EUR", [
            _line("L1", "MUG-RED", "Red ceramic mug", 2, 1200, 0, 456),
            _line("L2", "SPOON-SET", "Tea spoons (6)", 1, 1500, 150, 257),
        ], 495, 94),
        _order("ORD-1002-2", "C-1002", now, 10, 7, d, "USD", [
            _line("L1", "FRENCH-PRESS", "French press", 1, 3500, 0, 289),
            _line("L2", "FILTER-100", "Paper filters (100)", 3, 399, 0, 99),
        ], 799, 0),
        # Carol: one order delivered a week ago.
        _order("ORD-1003-1", "C-1003", now, 9, 6, d, "EUR", [
            _line("L1", "CHAI-TIN", "Masala chai tin", 4, 850, 200, 608),
        ], 495, 94),
    ]


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


class OrdersSandbox:
    """In-memory store plus fault switch; a lock keeps it safe under threaded servers."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._orders = {order.order_id: order for order in demo_orders(now)}
        self._faults = FaultState()
        self._lock = threading.Lock()

    def set_faults(self, state: FaultState) -> None:
        with self._lock:
            self._faults = state

    def faults(self) -> FaultState:
        with self._lock:
            return replace(self._faults)

    def take_fault(self) -> FaultState:
        """Count a request and return the fault to apply to it (mode 'none' if none)."""
        with self._lock:
            state = self._faults
            state.requests += 1
            if state.mode == "none":
                return FaultState()
            if state.count is not None:
                if state.count <= 0:
                    return FaultState()
                state.count -= 1
            return replace(state)

    def order(self, order_id: str) -> OrderData | None:
        with self._lock:
            return self._orders.get(order_id)

    def customer_orders(self, customer_id: str) -> list[OrderData]:
        with self._lock:
            found = [o for o in self._orders.values() if o.customer_id == customer_id]
        return sorted(found, key=lambda o: o.placed_at, reverse=True)


async def _apply_fault(sandbox: OrdersSandbox) -> Response | None:
    """Return a fault response, or None to serve normally (after any injected latency)."""
    fault = sandbox.take_fault()
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


def create_orders_app(now: datetime | None = None, enable_faults: bool = True) -> Starlette:
    """Build the sandbox ASGI app; mount it (e.g. under /sandbox/orders) or serve it alone."""
    if now is None:
        now = datetime.now(timezone.utc).replace(microsecond=0)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    sandbox = OrdersSandbox(now.astimezone(timezone.utc))

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def list_orders(request: Request) -> Response:
        if (fault := await _apply_fault(sandbox)) is not None:
            return fault
        orders = sandbox.customer_orders(request.path_params["customer_id"])
        return JSONResponse({"orders": [o.to_json() for o in orders]})

    async def get_order(request: Request) -> Response:
        if (fault := await _apply_fault(sandbox)) is not None:
            return fault
        order = sandbox.order(request.path_params["order_id"])
        if order is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return JSONResponse(order.to_json())

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(sandbox.faults().to_json())
        try:
            state = _parse_faults(await request.json())
        except ValueError as exc:  # includes JSONDecodeError
            return JSONResponse({"error": "invalid", "detail": str(exc)}, status_code=400)
        sandbox.set_faults(state)
        return JSONResponse(state.to_json())

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/customers/{customer_id}/orders", list_orders, methods=["GET"]),
        Route("/orders/{order_id}", get_order, methods=["GET"]),
    ]
    if enable_faults:
        routes.append(Route("/_faults", faults, methods=["GET", "POST"]))
    app = Starlette(routes=routes)
    app.state.sandbox = sandbox
    return app
