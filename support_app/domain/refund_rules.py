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

Amounts, refundable quantities and drafting a refund live in ``refund_amounts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from support_app.domain.case_rules import Role
from support_app.domain.errors import DomainError, ErrorCode

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
# On the customer's own request form, where the order system says the order was delivered.
REQUEST_REASON_LABELS: dict[RefundReason, str] = {**REASON_LABELS, RefundReason.NOT_RECEIVED: "Never arrived (though marked delivered)"}
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

def as_utc(moment: datetime, name: str) -> datetime:
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
    return as_utc(delivered_at, "delivered_at") + timedelta(days=_check_days(window_days))


@dataclass(frozen=True)
class Verdict:
    eligible: bool
    code: ErrorCode | None
    deadline: datetime | None
    days_after_delivery: int | None  # whole days elapsed; 0 on clock skew
    text: str
    # The text without the deadline's date and time, for pages that show that instant in
    # the viewer's own time zone beside it: "requested 15 days after delivery — window ended".
    summary: str = ""


def window_verdict(delivered_at: datetime | None, requested_at: datetime, window_days: int = REFUND_WINDOW_DAYS) -> Verdict:
    """Is a request made at ``requested_at`` inside the window? ``requested_at <= deadline``.

    >>> window_verdict(datetime(2026, 10, 22, 14, tzinfo=UTC), datetime(2026, 10, 25, 9, tzinfo=UTC)).text
    'requested 2 days after delivery — within window'
    """
    requested = as_utc(requested_at, "requested_at")
    days = _check_days(window_days)
    if delivered_at is None:
        return Verdict(False, ErrorCode.ORDER_NOT_DELIVERED, None, None, "not delivered yet — no refund window",
                       "not delivered yet — no refund window")
    delivered = as_utc(delivered_at, "delivered_at")
    deadline = delivered + timedelta(days=days)
    elapsed = max(0, (requested - delivered) // timedelta(days=1))
    when = "on the day of delivery" if elapsed == 0 else f"{elapsed} day{'s' if elapsed != 1 else ''} after delivery"
    if requested <= deadline:
        return Verdict(True, None, deadline, elapsed, f"requested {when} — within window", f"requested {when} — within window")
    return Verdict(False, ErrorCode.REFUND_WINDOW_EXPIRED, deadline, elapsed,
                   f"requested {when} — window ended on {deadline:%Y-%m-%d} at {deadline:%H:%M} UTC",
                   f"requested {when} — window ended")


def allowed_refund_transitions(status: str, actor_role: str) -> frozenset[RefundStatus]:
    table = AGENT_TRANSITIONS if Role(actor_role) is Role.AGENT else CUSTOMER_TRANSITIONS
    return table[RefundStatus(status)]



# ---------------------------------------------------------------- the request form

class Blocked(StrEnum):
    """Why a customer's request form has nothing to offer (see ``request_blocked``)."""

    NOT_DELIVERED = "not_delivered"
    WINDOW_ENDED = "window_ended"
    ALL_HELD = "all_held"


def request_blocked(verdict: Verdict, units_left: int) -> Blocked | None:
    """Why nothing can be requested now, or None when something can. The order's facts
    come first: an undelivered order has no window yet, a late one has no window left
    (either way an agent can still settle), and only then "every unit is already held"."""
    if verdict.code is ErrorCode.ORDER_NOT_DELIVERED:
        return Blocked.NOT_DELIVERED
    if not verdict.eligible:
        return Blocked.WINDOW_ENDED
    if units_left <= 0:
        return Blocked.ALL_HELD
    return None


def offered_reasons(delivered: bool, *, for_settlement: bool) -> list[RefundReason]:
    """The reasons a form offers. A customer's request is a gateway refund, which needs a
    delivered order (the window starts at delivery): on an undelivered order it offers
    none, since nothing can be requested (the form says to reply to the agent instead).
    On a delivered order "Never arrived" means the carrier reports it delivered but the
    parcel never reached the customer — the shop's fault, shipping back included — so it
    stays. An agent's settlement may be about any of them, "Never arrived" above all
    (a parcel lost before delivery)."""
    if for_settlement or delivered:
        return list(RefundReason)
    return []
