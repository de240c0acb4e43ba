"""Numbers for the Metrics page, over a recent window (default 30 days).

Every query is bounded by a date range on an indexed timestamp, so its cost follows
the window's size, not the table's: at a million cases, 30 days is ~40k rows.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import case, func
from sqlmodel import Session, select

from support_app.domain.case_rules import Role
from support_app.domain.durations import human_duration
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.money import exponent, format_money
from support_app.domain.refund_rules import REASON_LABELS, RefundReason, RefundStatus
from support_app.models import RefundAttempt, RefundCase, SupportCase
from support_app.models.base import utcnow
from support_app.services.views import Caller, iso

OPEN_CASE = ("open", "in_progress", "waiting_on_customer")


@dataclass
class OldItem:
    id: int
    number: str
    kind: str  # "case" | "refund"
    since: str


@dataclass
class CurrencyRefunds:
    """Money refunded through the gateway in one currency over the period: amounts of
    different currencies are never added up or drawn on one axis."""

    currency: str
    total: str  # formatted, exact, e.g. "$37.89"
    total_minor: int
    per_day: list[dict] = field(default_factory=list)  # day, amount (major units: chart axis only)


@dataclass
class Metrics:
    days: int
    per_day: list[dict] = field(default_factory=list)  # day, opened, resolved, refund_requests
    by_reason: list[dict] = field(default_factory=list)  # reason, requests, refunded, rate
    # Medians as people read them ("3 min", "2.5 h", "1.2 d"; "—" when there is none).
    median_first_response: str = "—"
    median_resolution: str = "—"
    median_approve_to_refunded: str = "—"
    refunded: list[CurrencyRefunds] = field(default_factory=list)  # one per currency refunded in, by code
    oldest: list[OldItem] = field(default_factory=list)


def _day(value) -> str:
    if isinstance(value, (date, datetime)):
        return value.strftime("%Y-%m-%d")
    return str(value)[:10]


def _median(seconds: list[float]) -> str:
    return human_duration(statistics.median(seconds)) if seconds else "—"


def metrics(session: Session, caller: Caller, days: int = 30) -> Metrics:
    if caller.role != Role.AGENT:
        raise DomainError(ErrorCode.FORBIDDEN)
    days = max(1, min(int(days), 365))
    now = utcnow()
    # The last ``days`` calendar days in UTC, today included: every bar is a whole day (the
    # first from midnight), so each total is the sum of its chart.
    since = datetime.combine(now.date() - timedelta(days=days - 1), time.min, tzinfo=timezone.utc)
    buckets = {(since + timedelta(days=i)).strftime("%Y-%m-%d"): {"opened": 0, "resolved": 0, "refund_requests": 0}
               for i in range(days)}

    def count_into(column, key: str, *where) -> None:
        day = func.date(column)
        for d, n in session.exec(select(day, func.count()).where(column >= since, *where).group_by(day)):
            buckets.setdefault(_day(d), {"opened": 0, "resolved": 0, "refund_requests": 0})[key] = n

    count_into(SupportCase.created_at, "opened")
    count_into(SupportCase.resolved_at, "resolved")
    count_into(RefundCase.requested_at, "refund_requests")
    attempt_day = func.date(RefundAttempt.updated_at)
    refunded_by: dict[str, dict[str, int]] = {}  # currency → day → minor units
    for cur, d, amount in session.exec(
        select(RefundAttempt.currency, attempt_day, func.sum(RefundAttempt.amount))
        .where(RefundAttempt.updated_at >= since, RefundAttempt.status == "succeeded")
        .group_by(RefundAttempt.currency, attempt_day)
    ):
        refunded_by.setdefault(cur, {})[_day(d)] = int(amount or 0)
    days_shown = sorted(buckets)
    per_day = [
        {"day": d[5:], "opened": b["opened"], "resolved": b["resolved"], "refund_requests": b["refund_requests"]}
        for d, b in sorted(buckets.items())
    ]
    per_currency = [
        CurrencyRefunds(
            currency=cur, total=format_money(sum(by_day.values()), cur), total_minor=sum(by_day.values()),
            # chart axis only (major units); the total above stays exact
            per_day=[{"day": d[5:], "amount": by_day.get(d, 0) / 10 ** exponent(cur)} for d in days_shown],
        )
        for cur, by_day in sorted(refunded_by.items())
    ]

    by_reason = []
    for reason, total, refunded in session.exec(
        select(RefundCase.reason, func.count(), func.sum(case((RefundCase.status == RefundStatus.REFUNDED, 1), else_=0)))
        .where(RefundCase.requested_at >= since)
        .group_by(RefundCase.reason)
    ):
        label = REASON_LABELS.get(RefundReason(reason), reason) if reason in set(RefundReason) else reason
        by_reason.append({"reason": label, "requests": total, "refunded": int(refunded or 0),
                          "rate": round(100 * int(refunded or 0) / total, 1) if total else 0})

    pairs = session.exec(
        select(SupportCase.created_at, SupportCase.first_response_at, SupportCase.resolved_at).where(SupportCase.created_at >= since)
    ).all()
    first = [(r - c).total_seconds() for c, r, _ in pairs if r is not None]
    resolution = [(r - c).total_seconds() for c, _, r in pairs if r is not None]
    approve_to_refunded = [
        (u - c).total_seconds()
        for c, u in session.exec(
            select(RefundAttempt.created_at, RefundAttempt.updated_at).where(RefundAttempt.updated_at >= since, RefundAttempt.status == "succeeded")
        )
    ]

    oldest_cases = session.exec(
        select(SupportCase.id, SupportCase.number, SupportCase.created_at)
        .where(SupportCase.status.in_(OPEN_CASE)).order_by(SupportCase.created_at).limit(5)  # type: ignore[attr-defined]
    )
    oldest_refunds = session.exec(
        select(RefundCase.id, RefundCase.number, RefundCase.requested_at)
        .where(RefundCase.status == RefundStatus.REQUESTED).order_by(RefundCase.requested_at).limit(5)
    )
    return Metrics(
        days=days,
        per_day=per_day,
        by_reason=sorted(by_reason, key=lambda r: -r["requests"]),
        median_first_response=_median(first),
        median_resolution=_median(resolution),
        median_approve_to_refunded=_median(approve_to_refunded),
        refunded=per_currency,
        oldest=[OldItem(i, n or "", "case", iso(t)) for i, n, t in oldest_cases]
        + [OldItem(i, n or "", "refund", iso(t)) for i, n, t in oldest_refunds],
    )
