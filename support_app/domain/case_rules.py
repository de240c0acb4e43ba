"""Support case rules: statuses, who may move a case where, and input validation.

Pure: no I/O, imports nothing of ours but the domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from support_app.domain.errors import DomainError, ErrorCode


class Role(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"


class CaseStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Category(StrEnum):
    DAMAGED_ITEM = "damaged_item"
    WRONG_ITEM = "wrong_item"
    MISSING_ITEM = "missing_item"
    DELIVERY = "delivery"
    BILLING = "billing"
    RETURN_REFUND = "return_refund"
    OTHER = "other"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Visibility(StrEnum):
    PUBLIC = "public"  # a reply the customer sees
    INTERNAL = "internal"  # an agent-only note


S = CaseStatus
# open → in_progress → waiting_on_customer ⇄ in_progress → resolved → closed;
# resolved may reopen (→ in_progress). Agents drive the workflow.
AGENT_TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    S.OPEN: frozenset({S.IN_PROGRESS}),
    S.IN_PROGRESS: frozenset({S.WAITING_ON_CUSTOMER, S.RESOLVED}),
    S.WAITING_ON_CUSTOMER: frozenset({S.IN_PROGRESS}),
    S.RESOLVED: frozenset({S.CLOSED, S.IN_PROGRESS}),
    S.CLOSED: frozenset(),
}
# A customer may only close their own case (withdraw it, or confirm a resolution).
CUSTOMER_TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    status: (frozenset() if status is S.CLOSED else frozenset({S.CLOSED})) for status in CaseStatus
}

STATUS_LABELS: dict[CaseStatus, str] = {
    S.OPEN: "Open",
    S.IN_PROGRESS: "In progress",
    S.WAITING_ON_CUSTOMER: "Waiting on customer",
    S.RESOLVED: "Resolved",
    S.CLOSED: "Closed",
}
CATEGORY_LABELS: dict[Category, str] = {
    Category.DAMAGED_ITEM: "Damaged item",
    Category.WRONG_ITEM: "Wrong item",
    Category.MISSING_ITEM: "Missing item",
    Category.DELIVERY: "Delivery",
    Category.BILLING: "Billing",
    Category.RETURN_REFUND: "Return or refund",
    Category.OTHER: "Other",
}

SUBJECT_MIN, SUBJECT_MAX = 3, 120
DESCRIPTION_MIN, DESCRIPTION_MAX = 10, 5000
MESSAGE_MAX = 5000
REASON_MAX = 500


def allowed_transitions(status: CaseStatus, role: Role) -> frozenset[CaseStatus]:
    table = AGENT_TRANSITIONS if role is Role.AGENT else CUSTOMER_TRANSITIONS
    return table[status]


def check_transition(current: str, target: str, role: Role) -> tuple[CaseStatus, CaseStatus]:
    try:
        src, dst = CaseStatus(current), CaseStatus(target)
    except ValueError:
        raise DomainError(ErrorCode.INVALID_STATUS_TRANSITION) from None
    if dst not in allowed_transitions(src, role):
        raise DomainError(
            ErrorCode.INVALID_STATUS_TRANSITION,
            f"A case that is {STATUS_LABELS[src].lower()} cannot be moved to {STATUS_LABELS[dst].lower()}.",
        )
    return src, dst


# ---------------------------------------------------------------- reopening

# A resolved or closed case may be reopened (by its customer or an agent) for a while
# after it was resolved or closed, as Zammad does; it goes back to the agents.
REOPENABLE = frozenset({S.RESOLVED, S.CLOSED})
REOPENED_STATUS = S.IN_PROGRESS


@dataclass(frozen=True)
class ReopenVerdict:
    allowed: bool
    until: datetime | None  # the last instant (inclusive) it may be reopened; None when not resolved or closed
    text: str  # why not, in words (empty when allowed)


def reopen_verdict(status: str, since: datetime | None, now: datetime, days: int) -> ReopenVerdict:
    """May a case in ``status``, resolved or closed at ``since``, be reopened at ``now``?

    Within ``days`` × 24 h of ``since``, boundary included: resolved 2026-11-01 10:00Z with
    14 days → reopenable until 2026-11-15 10:00:00.000000Z, refused at 10:00:00.000001Z. A
    case with no recorded ``since`` (never resolved or closed) is not reopenable.
    Role plays no part: the customer who owns the case and any agent may (the service
    checks who may see the case)."""
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise ValueError("days must be a non-negative int")
    try:
        current = CaseStatus(status)
    except ValueError:
        return ReopenVerdict(False, None, "This case cannot be reopened.")
    if current not in REOPENABLE or since is None:
        return ReopenVerdict(False, None, "Only a resolved or closed case can be reopened.")
    until = _utc(since, "since") + timedelta(days=days)
    if _utc(now, "now") <= until:
        return ReopenVerdict(True, until, "")
    word = "closed" if current is S.CLOSED else "resolved"
    return ReopenVerdict(False, until, f"A case can be reopened for {days} day{'s' if days != 1 else ''} after it was "
                                       f"{word}; that time has passed. Please open a new case about the order.")


def check_reopen(status: str, since: datetime | None, now: datetime, days: int) -> tuple[CaseStatus, CaseStatus]:
    """(from, to) of a reopening, or REOPEN_PERIOD_ENDED / INVALID_STATUS_TRANSITION."""
    verdict = reopen_verdict(status, since, now, days)
    if verdict.allowed:
        return CaseStatus(status), REOPENED_STATUS
    code = ErrorCode.REOPEN_PERIOD_ENDED if verdict.until is not None else ErrorCode.INVALID_STATUS_TRANSITION
    raise DomainError(code, verdict.text)


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return moment.astimezone(UTC)


def status_after_reply(current: CaseStatus, author: Role) -> CaseStatus:
    """A customer answering a case that waits on them puts it back in the agents' court."""
    if author is Role.CUSTOMER and current is S.WAITING_ON_CUSTOMER:
        return S.IN_PROGRESS
    return current


def _clean(text: object) -> str:
    return text.strip() if isinstance(text, str) else ""


def _length_error(value: str, label: str, lo: int, hi: int) -> str | None:
    if len(value) < lo:
        return f"{label} must be at least {lo} characters." if lo > 1 else f"{label} is required."
    if len(value) > hi:
        return f"{label} must be at most {hi} characters."
    return None


def validate_new_case(subject: object, description: object, category: object, priority: object) -> dict[str, str]:
    """Return the cleaned fields, or raise VALIDATION_FAILED with a message per field."""
    s, d = _clean(subject), _clean(description)
    errors: dict[str, str] = {}
    if msg := _length_error(s, "Subject", SUBJECT_MIN, SUBJECT_MAX):
        errors["subject"] = msg
    if msg := _length_error(d, "Description", DESCRIPTION_MIN, DESCRIPTION_MAX):
        errors["description"] = msg
    if not isinstance(category, str) or category not in set(Category):
        errors["category"] = "Choose a category."
    if not isinstance(priority, str) or priority not in set(Priority):
        errors["priority"] = "Choose a priority."
    if errors:
        raise DomainError(ErrorCode.VALIDATION_FAILED, fields=errors)
    return {"subject": s, "description": d, "category": str(category), "priority": str(priority)}


def validate_message(body: object) -> str:
    text = _clean(body)
    if msg := _length_error(text, "Message", 1, MESSAGE_MAX):
        raise DomainError(ErrorCode.VALIDATION_FAILED, fields={"body": msg})
    return text


def validate_reason(reason: object) -> str | None:
    text = _clean(reason)
    if len(text) > REASON_MAX:
        raise DomainError(ErrorCode.VALIDATION_FAILED, fields={"reason": f"Reason must be at most {REASON_MAX} characters."})
    return text or None
