"""Refund amounts: exact per-unit amounts, refundable quantities, and drafting a refund.

Pure: no I/O. Money is integer minor units.

Amounts. A unit costs ``unit_price − its share of the discount + its share of the
tax``; each total is split over the units by the largest-remainder rule, earlier units
taking the extra cent. The per-unit amounts are then listed largest first, and a refund
of the next ``n`` units takes the next ``n`` amounts (see ``unit_amounts``). Largest
first means a refund drafted after an earlier one was released can never take more
than the units were paid; if the existing refunds record their amounts, any cent a
released refund left behind is added back (``DraftItem.adjustment``) so refunding every
unit always returns exactly what the line cost.

What is left of the payment. Per order (an order has one currency), the money that
went back or is on its way — gateway refunds that are refunded, approved or
processing, at their amount — plus every settlement, at its settled amount, never
exceeds ``amount_paid`` (``payment_left``). A requested refund is not money yet: it
is checked against what is left when it is asked for (``build_refund``) and again when
it is approved or retried (``check_refund_fits``), a settlement when it is recorded
(refund_decisions.check_settlement) — each under the order's lock, so two decisions
can never both take the last euro.

Shipping. Shipping plus its tax is refunded at most once per order: automatically
when this refund, with those already held, covers every unit of every line (the
whole order comes back), or when the reason is the shop's fault (``not_received``,
``wrong_item``); never when a holding refund already includes it. An agent may
force it (``include_shipping=True``; SHIPPING_ALREADY_REFUNDED if already held) or
leave it out (``include_shipping=False``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from support_app.domain.errors import MESSAGES, DomainError, ErrorCode
from support_app.domain.money import format_money
from support_app.domain.refund_rules import (
    REFUND_WINDOW_DAYS,
    SHOP_FAULT_REASONS,
    RefundReason,
    RefundStatus,
    Verdict,
    as_utc,
    holds_quantity,
    window_verdict,
)

R = RefundStatus


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _split(total: int, parts: int) -> list[int]:
    """Largest remainder over equal weights: every part gets ``total // parts``, the first
    ``total % parts`` get one more. 100 over 3 → [34, 33, 33]."""
    base, extra = divmod(total, parts)
    return [base + 1 if i < extra else base for i in range(parts)]


def unit_amounts(quantity: int, unit_price: int, discount_total: int, tax_total: int) -> list[int]:
    """What the customer paid for each unit of a line, largest first; sums to the line total.

    Largest first because refunds take the next units in this order: if an earlier refund
    is released, a later slice can only be cheaper, so a line is never over-refunded.

    qty 3, unit 1200, discount 100, tax 665: discount shares [34, 33, 33], tax shares
    [222, 222, 221] → units 1200−34+222=1388, 1389, 1388 → listed [1389, 1388, 1388],
    sum 4165 = 3·1200 − 100 + 665.
    """
    for name, v in (("quantity", quantity), ("unit_price", unit_price), ("discount_total", discount_total), ("tax_total", tax_total)):
        if not _is_int(v) or v < 0:
            raise ValueError(f"{name} must be a non-negative int")
    if quantity == 0:
        raise ValueError("quantity must be at least 1")
    if discount_total > quantity * unit_price:
        raise ValueError("discount_total exceeds the line's price")
    units = [unit_price - d + t for d, t in zip(_split(discount_total, quantity), _split(tax_total, quantity))]
    return sorted(units, reverse=True)


@dataclass(frozen=True)
class LineFacts:
    line_id: str
    name: str
    quantity: int
    unit_price: int
    discount_total: int = 0
    tax_total: int = 0

    def __post_init__(self) -> None:
        unit_amounts(self.quantity, self.unit_price, self.discount_total, self.tax_total)  # validates

    @property
    def units(self) -> list[int]:
        return unit_amounts(self.quantity, self.unit_price, self.discount_total, self.tax_total)

    @property
    def paid_total(self) -> int:
        return self.quantity * self.unit_price - self.discount_total + self.tax_total


def amount_for(units_already_refunded: int, qty: int, line: LineFacts) -> int:
    """The refund for the next ``qty`` units after ``units_already_refunded`` held ones.

    Line above: 1 unit → 1389; then 2 units → 1388 + 1388; together 4165, the line total.
    """
    k = units_already_refunded
    if not (_is_int(k) and _is_int(qty)) or k < 0 or qty < 0 or k + qty > line.quantity:
        raise ValueError("units out of range for this line")
    return sum(line.units[k:k + qty])


# ---------------------------------------------------------------- orders and refunds

@dataclass(frozen=True)
class OrderFacts:
    currency: str
    delivered_at: datetime | None
    lines: tuple[LineFacts, ...]
    shipping_amount: int = 0
    shipping_tax: int = 0
    amount_paid: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))
        if self.delivered_at is not None:
            object.__setattr__(self, "delivered_at", as_utc(self.delivered_at, "delivered_at"))
        for name in ("shipping_amount", "shipping_tax", "amount_paid"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a non-negative int")
        if len({ln.line_id for ln in self.lines}) != len(self.lines):
            raise ValueError("line ids must be unique")

    @property
    def shipping_total(self) -> int:
        return self.shipping_amount + self.shipping_tax


# Gateway refunds whose money went back (refunded) or is on its way (approved, processing).
GATEWAY_MONEY = frozenset({R.APPROVED, R.PROCESSING, R.REFUNDED})


@dataclass(frozen=True)
class ExistingRefund:
    """A refund already on the order. ``items`` are ``(line_id, qty)`` or
    ``(line_id, qty, amount)``; with amounts recorded, a later refund can give back
    the cents a released one left behind. ``shipping_amount`` includes shipping tax.
    ``amount`` is the refund's total and ``settled_amount`` what a settlement gave:
    they say how much of the payment it used (``money_out``)."""

    status: RefundStatus
    abandoned: bool = False
    items: tuple[tuple, ...] = ()
    shipping_amount: int = 0
    amount: int = 0
    settled_amount: int | None = None
    refund_id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", RefundStatus(self.status))
        object.__setattr__(self, "items", tuple(tuple(i) for i in self.items))

    @property
    def holds(self) -> bool:
        return holds_quantity(self.status, self.abandoned)

    @property
    def money_out(self) -> int:
        """What this refund took from the order's payment: a gateway refund refunded or
        in flight its amount, a settlement its settled amount, anything else nothing
        (requested, rejected, cancelled, and failed — a failed refund moved no money;
        its retry is checked again)."""
        if self.status in GATEWAY_MONEY:
            return self.amount
        if self.status is R.SETTLED:
            return self.settled_amount or 0
        return 0


def payment_left(amount_paid: int, existing: Iterable[ExistingRefund], excluding: int | None = None) -> int:
    """``amount_paid`` − the money every other refund took (``money_out``); may be
    negative only for a history that already broke the rule. ``excluding`` leaves one
    refund out (the one being decided).

    Paid 7128; refunded 2777, processing 2380, settled 500 → 1471 left.
    """
    return amount_paid - sum(r.money_out for r in existing if excluding is None or r.refund_id != excluding)


def check_refund_fits(amount: int, left: int, currency: str) -> None:
    """An approval or retry sends ``amount`` through the gateway: it must fit in what is
    left of the payment (ORDER_OVER_REFUNDED, saying how much is left and what to do)."""
    if amount > left:
        m = lambda v: format_money(max(0, v), currency)  # noqa: E731
        raise DomainError(ErrorCode.ORDER_OVER_REFUNDED,
                          f"Only {m(left)} of this order's payment is left, less than this refund's {m(amount)}: "
                          f"the rest was already refunded or settled. Reject it, or record a settlement of at most {m(left)}."
                          if left > 0 else
                          "Nothing of this order's payment is left: it was already refunded or settled in full. "
                          "Reject this refund.")


def refundable_quantity(purchased: int, holds: Iterable[tuple[str, int, bool]]) -> int:
    """purchased − Σ quantity of holding refunds; ``holds`` = (status, quantity, abandoned)."""
    return purchased - sum(q for status, q, abandoned in holds if holds_quantity(status, abandoned))


def _held(line_id: str, existing: Iterable[ExistingRefund]) -> tuple[int, int | None]:
    """(quantity held on the line, recorded amount held — None if any item lacks one)."""
    qty, amount = 0, 0
    for refund in existing:
        if refund.holds:
            for item in refund.items:
                if item[0] == line_id:
                    qty += item[1]
                    amount = None if amount is None or len(item) < 3 else amount + item[2]
    return qty, amount


@dataclass(frozen=True)
class LinePreview:
    line_id: str
    name: str
    purchased: int
    held: int
    refundable: int  # not held by any refund
    refundable_now: int  # through the gateway at requested_at (0 outside the window)
    unit_amounts: tuple[int, ...]
    paid_total: int
    deadline: datetime | None
    verdict: Verdict


def preview(order: OrderFacts, existing: list[ExistingRefund], requested_at: datetime,
            window_days: int = REFUND_WINDOW_DAYS) -> list[LinePreview]:
    """One row per line for the refund form: what is left, what each unit paid, until when."""
    verdict = window_verdict(order.delivered_at, requested_at, window_days)
    rows = []
    for line in order.lines:
        held = _held(line.line_id, existing)[0]
        left = max(0, line.quantity - held)
        rows.append(LinePreview(line.line_id, line.name, line.quantity, held, left,
                                left if verdict.eligible else 0, tuple(line.units), line.paid_total,
                                verdict.deadline, verdict))
    return rows


@dataclass(frozen=True)
class DraftItem:
    line_id: str
    quantity: int
    unit_amounts: tuple[int, ...]  # the slice of the line's unit amounts this refund takes
    amount: int  # sum(unit_amounts) + adjustment
    # +cents a released refund left behind, given back now; −cents a still-held refund
    # already returned. 0 unless refunds on this line were released.
    adjustment: int = 0


@dataclass(frozen=True)
class RefundDraft:
    items: tuple[DraftItem, ...]
    shipping_amount: int  # shipping + its tax, or 0
    total: int
    currency: str
    reason: RefundReason
    verdict: Verdict | None = field(default=None, compare=False)


_DIGITS = re.compile(r"[0-9]{1,9}")


def parse_quantity(value: object) -> int:
    """Ints and digit strings; None or blank means 0. Bools, floats, "1.5", "-1", "²" are refused."""
    if value is None:
        return 0
    if _is_int(value):
        if value < 0:
            raise DomainError(ErrorCode.INVALID_QUANTITY, "A quantity cannot be negative.")
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0
        if _DIGITS.fullmatch(text):
            return int(text)
    raise DomainError(ErrorCode.INVALID_QUANTITY)


def build_refund(order: OrderFacts, existing: list[ExistingRefund], selection: Mapping[str, object],
                 reason: object, requested_at: datetime, window_days: int = REFUND_WINDOW_DAYS,
                 include_shipping: bool | None = None, *, for_settlement: bool = False) -> RefundDraft:
    """Validate a selection ``{line_id: quantity}`` and price it exactly.

    Checks, in order: reason, lines, quantities, something chosen, window (gateway
    refunds only), refundable quantity, that the holding refunds' items plus this one
    never exceed ``amount_paid``, and (gateway refunds only) that this refund fits in
    what is left of the payment after the money already refunded, in flight or settled
    (both ORDER_OVER_REFUNDED). A settlement's own amount is checked by
    refund_decisions.check_settlement.
    """
    try:
        why = RefundReason(reason)
    except ValueError:
        raise DomainError(ErrorCode.INVALID_REASON, fields={"reason": MESSAGES[ErrorCode.INVALID_REASON]}) from None
    verdict = window_verdict(order.delivered_at, requested_at, window_days)
    lines = {ln.line_id: ln for ln in order.lines}
    chosen: dict[str, int] = {}
    for line_id, raw in selection.items():
        if line_id not in lines:
            raise DomainError(ErrorCode.LINE_NOT_IN_ORDER, fields={str(line_id): MESSAGES[ErrorCode.LINE_NOT_IN_ORDER]})
        try:
            qty = parse_quantity(raw)
        except DomainError as err:
            raise DomainError(err.code, err.message, fields={line_id: err.message}) from None
        if qty > lines[line_id].quantity:
            msg = f"Only {lines[line_id].quantity} were bought."
            raise DomainError(ErrorCode.INVALID_QUANTITY, msg, fields={line_id: msg})
        if qty:
            chosen[line_id] = qty

    holding = [r for r in existing if r.holds]
    shipping_held = any(r.shipping_amount > 0 for r in holding)
    if include_shipping and shipping_held:
        raise DomainError(ErrorCode.SHIPPING_ALREADY_REFUNDED)
    if not chosen and not (include_shipping and order.shipping_total > 0):
        raise DomainError(ErrorCode.EMPTY_REFUND)
    if not for_settlement and not verdict.eligible:
        raise DomainError(verdict.code, fields={"window": verdict.text})

    items, after = [], 0  # after: what the holding refunds plus this one return for the lines
    whole_order = True
    for line in order.lines:
        held_qty, held_amount = _held(line.line_id, holding)
        qty = chosen.get(line.line_id, 0)
        if qty and qty > line.quantity - held_qty:
            msg = f"Only {max(0, line.quantity - held_qty)} left to refund."
            raise DomainError(ErrorCode.QUANTITY_EXCEEDS_REFUNDABLE, msg, fields={line.line_id: msg})
        units = line.units
        prefix_before, prefix_after = sum(units[:held_qty]), sum(units[:held_qty + qty])
        recorded = prefix_before if held_amount is None else held_amount
        if qty:
            # The line's holdings become exactly prefix_after: equal to the slice unless a
            # released refund left cents behind (or a held one already returned them).
            amount = max(0, prefix_after - recorded)
            slice_ = tuple(units[held_qty:held_qty + qty])
            items.append(DraftItem(line.line_id, qty, slice_, amount, amount - sum(slice_)))
            recorded += amount
        after += recorded
        whole_order = whole_order and held_qty + qty >= line.quantity

    if include_shipping is None:
        include_shipping = not shipping_held and (whole_order or why in SHOP_FAULT_REASONS)
    shipping = order.shipping_total if include_shipping else 0
    draft_total = sum(i.amount for i in items) + shipping
    shipping_after = shipping + sum(r.shipping_amount for r in holding)
    if after + shipping_after > order.amount_paid:
        raise DomainError(ErrorCode.ORDER_OVER_REFUNDED)
    left = payment_left(order.amount_paid, existing)
    if not for_settlement and draft_total > left:
        m = lambda v: format_money(max(0, v), order.currency)  # noqa: E731
        raise DomainError(ErrorCode.ORDER_OVER_REFUNDED,
                          f"Only {m(left)} of this order's payment is left to refund: the rest was already refunded or settled."
                          if left > 0 else
                          "Nothing of this order's payment is left to refund: it was already refunded or settled in full.")
    return RefundDraft(tuple(items), shipping, draft_total, order.currency, why, verdict)

