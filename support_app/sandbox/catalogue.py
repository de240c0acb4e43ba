"""The demo catalogue the order-system sandbox starts with.

Offsets are relative to ``now`` (the sandbox's first start, kept in its database),
so the 14-day refund window has orders on both sides of its boundary: delivered
2, 13 and 15 days before that moment, plus undelivered ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from support_app.integrations.order_data import OrderData, OrderLineData

# (external customer id, email, full name) — the demo seed creates matching accounts.
DEMO_CUSTOMERS: list[tuple[str, str, str]] = [
    ("C-1001", "alice@example.com", "Alice Martin"),
    ("C-1002", "bob@example.com", "Bob Chen"),
    ("C-1003", "carol@example.com", "Carol Diaz"),
]


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
