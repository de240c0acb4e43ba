"""Refund rules: statuses, the 14-day window, exact per-unit amounts, and drafting a refund.

Pure: no I/O, imports nothing of ours but the domain. Money is integer minor units;
time is timezone-aware (naive datetimes raise ValueError) and judged in UTC.

Window. A line is refundable through the gateway when the order was delivered and
the refund is *requested* no later than ``delivered_at + 14 days`` — the boundary
instant is inside, one microsecond later is outside. Delivered 2026-10-22 14:00Z →
deadline 2026-11-05 14:00Z: requested 14:00:00.000000Z is eligible, 14:00:00.000001Z
is REFUND_WINDOW_EXPIRED. The verdict is taken at request time, so a slow agent never
costs the customer; a request time before delivery (clock skew between systems) is
eligible. Undelivered or late requests can still be settled by an agent
(``build_refund(..., for_settlement=True)``).

Amounts. A unit costs ``unit_price − its share of the discount + its share of the
tax``; each total is split over the units by the largest-remainder rule, earlier units
taking the extra cent. The per-unit amounts are then listed largest first, and a refund
of the next ``n`` units takes the next ``n`` amounts (see ``unit_amounts``). Largest
first means a refund drafted after an earlier one was released can never take more
than the units were paid; if the existing refunds record their amounts, any cent a
released refund left behind is added back (``DraftItem.adjustment``) so refunding every
unit always returns exactly what the line cost.

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
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from support_app.domain.case_rules import Role
from support_app.domain.errors import MESSAGES, DomainError, ErrorCode

REFUND_WINDOW_DAYS = 14


class RefundStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    PROCESSING = "processing"
    REFUNDED = "refunded"
    FAILED = "failed"
    REJECTED = "rejected"
    SETTLED = "settled"
    CANCELLED = "cancelled"


class RefundReason(StrEnum):
    DAMAGED = "damaged"
    WRONG_ITEM = "wrong_item"
    NOT_AS_DESCRIBED = "not_as_described"
    NOT_RECEIVED = "not_received"
    CHANGED_MIND = "changed_mind"
    OTHER = "other"


R = RefundStatus
STATUS_LABELS: dict[RefundStatus, str] = {
    R.REQUESTED: "Requested", R.APPROVED: "Approved", R.PROCESSING: "Processing",
    R.REFUNDED: "Refunded", R.FAILED: "Failed", R.REJECTED: "Rejected",
    R.SETTLED: "Settled", R.CANCELLED: "Cancelled",
}
REASON_LABELS: dict[RefundReason, str] = {
    RefundReason.DAMAGED: "Arrived damaged",
    RefundReason.WRONG_ITEM: "Wrong item sent",
    RefundReason.NOT_AS_DESCRIBED: "Not as described",
    RefundReason.NOT_RECEIVED: "Never arrived",
    RefundReason.CHANGED_MIND: "Changed my mind",
    RefundReason.OTHER: "Other",
}
# The shop's fault: the customer also gets the shipping back.
SHOP_FAULT_REASONS = frozenset({RefundReason.WRONG_ITEM, RefundReason.NOT_RECEIVED})

# Quantity stays held while money may still go (or has gone) back. ``failed`` holds
# too — a retry may yet succeed — until an agent abandons it (see ``holds_quantity``).
HOLDING = frozenset({R.REQUESTED, R.APPROVED, R.PROCESSING, R.REFUNDED, R.SETTLED})

AGENT_TRANSITIONS: dict[RefundStatus, frozenset[RefundStatus]] = {
    R.REQUESTED: frozenset({R.APPROVED, R.REJECTED, R.SETTLED}),
    R.APPROVED: frozenset({R.PROCESSING, R.SETTLED}),
    R.PROCESSING: frozenset({R.REFUNDED, R.FAILED}),
    R.FAILED: frozenset({R.PROCESSING, R.SETTLED}),  # retry, or settle another way
    R.REFUNDED: frozenset(), R.REJECTED: frozenset(), R.SETTLED: frozenset(), R.CANCELLED: frozenset(),
}
# A customer may only withdraw a request nobody has decided yet.
CUSTOMER_TRANSITIONS: dict[RefundStatus, frozenset[RefundStatus]] = {
    s: (frozenset({R.CANCELLED}) if s is R.REQUESTED else frozenset()) for s in RefundStatus
}
# Once approved, money is (about to be) moving: a second decision is a duplicate.
_DECIDED = frozenset({R.APPROVED, R.PROCESSING, R.REFUNDED, R.SETTLED})


def holds_quantity(status: str, abandoned: bool = False) -> bool:
    """requested/approved/processing/refunded/settled hold; failed holds until abandoned."""
    s = RefundStatus(status)
    return s in HOLDING or (s is R.FAILED and not abandoned)


def check_refund_transition(current: str, target: str, actor_role: str, *, abandoned: bool = False) -> tuple[RefundStatus, RefundStatus]:
    """Raise unless ``actor_role`` may move a refund from ``current`` to ``target``.

    REFUND_ALREADY_PROCESSED when the refund is already approved or beyond (a second
    approval, a cancel after approval); INVALID_REFUND_TRANSITION otherwise — including
    a customer doing an agent's move, and anything on an abandoned failed refund.
    """
    try:
        src, dst, role = RefundStatus(current), RefundStatus(target), Role(actor_role)
    except ValueError:
        raise DomainError(ErrorCode.INVALID_REFUND_TRANSITION) from None
    if src is R.FAILED and abandoned:
        raise DomainError(ErrorCode.INVALID_REFUND_TRANSITION, "This failed refund was abandoned.")
    table = AGENT_TRANSITIONS if role is Role.AGENT else CUSTOMER_TRANSITIONS
    if dst in table[src]:
        return src, dst
    other = CUSTOMER_TRANSITIONS if role is Role.AGENT else AGENT_TRANSITIONS
    if dst in other[src]:
        who = "the customer" if role is Role.AGENT else "an agent"
        raise DomainError(ErrorCode.INVALID_REFUND_TRANSITION, f"Only {who} can do that.")
    if src in _DECIDED:
        raise DomainError(ErrorCode.REFUND_ALREADY_PROCESSED, f"This refund is already {STATUS_LABELS[src].lower()}.")
    raise DomainError(
        ErrorCode.INVALID_REFUND_TRANSITION,
        f"A refund that is {STATUS_LABELS[src].lower()} cannot be moved to {STATUS_LABELS[dst].lower()}.",
    )


def check_abandon(current: str, actor_role: str, *, abandoned: bool = False) -> None:
    """Only an agent abandons, and only a failed refund not yet abandoned; it releases the quantity."""
    if RefundStatus(current) is not R.FAILED or abandoned or Role(actor_role) is not Role.AGENT:
        raise DomainError(ErrorCode.INVALID_REFUND_TRANSITION, "Only a failed refund can be abandoned, by an agent.")


# ---------------------------------------------------------------- window

def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise ValueError(f"{name} must be a datetime")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC)


def _check_days(window_days: int) -> int:
    if not isinstance(window_days, int) or isinstance(window_days, bool) or window_days < 0:
        raise ValueError("window_days must be a non-negative int")
    return window_days


def refund_deadline(delivered_at: datetime, window_days: int = REFUND_WINDOW_DAYS) -> datetime:
    """The last instant (inclusive) a gateway refund may be requested, in UTC.

    Converted to UTC *before* adding, so the window is exactly ``window_days × 86400``
    seconds even across a daylight-saving change: 2026-10-22T23:30-12:00 → 2026-11-06T11:30Z.
    """
    return _utc(delivered_at, "delivered_at") + timedelta(days=_check_days(window_days))


@dataclass(frozen=True)
class Verdict:
    eligible: bool
    code: ErrorCode | None
    deadline: datetime | None
    days_after_delivery: int | None  # whole days elapsed; 0 on clock skew
    text: str


def window_verdict(delivered_at: datetime | None, requested_at: datetime, window_days: int = REFUND_WINDOW_DAYS) -> Verdict:
    """Is a request made at ``requested_at`` inside the window? ``requested_at <= deadline``.

    >>> window_verdict(datetime(2026, 10, 22, 14, tzinfo=UTC), datetime(2026, 10, 25, 9, tzinfo=UTC)).text
    'requested 2 days after delivery — within window'
    """
    requested = _utc(requested_at, "requested_at")
    days = _check_days(window_days)
    if delivered_at is None:
        return Verdict(False, ErrorCode.ORDER_NOT_DELIVERED, None, None, "not delivered yet — no refund window")
    delivered = _utc(delivered_at, "delivered_at")
    deadline = delivered + timedelta(days=days)
    elapsed = max(0, (requested - delivered) // timedelta(days=1))
    when = "on the day of delivery" if elapsed == 0 else f"{elapsed} day{'s' if elapsed != 1 else ''} after delivery"
    if requested <= deadline:
        return Verdict(True, None, deadline, elapsed, f"requested {when} — within window")
    return Verdict(False, ErrorCode.REFUND_WINDOW_EXPIRED, deadline, elapsed,
                   f"requested {when} — window ended on {deadline:%Y-%m-%d} at {deadline:%H:%M} UTC")


# ---------------------------------------------------------------- amounts

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
            object.__setattr__(self, "delivered_at", _utc(self.delivered_at, "delivered_at"))
        for name in ("shipping_amount", "shipping_tax", "amount_paid"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a non-negative int")
        if len({ln.line_id for ln in self.lines}) != len(self.lines):
            raise ValueError("line ids must be unique")

    @property
    def shipping_total(self) -> int:
        return self.shipping_amount + self.shipping_tax


@dataclass(frozen=True)
class ExistingRefund:
    """A refund already on the order. ``items`` are ``(line_id, qty)`` or
    ``(line_id, qty, amount)``; with amounts recorded, a later refund can give back
    the cents a released one left behind. ``shipping_amount`` includes shipping tax."""

    status: RefundStatus
    abandoned: bool = False
    items: tuple[tuple, ...] = ()
    shipping_amount: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", RefundStatus(self.status))
        object.__setattr__(self, "items", tuple(tuple(i) for i in self.items))

    @property
    def holds(self) -> bool:
        return holds_quantity(self.status, self.abandoned)


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
    refunds only), refundable quantity, and finally that the holding refunds plus this
    one never exceed ``amount_paid`` (ORDER_OVER_REFUNDED).
    """
    try:
        why = RefundReason(reason)
    except ValueError:
        raise DomainError(ErrorCode.INVALID_REASON) from None
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
    return RefundDraft(tuple(items), shipping, draft_total, order.currency, why, verdict)

