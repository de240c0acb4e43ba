"""Read models of the agents' workspace (one screen: queue, conversation, sidebar)."""

from __future__ import annotations

from dataclasses import dataclass, field

from support_app.services.views import CaseDetail, Option, RefundDetail


@dataclass
class QueueItem:
    id: int
    number: str
    subject: str
    status: str
    status_label: str
    priority: str
    customer_name: str
    assignee_name: str
    created_at: str
    updated_at: str
    due_at: str  # "" when the agents owe nothing now (domain/case_due.py)
    overdue: bool
    unread: bool  # updated since this agent last opened it in the workspace


@dataclass
class CustomerCase:
    id: int
    number: str
    subject: str
    status: str
    status_label: str


@dataclass
class CustomerRefund:
    id: int
    number: str
    status: str
    status_label: str
    amount: str
    case_number: str


@dataclass
class RefundableLine:
    line_id: str
    name: str
    purchased: int
    held: int
    refundable_now: int
    deadline: str  # ISO; "" when the order was not delivered
    window_text: str


@dataclass
class WorkspaceCase:
    case: CaseDetail
    customer_cases: list[CustomerCase]  # the customer's other cases
    customer_refunds: list[CustomerRefund]
    refunded_totals: list[Option]  # per currency: value = currency, label = "EUR 12.00"
    lines: list[RefundableLine]
    refunds: list[RefundDetail] = field(default_factory=list)  # this case's refunds, with the actions allowed
    agents: list[Option] = field(default_factory=list)  # whom the case may be assigned to
