"""Refund cases: a request to give back money for specific items of an order,
inside a support case. Amounts are integer minor units in the order's currency."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from support_app.models.base import UTCDateTime, utcnow


class RefundCase(SQLModel, table=True):
    __tablename__ = "refund_cases"
    __table_args__ = (
        Index("ix_refund_cases_order_status", "order_snapshot_id", "status"),
        Index("ix_refund_cases_customer_status", "customer_id", "status"),
        Index("ix_refund_cases_status_requested", "status", "requested_at"),
        # A double-clicked submit carries the same key: the second finds the first.
        UniqueConstraint("customer_id", "request_key", name="uq_refund_cases_request_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str | None = Field(default=None, max_length=16, sa_column_kwargs={"unique": True})
    support_case_id: int = Field(foreign_key="support_cases.id", index=True)
    order_snapshot_id: int = Field(foreign_key="order_snapshots.id")
    customer_id: int = Field(foreign_key="users.id")
    status: str = Field(max_length=16)
    reason: str = Field(max_length=32)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    amount: int  # items + shipping
    shipping_amount: int = 0
    currency: str = Field(max_length=3)
    request_key: str = Field(max_length=64)
    abandoned: bool = False  # a failed refund given up on releases its quantity
    version: int = 1
    requested_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class RefundItem(SQLModel, table=True):
    __tablename__ = "refund_items"

    id: int | None = Field(default=None, primary_key=True)
    refund_case_id: int = Field(foreign_key="refund_cases.id", index=True)
    order_line_id: int = Field(foreign_key="order_lines.id", index=True)
    quantity: int
    unit_amounts: str = Field(max_length=2000)  # comma-separated minor units, the slice used
    amount: int


class RefundEvent(SQLModel, table=True):
    """Append-only history of a refund case (the migration forbids UPDATE and DELETE)."""

    __tablename__ = "refund_events"
    __table_args__ = (Index("ix_refund_events_refund_created", "refund_case_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    refund_case_id: int = Field(foreign_key="refund_cases.id")
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    kind: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str | None = Field(default=None, max_length=16)
    detail: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
