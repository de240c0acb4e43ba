"""The customer's own refunds ("My refunds"): newest first, keyset-paginated through the
refund overview (customer_id drives; nothing of other customers is ever read), with
each refund's items in one more query per page."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, select

from support_app.domain.case_rules import Role
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.overview_rules import PAGE_SIZES, parse_overview_query
from support_app.models import OrderLine, RefundItem
from support_app.models.id_list import in_ids
from support_app.services.overview_queries import refund_case_overview
from support_app.services.views import Caller

PAGE_SIZE = PAGE_SIZES[1]  # 25
_ITEMS = (select(RefundItem.refund_case_id, RefundItem.quantity, OrderLine.name)
          .join(OrderLine, OrderLine.id == RefundItem.order_line_id)
          .where(in_ids(RefundItem.refund_case_id))
          .order_by(RefundItem.refund_case_id, RefundItem.id))  # type: ignore[arg-type]


@dataclass
class MyRefundRow:
    id: int
    number: str
    status: str
    status_label: str
    case_id: int
    case_number: str
    order_id: str
    items_text: str  # e.g. "2 × Red ceramic mug, 1 × Tea spoons (6)"
    amount: str  # formatted in the order's currency
    requested_at: str  # ISO-8601 UTC
    updated_at: str


@dataclass
class MyRefundsPage:
    rows: list[MyRefundRow] = field(default_factory=list)
    next_cursor: str = ""
    prev_cursor: str = ""
    count_text: str = "0"


def my_refunds(session: Session, caller: Caller, cursor: str = "") -> MyRefundsPage:
    """One page of the caller's refunds. Customers only: agents have the overviews."""
    if caller.role != Role.CUSTOMER:
        raise DomainError(ErrorCode.FORBIDDEN)
    query = parse_overview_query({"cursor": cursor if isinstance(cursor, str) else "", "size": str(PAGE_SIZE)}, "refund")
    page = refund_case_overview(session, caller, query)
    ids = [r.id for r in page.rows]
    items: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for refund_id, quantity, name in session.exec(_ITEMS, params={"ids": ids}):
            items[refund_id].append(f"{quantity} × {name}")
    return MyRefundsPage(
        rows=[
            MyRefundRow(
                id=r.id, number=r.number, status=r.status, status_label=r.status_label, case_id=r.case_id,
                case_number=r.case_number, order_id=r.order_id, items_text=", ".join(items[r.id]) or "Shipping only",
                amount=r.amount, requested_at=r.requested_at, updated_at=r.updated_at,
            )
            for r in page.rows
        ],
        next_cursor=page.next_cursor,
        prev_cursor=page.prev_cursor,
        count_text=page.count_text,
    )
