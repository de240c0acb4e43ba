"""What an agent may decide on a refund, and how a decision is worded.

Pure: no I/O. Settlement is the path that moves no money through the gateway: store
credit, a replacement, a manual bank transfer, or a goodwill gesture. It is also the
only path for undelivered or out-of-window items, and it always carries a reason.
"""

from __future__ import annotations

from enum import StrEnum

from support_app.domain.errors import DomainError, ErrorCode


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
# A settlement may be worth more than the refund asked for (goodwill), within reason.
SETTLEMENT_CAP_FACTOR = 2


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


def check_settlement(kind: object, amount: object, note: object, refund_amount: int) -> tuple[SettlementType, int, str]:
    """``amount`` in minor units; 0 is allowed for a replacement (no money moves)."""
    fields: dict[str, str] = {}
    settlement = kind if isinstance(kind, str) and kind in set(SettlementType) else None
    if settlement is None:
        fields["settle_type"] = "Choose how it was settled."
    value = amount if isinstance(amount, int) and not isinstance(amount, bool) else None
    if value is None or value < 0 or value > max(refund_amount, 1) * SETTLEMENT_CAP_FACTOR:
        fields["settle_amount"] = "Enter an amount from 0 up to twice the refund."
    text = note.strip() if isinstance(note, str) else ""
    if not MESSAGE_MIN <= len(text) <= MESSAGE_MAX:
        fields["settle_note"] = f"Write {MESSAGE_MIN} to {MESSAGE_MAX} characters: what was done and why."
    if fields:
        raise DomainError(ErrorCode.VALIDATION_FAILED, fields=fields)
    return SettlementType(settlement), value, text  # type: ignore[arg-type,return-value]


def parse_money(text: object, exponent: int = 2) -> int | None:
    """"12.34" → 1234 exactly (no float); None when it is not a plain amount."""
    if not isinstance(text, str):
        return None
    raw = text.strip().replace(",", "")
    whole, _, frac = raw.partition(".")
    if not whole.isdigit() or len(whole) > 12 or (frac and (not frac.isdigit() or len(frac) > exponent)):
        return None
    return int(whole) * 10**exponent + int((frac or "0").ljust(exponent, "0"))
