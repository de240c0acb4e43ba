"""The rows of the overviews for a list of ids, in that order, with their joins: one
query per page or CSV batch (ids come from the key queries in overview_queries)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from support_app.domain.case_rules import CATEGORY_LABELS, STATUS_LABELS, CaseStatus, Category, Priority, Role
from support_app.domain.money import format_money
from support_app.domain.priorities import PRIORITY_LABELS
from support_app.domain.refund_rules import REASON_LABELS, RefundReason, RefundStatus
from support_app.domain.refund_rules import STATUS_LABELS as REFUND_STATUS_LABELS
from support_app.models import OrderSnapshot, RefundCase, SupportCase, User
from support_app.models.id_list import in_ids
from support_app.services.overview_views import RefundOverviewRow, SupportOverviewRow
from support_app.services.views import Caller, iso


# Built once: constructing aliased joins per call costs more than running the query.
_CUSTOMER, _ASSIGNEE = aliased(User, name="customer"), aliased(User, name="assignee")
_C, _R = SupportCase, RefundCase
SUPPORT_ROWS = (
    select(_C.id, _C.number, _C.status, _C.subject, _C.category, _C.priority, _C.created_at, _C.updated_at,
           OrderSnapshot.order_id, _CUSTOMER.full_name, _CUSTOMER.email, _ASSIGNEE.full_name)
    .join(OrderSnapshot, OrderSnapshot.id == _C.order_snapshot_id)
    .join(_CUSTOMER, _CUSTOMER.id == _C.customer_id)
    .outerjoin(_ASSIGNEE, _ASSIGNEE.id == _C.assignee_id)
    .where(in_ids(_C.id))
)
REFUND_ROWS = (
    select(_R.id, _R.number, _R.status, _R.reason, _R.amount, _R.currency, _R.requested_at, _R.updated_at,
           _R.support_case_id, SupportCase.number, OrderSnapshot.order_id, _CUSTOMER.full_name, _CUSTOMER.email,
           _ASSIGNEE.full_name)
    .join(SupportCase, SupportCase.id == _R.support_case_id)
    .join(OrderSnapshot, OrderSnapshot.id == _R.order_snapshot_id)
    .join(_CUSTOMER, _CUSTOMER.id == _R.customer_id)
    .outerjoin(_ASSIGNEE, _ASSIGNEE.id == SupportCase.assignee_id)
    .where(in_ids(_R.id))
)


def _in_order(ids: list[int], rows: dict[int, Any]) -> list:
    return [rows[i] for i in ids if i in rows]


def support_rows(session: Session, caller: Caller, ids: list[int]) -> list[SupportOverviewRow]:
    if not ids:
        return []
    agent = caller.role == Role.AGENT
    rows = {
        r[0]: SupportOverviewRow(
            id=r[0], number=r[1] or "", status=r[2], status_label=_label(STATUS_LABELS, CaseStatus, r[2]),
            subject=r[3], category_label=_label(CATEGORY_LABELS, Category, r[4]), priority=r[5],
            priority_label=_label(PRIORITY_LABELS, Priority, r[5]),
            customer_name=r[9], customer_email=r[10] if agent else "", order_id=r[8],
            assignee_name=r[11] or "", created_at=iso(r[6]), updated_at=iso(r[7]),
        )
        for r in session.exec(SUPPORT_ROWS, params={"ids": ids})
    }
    return _in_order(ids, rows)


def refund_rows(session: Session, caller: Caller, ids: list[int]) -> list[RefundOverviewRow]:
    if not ids:
        return []
    agent = caller.role == Role.AGENT
    rows = {
        r[0]: RefundOverviewRow(
            id=r[0], number=r[1] or "", status=r[2], status_label=_label(REFUND_STATUS_LABELS, RefundStatus, r[2]),
            reason=r[3], reason_label=_label(REASON_LABELS, RefundReason, r[3]),
            customer_name=r[11], customer_email=r[12] if agent else "", order_id=r[10],
            case_id=r[8], case_number=r[9] or "", assignee_name=r[13] or "",
            amount=format_money(r[4], r[5]), amount_minor=r[4], currency=r[5],
            requested_at=iso(r[6]), updated_at=iso(r[7]),
        )
        for r in session.exec(REFUND_ROWS, params={"ids": ids})
    }
    return _in_order(ids, rows)


def _label(labels: dict, enum: Any, value: str) -> str:
    try:
        return labels[enum(value)]
    except (ValueError, KeyError):
        return value
