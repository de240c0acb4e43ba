"""Read models of the overview lists (support cases, refund cases). Plain and
serialisable; a customer's rows never carry an email (``customer_email`` is "")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SupportOverviewRow:
    id: int
    number: str
    status: str
    status_label: str
    subject: str
    category_label: str
    priority: str
    priority_label: str
    customer_name: str
    customer_email: str  # agents only; "" for customers
    order_id: str
    assignee_name: str  # "" when unassigned
    created_at: str  # ISO-8601 UTC, "Z"
    updated_at: str


@dataclass
class RefundOverviewRow:
    id: int
    number: str
    status: str
    status_label: str
    reason: str
    reason_label: str
    customer_name: str
    customer_email: str  # agents only; "" for customers
    order_id: str
    case_id: int
    case_number: str
    assignee_name: str  # of the support case the refund belongs to; "" when unassigned
    amount: str  # formatted, e.g. "€12.50"
    amount_minor: int
    currency: str
    requested_at: str  # ISO-8601 UTC, "Z" — the "created" sort of refunds
    updated_at: str


@dataclass
class OverviewPage:
    """One page of an overview; ``rows`` are SupportOverviewRow or RefundOverviewRow."""

    rows: list[Any]
    next_cursor: str  # "" when this is the last page
    prev_cursor: str  # "" when this is the first page
    count_text: str  # "1,234", or "10,000+" when the count was capped
    total_is_exact: bool
    problems: dict[str, str] = field(default_factory=dict)  # parameters that were left out, and why
