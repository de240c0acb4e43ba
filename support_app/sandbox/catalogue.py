"""The demo catalogue the order-system sandbox starts with.

Offsets are relative to ``now`` (the sandbox's first start, kept in its database),
so the 14-day refund window has orders on both sides of its boundary: delivered
2, 13 and 15 days before that moment, plus undelivered ones.

Beside Alice, Bob and Carol's hand-written orders, ``history_orders`` generates the
order history of the demo's other customers (C-2001 …) over the 100 days before
``now``, from a fixed seed: the same anchor gives the same orders, to the cent and
the second. The demo history (support_app.devdata.history) opens its cases on them.
"""

from __future__ import annotations

import random
import unicodedata
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
    delivered_at = None if delivered_days is None else now - timedelta(days=delivered_days)
    return _priced(order_id, customer_id, now - timedelta(days=placed_days), delivered_at, status, currency, lines,
                   shipping, shipping_tax)


def _priced(
    order_id: str,
    customer_id: str,
    placed_at: datetime,
    delivered_at: datetime | None,
    status: str,
    currency: str,
    lines: list[OrderLineData],
    shipping: int,
    shipping_tax: int,
) -> OrderData:
    paid = sum(item.paid_total for item in lines) + shipping + shipping_tax
    return OrderData(
        order_id=order_id,
        customer_id=customer_id,
        placed_at=placed_at,
        delivered_at=delivered_at,
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


# -- the generated history ------------------------------------------------------------

HISTORY_SEED = 2026  # fixed: the history depends on the anchor only through its dates
HISTORY_DAYS = 100  # orders are placed over this many days before the anchor

_HISTORY_NAMES = (
    "Dana Whitfield", "Marcus Okafor", "Lena Hoffmann", "Tomás Herrera", "Priya Raman", "Jonas Lindqvist",
    "Aisha Bello", "Hugo Lefèvre", "Mei Tanaka", "Oliver Grant", "Sofia Conti", "Ethan Brooks", "Ingrid Solberg",
    "Mateo Álvarez", "Chloe Dubois", "Kwame Mensah", "Hannah Weber", "Lucas Moreau", "Zara Qureshi", "Felix Braun",
    "Nora Kelly", "Diego Santos", "Amelie Fischer", "Ravi Iyer", "Grace O'Neill", "Emil Nyström", "Yasmin Haddad",
    "Theo Marchetti", "Clara Jansen", "Samuel Adeyemi", "Elena Petrova", "Noah Fitzgerald", "Ines Carvalho",
    "Kenji Watanabe", "Maja Kowalska", "Leo Novak", "Rosa Jiménez",
)


def _email(name: str) -> str:
    """'Tomás Herrera' → 'tomas.herrera@example.com' (accents folded, apostrophes dropped)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower().replace("'", "")
    return ".".join(ascii_name.split()) + "@example.com"


# (external customer id, email, full name) — the demo history creates matching accounts.
HISTORY_CUSTOMERS: list[tuple[str, str, str]] = [
    (f"C-{2001 + k}", _email(name), name) for k, name in enumerate(_HISTORY_NAMES)
]

# (sku, name, EUR price, USD price) in minor units.
PRODUCTS: tuple[tuple[str, str, int, int], ...] = (
    ("MUG-BLUE", "Blue ceramic mug", 1200, 1400), ("MUG-RED", "Red ceramic mug", 1200, 1400),
    ("TEA-SAMPLER", "Tea sampler box", 2500, 2900), ("COASTER-4", "Cork coasters (4)", 450, 550),
    ("KETTLE-STEEL", "Steel kettle", 4999, 5499), ("TEAPOT-GLASS", "Glass teapot", 3200, 3600),
    ("INFUSER", "Tea infuser", 600, 700), ("GRINDER", "Burr coffee grinder", 8900, 9900),
    ("BEANS-1KG", "Coffee beans 1 kg", 2400, 2600), ("SPOON-SET", "Tea spoons (6)", 1500, 1700),
    ("FRENCH-PRESS", "French press", 3500, 3500), ("FILTER-100", "Paper filters (100)", 399, 399),
    ("CHAI-TIN", "Masala chai tin", 850, 950), ("POUR-OVER", "Ceramic pour-over dripper", 2800, 3100),
    ("SCALE", "Digital coffee scale", 3900, 4300), ("MATCHA-WHISK", "Bamboo matcha whisk", 1300, 1500),
    ("MATCHA-50", "Ceremonial matcha 50 g", 2200, 2500), ("CUPS-ESP", "Espresso cups (2)", 1800, 2000),
    ("THERMOS", "Insulated travel flask", 2900, 3200), ("GOOSENECK", "Gooseneck kettle", 6900, 7500),
    ("MILK-FROTH", "Milk frother", 3400, 3800), ("DECAF-500", "Decaf beans 500 g", 1400, 1600),
    ("EARL-GREY", "Loose-leaf Earl Grey 250 g", 1100, 1300), ("CANISTER", "Airtight coffee canister", 2100, 2300),
)
# EUR: 19 % VAT, shipping €4.95 + VAT, free from €50. USD: 8.25 % sales tax, shipping $7.99, free from $75.
_TAX = {"EUR": (19, 100), "USD": (825, 10_000)}
_SHIPPING = {"EUR": (495, 94, 5_000), "USD": (799, 0, 7_500)}
# Days in transit, and how often: most parcels take 2-5 days, a few are late.
_TRANSIT_DAYS = (2, 3, 4, 5, 7, 11)
_TRANSIT_WEIGHTS = (25, 30, 20, 12, 8, 5)
LOST_SHARE = 0.02  # parcels shipped but never delivered


def _tax(net: int, currency: str) -> int:
    rate, scale = _TAX[currency]
    return (net * rate + scale // 2) // scale


def _history_lines(rng: random.Random, currency: str) -> list[OrderLineData]:
    lines = []
    for n, (sku, name, eur, usd) in enumerate(rng.sample(PRODUCTS, rng.choices((1, 2, 3, 4), (40, 32, 18, 10))[0]), 1):
        unit = eur if currency == "EUR" else usd
        qty = rng.choices((1, 2, 3, 4, 6), (55, 25, 10, 6, 4))[0] if unit < 2000 else rng.choices((1, 2), (85, 15))[0]
        gross = qty * unit
        discount = 0
        if rng.random() < 0.2:  # a coupon: 10 % off the line, or a fixed amount
            discount = gross // 10 if rng.random() < 0.6 else min(gross, rng.choice((100, 200, 250, 500)))
        lines.append(OrderLineData(f"L{n}", sku, name, qty, unit, discount, _tax(gross - discount, currency)))
    return lines


def history_orders(now: datetime) -> list[OrderData]:
    """The generated customers' orders, placed over the ``HISTORY_DAYS`` before ``now``.

    Deterministic (``HISTORY_SEED``): every offset is whole seconds before ``now``, so
    the same anchor gives the same orders. An order is ``processing`` for its first
    day, ``shipped`` until it is delivered 2-11 days after it was placed, and
    ``delivered`` after; a few parcels were lost (shipped weeks ago, never delivered).
    Orders of one customer are numbered oldest first: ORD-2001-1, ORD-2001-2 …
    """
    rng = random.Random(HISTORY_SEED)
    orders = []
    for cid, _, _ in HISTORY_CUSTOMERS:
        currency = "USD" if rng.random() < 0.3 else "EUR"
        count = rng.randint(8, 15)
        # Business grows: the last 30 days see twice the orders of the months before.
        ages = sorted((rng.randint(3 * 3600, (HISTORY_DAYS if rng.random() < 0.75 else 30) * 86400)
                       for _ in range(count)), reverse=True)
        for n, age in enumerate(ages, 1):
            lines = _history_lines(rng, currency)
            transit = rng.choices(_TRANSIT_DAYS, _TRANSIT_WEIGHTS)[0] * 86400 + rng.randint(0, 10 * 3600)
            lost = rng.random() < LOST_SHARE
            placed_at = now - timedelta(seconds=age)
            delivered_at = None if lost or transit > age else placed_at + timedelta(seconds=transit)
            status = "delivered" if delivered_at else ("processing" if age < 86400 else "shipped")
            ship, ship_tax, free_from = _SHIPPING[currency]
            goods = sum(line.quantity * line.unit_price - line.discount_total for line in lines)
            shipping = (0, 0) if goods >= free_from else (ship, ship_tax)
            orders.append(_priced(f"ORD-{cid[2:]}-{n}", cid, placed_at, delivered_at, status, currency, lines,
                                  *shipping))
    return orders
