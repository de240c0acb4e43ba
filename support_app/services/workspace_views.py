"""Read models of the agents' workspace (one screen: queue, conversation, sidebar).

They hold only what the page renders (or the state needs to act: versions): the whole
selection is sent to the browser on every change, so nothing rides along unshown."""

from __future__ import annotations

from dataclasses import dataclass, field

from support_app.services.views import MessageView, Option


@dataclass
class QueueItem:
    id: int
    number: str
    subject: str
    status: str
    status_label: str
    priority_label: str
    customer_name: str
    assignee_name: str
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
    refundable_now: int
    deadline: str  # ISO; "" when the order was not delivered


@dataclass
class OpenCase:
    """The case in the middle pane: its header, the assignee picker and the conversation."""

    id: int
    number: str
    subject: str
    description: str
    status: str
    status_label: str
    priority_label: str
    customer_name: str
    customer_email: str
    assignee_id: int  # 0: nobody
    order_id: str
    version: int  # the expected version of the commands on the case
    messages: list[MessageView]  # the newest case_queries.RECENT unless all were asked for
    earlier_messages: int = 0  # how many are older than those


@dataclass
class WorkspaceRefund:
    """One of the case's refunds in the sidebar, with the actions an agent may take."""

    id: int
    number: str
    status: str
    status_label: str
    amount: str
    window_text: str
    mismatch_alert: str
    actions: list[str]
    version: int  # the expected version of approve / reject


@dataclass
class WorkspaceCase:
    case: OpenCase
    customer_cases: list[CustomerCase]  # the customer's other cases
    customer_refunds: list[CustomerRefund]
    given_back: list[Option]  # per currency, refunded and settled together: value = currency, label = "€12.00"
    lines: list[RefundableLine]
    refunds: list[WorkspaceRefund] = field(default_factory=list)  # this case's refunds, with the actions allowed
    agents: list[Option] = field(default_factory=list)  # whom the case may be assigned to
