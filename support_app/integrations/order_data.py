"""The order system's view of an order, as plain frozen values.

These travel from the order client into services and into a case's snapshot, so
they are immutable, carry money as integer minor units, and parse strictly: a
malformed payload from the order system must fail loudly here (ValueError) rather
than surface later as a wrong refund amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

ORDER_STATUSES = ("processing", "shipped", "delivered")


def format_ts(value: datetime) -> str:
    """ISO-8601 in UTC with a 'Z' suffix, the wire format of the order system."""
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_ts(value: Any, field: str) -> datetime:
    """Parse an aware ISO-8601 timestamp and normalise it to UTC."""
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{field}: not an ISO-8601 timestamp") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"{field}: timestamp has no timezone")
    return parsed.astimezone(timezone.utc)


def _int(data: dict[str, Any], field: str, minimum: int = 0) -> int:
    value = data.get(field)
    # bool is an int subclass; a JSON true must not pass as a quantity of 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{field}: expected an integer")
    if value < minimum:
        raise ValueError(f"{field}: must be >= {minimum}")
    return value


def _str(data: dict[str, Any], field: str, max_length: int | None = None) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field}: expected a non-empty string")
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"{field}: longer than {max_length} characters")
    return value


# What a snapshot's order line can hold (models/order.OrderLine): identifiers longer than
# that are refused, a longer name (only ever shown) is shortened.
ID_MAX, NAME_MAX = 64, 200


def _name(data: dict[str, Any]) -> str:
    name = _str(data, "name")
    return name if len(name) <= NAME_MAX else name[:NAME_MAX - 1] + "…"


@dataclass(frozen=True)
class OrderLineData:
    """One order line. discount_total and tax_total are for the whole line, not per unit."""

    line_id: str
    sku: str
    name: str
    quantity: int
    unit_price: int
    discount_total: int
    tax_total: int

    @property
    def paid_total(self) -> int:
        """What the customer paid for this line (before shipping)."""
        return self.quantity * self.unit_price - self.discount_total + self.tax_total

    def to_json(self) -> dict[str, Any]:
        return {
            "line_id": self.line_id,
            "sku": self.sku,
            "name": self.name,
            "quantity": self.quantity,
            "unit_price": self.unit_price,
            "discount_total": self.discount_total,
            "tax_total": self.tax_total,
        }

    @classmethod
    def from_json(cls, data: Any) -> "OrderLineData":
        if not isinstance(data, dict):
            raise ValueError("order line: expected an object")
        line = cls(
            line_id=_str(data, "line_id", ID_MAX),
            sku=_str(data, "sku", ID_MAX),
            name=_name(data),
            quantity=_int(data, "quantity", minimum=1),
            unit_price=_int(data, "unit_price"),
            discount_total=_int(data, "discount_total"),
            tax_total=_int(data, "tax_total"),
        )
        if line.discount_total > line.quantity * line.unit_price:
            raise ValueError("discount_total exceeds the line's price")
        return line


@dataclass(frozen=True)
class OrderData:
    """An order as the order system reports it; amount_paid is checked against the lines."""

    order_id: str
    customer_id: str
    placed_at: datetime
    delivered_at: datetime | None
    status: str
    currency: str
    lines: tuple[OrderLineData, ...]
    shipping_amount: int
    shipping_tax: int
    amount_paid: int
    payment_reference: str

    @property
    def expected_amount_paid(self) -> int:
        return sum(line.paid_total for line in self.lines) + self.shipping_amount + self.shipping_tax

    def line(self, line_id: str) -> OrderLineData | None:
        return next((item for item in self.lines if item.line_id == line_id), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "placed_at": format_ts(self.placed_at),
            "delivered_at": format_ts(self.delivered_at) if self.delivered_at else None,
            "status": self.status,
            "currency": self.currency,
            "lines": [item.to_json() for item in self.lines],
            "shipping_amount": self.shipping_amount,
            "shipping_tax": self.shipping_tax,
            "amount_paid": self.amount_paid,
            "payment_reference": self.payment_reference,
        }

    @classmethod
    def from_json(cls, data: Any) -> "OrderData":
        """Parse and validate; raises ValueError on anything the rules could not trust."""
        if not isinstance(data, dict):
            raise ValueError("order: expected an object")
        raw_lines = data.get("lines")
        if not isinstance(raw_lines, list) or not raw_lines:
            raise ValueError("lines: expected a non-empty list")
        lines = tuple(OrderLineData.from_json(item) for item in raw_lines)
        if len({item.line_id for item in lines}) != len(lines):
            raise ValueError("lines: duplicate line_id")
        status = data.get("status")
        if status not in ORDER_STATUSES:
            raise ValueError(f"status: expected one of {ORDER_STATUSES}")
        currency = _str(data, "currency")
        if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
            raise ValueError("currency: expected an ISO 4217 code")
        raw_delivered = data.get("delivered_at")
        delivered_at = None if raw_delivered is None else parse_ts(raw_delivered, "delivered_at")
        if (status == "delivered") != (delivered_at is not None):
            raise ValueError("delivered_at must be set exactly when status is 'delivered'")
        order = cls(
            order_id=_str(data, "order_id"),
            customer_id=_str(data, "customer_id"),
            placed_at=parse_ts(data.get("placed_at"), "placed_at"),
            delivered_at=delivered_at,
            status=status,
            currency=currency,
            lines=lines,
            shipping_amount=_int(data, "shipping_amount"),
            shipping_tax=_int(data, "shipping_tax"),
            amount_paid=_int(data, "amount_paid"),
            payment_reference=_str(data, "payment_reference"),
        )
        if order.amount_paid != order.expected_amount_paid:
            raise ValueError("amount_paid does not equal the sum of lines and shipping")
        return order
