"""Read models handed to the State layer: plain, serialisable, already filtered for
the viewer (a customer's views never carry internal notes or other customers' data).
Timestamps are ISO-8601 UTC strings; the page shows them in the viewer's locale."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class Caller(Protocol):
    """Who is asking: any object with an id and a role (auth_service.UserView)."""

    id: int
    role: str


def iso(value: datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value else ""


@dataclass
class OrderLineView:
    line_id: str
    sku: str
    name: str
    quantity: int
    unit_price: str
    line_total: str


@dataclass
class OrderView:
    order_id: str
    status: str
    placed_at: str
    delivered_at: str
    currency: str
    total: str
    item_count: int
    lines: list[OrderLineView] = field(default_factory=list)


@dataclass
class CaseRow:
    id: int
    number: str
    subject: str
    status: str
    status_label: str
    category_label: str
    priority: str
    order_id: str
    customer_name: str
    assignee_name: str
    created_at: str
    updated_at: str


@dataclass
class MessageView:
    id: int
    author_name: str
    author_role: str
    internal: bool
    body: str
    created_at: str


@dataclass
class EventView:
    id: int
    kind: str
    text: str
    actor_name: str
    internal: bool
    created_at: str


@dataclass
class Option:
    value: str
    label: str


@dataclass
class RefundRow:
    id: int
    number: str
    status: str
    status_label: str
    amount: str
    requested_at: str


@dataclass
class CaseDetail:
    id: int
    number: str
    subject: str
    description: str
    category_label: str
    priority: str
    status: str
    status_label: str
    customer_name: str
    customer_email: str
    assignee_id: int
    assignee_name: str
    created_at: str
    updated_at: str
    version: int  # agents only (optimistic concurrency); 0 for customers
    order: OrderView
    messages: list[MessageView]  # the newest case_queries.RECENT unless all were asked for
    timeline: list[EventView]  # likewise
    next_statuses: list[Option]
    earlier_messages: int = 0  # how many messages are older than those in ``messages``
    earlier_events: int = 0  # and history entries older than ``timeline``
    refunds: list[RefundRow] = field(default_factory=list)
    assigned_to_viewer: bool = False  # the signed-in agent is the assignee: no "Assign to me"
    # Reopening a resolved or closed case (case_rules.reopen_verdict, SUPPORT_REOPEN_DAYS):
    can_reopen: bool = False
    reopen_until: str = ""  # ISO UTC, the last instant it may be reopened ("" when not resolved or closed)
    reopen_text: str = ""  # why it cannot be reopened any more
    reopen_days: int = 0


@dataclass
class RefundLineOption:
    """One order line on the refund form."""

    line_id: str
    name: str
    purchased: int
    held: int
    refundable_now: int
    unit_price: str
    eligible: bool
    deadline: str
    window_text: str


@dataclass
class RefundQuote:
    total: str
    shipping: str  # "" when no shipping is refunded
    problem: str  # why this selection cannot be asked for, or ""


@dataclass
class RefundForm:
    case_id: int
    case_number: str
    order_id: str
    currency: str
    lines: list[RefundLineOption]
    shipping: str
    quote: RefundQuote  # the total of the empty selection the form opens with
    settle_hint: str = ""  # agents' settlement form: the amount's limits, in words
    reasons: list[Option] = field(default_factory=list)  # the reasons this form offers
    # A customer's form with nothing to offer: why (refund_rules.Blocked), in words, and what to do.
    blocked: str = ""
    blocked_text: str = ""
    blocked_deadline: str = ""  # ISO UTC: when the window ended (shown in the viewer's zone)
    blocked_help: str = ""


@dataclass
class RefundItemView:
    name: str
    quantity: int
    amount: str
    unit_amounts: str


@dataclass
class AttemptView:
    idempotency_key: str
    status: str
    gateway_reference: str
    error: str
    sends: int
    updated_at: str


@dataclass
class RefundQueueRow:
    id: int
    number: str
    status: str
    status_label: str
    amount: str
    customer_name: str
    case_number: str
    requested_at: str


@dataclass
class RefundQueue:
    rows: list[RefundQueueRow]
    counts: list[Option]
    # Refunds an agent must look at whatever the filter: the gateway's answer did not match.
    attention: list[RefundQueueRow] = field(default_factory=list)


@dataclass
class RefundDetail:
    id: int
    number: str
    status: str
    status_label: str
    reason_label: str
    note: str
    amount: str
    shipping: str
    currency: str
    requested_at: str
    case_id: int
    case_number: str
    order_id: str
    customer_name: str
    lines: list[RefundItemView]  # not "items": that name is taken by dict-like Vars
    history: list[EventView]
    can_cancel: bool
    version: int
    window_text: str  # the verdict at request time, e.g. "requested 3 days after delivery — within window"
    outcome_text: str  # what was decided, in words the customer reads
    gateway_reference: str
    opened_label: str = "Requested"  # "Recorded" when an agent recorded it as a settlement
    opened_by: str = ""  # who asked (the customer), or the agent who recorded it
    support_message: str = ""  # a settlement's message to the customer, shown as from support
    window_ended_at: str = ""  # ISO UTC, when the request came after the window: the page shows it in the viewer's zone
    window_summary: str = ""  # window_text without that instant: "requested 15 days after delivery — window ended"
    # Agents only (empty for customers):
    earlier_refunds: list[RefundRow] = field(default_factory=list)
    attempts: list[AttemptView] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)  # approve, reject, settle, retry, abandon, reconcile
    internal_note: str = ""  # a settlement's note for agents only
    settle_hint: str = ""  # the settlement amount's limits, in words
    mismatch_alert: str = ""  # the gateway's answer did not match: both figures and what to do
