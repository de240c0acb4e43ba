"""A snapshot of an order from the order system, taken when a case is opened on it.
Lines and amounts never change; delivery facts are refreshed (services/orders)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from support_app.models.base import UTCDateTime, utcnow
from support_app.models.encrypted import EncryptedText


class OrderSnapshot(SQLModel, table=True):
    __tablename__ = "order_snapshots"
    __table_args__ = (Index("ix_order_snapshots_delivered_at", "delivered_at"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    customer_id: int = Field(foreign_key="users.id", index=True)
    currency: str = Field(max_length=3)
    placed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # The order system's status (processing | shipped | delivered); with delivered_at the
    # only facts refreshed after the snapshot is taken (domain/delivery).
    status: str | None = Field(default=None, max_length=16)
    shipping_amount: int = 0
    shipping_tax: int = 0
    amount_paid: int = 0
    payment_reference: str = Field(sa_column=Column(EncryptedText("order_snapshots.payment_reference"), nullable=False))
    fetched_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("snapshot_id", "line_id"),)

    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int = Field(foreign_key="order_snapshots.id", index=True)
    line_id: str = Field(max_length=64)
    sku: str = Field(max_length=64)
    name: str = Field(max_length=200)
    quantity: int
    unit_price: int  # minor units, before discount and tax
    discount_total: int = 0  # for the whole line, minor units
    tax_total: int = 0  # for the whole line, minor units
