"""What an agent may decide on a refund, and how a decision is worded.

Pure: no I/O. Settlement is the path that moves no money through the gateway: store
credit, a replacement, a manual bank transfer, or a goodwill gesture. It is also the
only path for undelivered or out-of-window items, and it always carries a reason.

A settlement is the agent's record. Its amount (minor units, the order's currency) is
what the customer got, always more than 0, and it counts against the order's payment
like a gateway refund: at most what is left of the payment after everything refunded,
in flight or settled before (refund_amounts.payment_left). A replacement's amount is
the value of the replaced goods as the customer paid for them, so it is also at most
the items' value (their refund amount, with shipping if the refund carries it): the
goods were made good once, and the payment they used cannot be given back again.
Two texts: a message to the customer (they read it on the refund and in the case
conversation, labelled as from support) and an optional internal note only agents see.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.money import AmountError, exponent, format_money, parse_amount


class RejectReason(StrEnum):
    OUTSIDE_POLICY = "outside_policy"
    NO_EVIDENCE = "no_evidence"
    ITEM_NOT_RETURNED = "item_not_returned"
    DUPLICATE = "duplicate"
    OTHER = "other"


class SettlementType(StrEnum):
    STORE_CREDIT = "store_credit"
    REPLACEMENT = "replacement"
    MANUAL_TRANSFER = "manual_transfer"
    GOODWILL = "goodwill"


REJECT_LABELS = {
    RejectReason.OUTSIDE_POLICY: "Outside our refund policy",
    RejectReason.NO_EVIDENCE: "We could not confirm the problem",
    RejectReason.ITEM_NOT_RETURNED: "The item was not returned",
    RejectReason.DUPLICATE: "Duplicate request",
    RejectReason.OTHER: "Other",
}
SETTLEMENT_LABELS = {
    SettlementType.STORE_CREDIT: "Store credit",
    SettlementType.REPLACEMENT: "Replacement",
    SettlementType.MANUAL_TRANSFER: "Manual transfer",
    SettlementType.GOODWILL: "Goodwill gesture",
}
MESSAGE_MIN, MESSAGE_MAX = 10, 2000
INTERNAL_NOTE_MAX = 2000
AMOUNT_TEXT_MAX = 40  # an amount as typed ("1 234 567,89 " and the like fit)


def check_rejection(code: object, message: object) -> tuple[RejectReason, str]:
    fields: dict[str, str] = {}
    reason = code if isinstance(code, str) and code in set(RejectReason) else None
    if reason is None:
        fields["reject_code"] = "Choose a reason."
    text = message.strip() if isinstance(message, str) else ""
    if not MESSAGE_MIN <= len(text) <= MESSAGE_MAX:
        fields["reject_message"] = f"Write {MESSAGE_MIN} to {MESSAGE_MAX} characters for the customer."
    if fields:
        raise DomainError(ErrorCode.VALIDATION_FAILED, fields=fields)
    return RejectReason(reason), text


@dataclass(frozen=True)
class Settlement:
    kind: SettlementType
    amount: int  # minor units, > 0
    message: str  # to the customer
    internal_note: str  # agents only; "" when none


def settlement_hint(left: int, currency: str, items_value: int | None = None) -> str:
    """The amount's limits as a settlement form states them. ``items_value`` None: the
    items are still being chosen (the form's total is their value)."""
    m = lambda v: format_money(max(0, v), currency)  # noqa: E731
    if left <= 0:
        return "Nothing is left of this order's payment: it was already refunded or settled in full."
    replacement = ("so at most the total below" if items_value is None
                   else f"so at most {m(min(left, items_value))}, this refund's value")
    return (f"More than {m(0)} and at most {m(left)}, what is left of this order's payment. "
            f"A replacement counts what the replaced items cost, {replacement}.")


def check_settlement(kind: object, amount: object, message: object, internal_note: object = "", *,
                     items_value: int, left: int, amount_paid: int, currency: str) -> Settlement:
    """Validate a settlement against what is left of the order's payment.

    ``amount`` in minor units, or as the agent typed it ("12,50", see money.parse_amount): more than 0, at most ``left`` (what is left of the payment
    without this refund) and, for a replacement, at most ``items_value`` (what the
    settled items, with any shipping, are worth); ``amount_paid`` is what the order cost.
    Field errors: settle_type, settle_amount, settle_message, settle_internal_note. An
    amount over what is left, with nothing else wrong, is ORDER_OVER_REFUNDED; otherwise
    VALIDATION_FAILED.
    """
    m = lambda v: format_money(max(0, v), currency)  # noqa: E731
    fields: dict[str, str] = {}
    settlement = kind if isinstance(kind, str) and kind in set(SettlementType) else None
    if settlement is None:
        fields["settle_type"] = "Choose how it was settled."
    value, unreadable = _amount(amount, currency)
    over_payment = False
    if unreadable:
        fields["settle_amount"] = unreadable
    elif value is None or value <= 0:
        fields["settle_amount"] = f"Enter an amount above {m(0)}: a settlement always gives the customer something."
    elif value > left:
        over_payment = True
        if left <= 0:
            fields["settle_amount"] = "Nothing is left of this order's payment: it was already refunded or settled in full."
        elif left >= amount_paid:
            fields["settle_amount"] = f"Enter at most {m(left)}: that is what was paid for this order."
        else:
            fields["settle_amount"] = f"Enter at most {m(left)}: the rest of this order was already refunded or settled."
    elif settlement == SettlementType.REPLACEMENT and value > items_value:
        fields["settle_amount"] = f"Enter at most {m(items_value)}: a replacement counts what the replaced items cost."
    text = message.strip() if isinstance(message, str) else ""
    if not MESSAGE_MIN <= len(text) <= MESSAGE_MAX:
        fields["settle_message"] = f"Write {MESSAGE_MIN} to {MESSAGE_MAX:,} characters to the customer: what was done."
    note = internal_note.strip() if isinstance(internal_note, str) else ""
    if len(note) > INTERNAL_NOTE_MAX:
        fields["settle_internal_note"] = f"Keep the internal note to {INTERNAL_NOTE_MAX:,} characters."
    if fields:
        if over_payment and set(fields) == {"settle_amount"}:
            raise DomainError(ErrorCode.ORDER_OVER_REFUNDED, fields["settle_amount"], fields=fields)
        raise DomainError(ErrorCode.VALIDATION_FAILED, fields=fields)
    return Settlement(SettlementType(settlement), value, text, note)  # type: ignore[arg-type]


def _amount(amount: object, currency: str) -> tuple[int | None, str]:
    """Minor units as given, or as typed ("12,50": money.parse_amount); and why not, if not."""
    if isinstance(amount, int) and not isinstance(amount, bool):
        return amount, ""
    if isinstance(amount, str):
        if len(amount) > AMOUNT_TEXT_MAX:  # refused, never cut: "12.50" and 35 spaces and "abc" is not 12.50
            return None, "Enter an amount like 12.50."
        try:
            return parse_amount(amount, exponent(currency)), ""
        except AmountError as err:
            return None, str(err)
    return None, ""
