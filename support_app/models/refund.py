"""Refund cases: a request to give back money for specific items of an order,
inside a support case. Amounts are integer minor units in the order's currency.

Text that comes from a person or from the payment gateway never meets a VARCHAR
limit (on PostgreSQL that would be a database error, not a message): it is TEXT
(encrypted when it is customer or decision text), or bounded before it is stored
(services/refund_execution, services/gateway_events).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from support_app.models.base import UTCDateTime, utcnow
from support_app.models.encrypted import EncryptedText


class RefundCase(SQLModel, table=True):
    __tablename__ = "refund_cases"
    __table_args__ = (
        Index("ix_refund_cases_order_status", "order_snapshot_id", "status"),
        Index("ix_refund_cases_customer_status", "customer_id", "status"),
        Index("ix_refund_cases_status_requested", "status", "requested_at"),
        # A double-clicked submit carries the same key: the second finds the first.
        UniqueConstraint("customer_id", "request_key", name="uq_refund_cases_request_key"),
        # Keyset pagination of the overviews (migration 0003): (filter, sort, id).
        Index("ix_refund_cases_requested_id", "requested_at", "id"),
        Index("ix_refund_cases_updated_id", "updated_at", "id"),
        Index("ix_refund_cases_amount_id", "amount", "id"),
        Index("ix_refund_cases_status_requested_id", "status", "requested_at", "id"),
        Index("ix_refund_cases_status_updated_id", "status", "updated_at", "id"),
        Index("ix_refund_cases_status_amount_id", "status", "amount", "id"),
        Index("ix_refund_cases_customer_requested_id", "customer_id", "requested_at", "id"),
        Index("ix_refund_cases_customer_updated_id", "customer_id", "updated_at", "id"),
        Index("ix_refund_cases_customer_amount_id", "customer_id", "amount", "id"),
        Index("ix_refund_cases_reason_requested_id", "reason", "requested_at", "id"),
        Index("ix_refund_cases_reason_updated_id", "reason", "updated_at", "id"),
        Index("ix_refund_cases_reason_amount_id", "reason", "amount", "id"),
        Index("ix_refund_cases_currency_amount_id", "currency", "amount", "id"),  # migration 0009
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str | None = Field(default=None, max_length=16, sa_column_kwargs={"unique": True})
    support_case_id: int = Field(foreign_key="support_cases.id", index=True)
    order_snapshot_id: int = Field(foreign_key="order_snapshots.id")
    customer_id: int = Field(foreign_key="users.id")
    status: str = Field(max_length=16)
    reason: str = Field(max_length=32)
    note: str | None = Field(default=None, sa_column=Column(EncryptedText("refund_cases.note"), nullable=True))
    amount: int  # items + shipping
    shipping_amount: int = 0
    currency: str = Field(max_length=3)
    request_key: str = Field(max_length=64)
    abandoned: bool = False  # a failed refund given up on releases its quantity
    gateway_reference: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # the gateway's id
    failure_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # the gateway's words
    decided_by: int | None = Field(default=None, foreign_key="users.id")
    decision_code: str | None = Field(default=None, max_length=32)  # reject reason or settlement type
    # What the customer is told (a rejection's or a settlement's message) …
    decision_note: str | None = Field(default=None, sa_column=Column(EncryptedText("refund_cases.decision_note"), nullable=True))
    # … and what only agents read (a settlement's internal note).
    internal_note: str | None = Field(default=None, sa_column=Column(EncryptedText("refund_cases.internal_note"), nullable=True))
    settled_amount: int | None = None
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
    unit_amounts: str = Field(sa_column=Column(Text, nullable=False))  # comma-separated minor units, the slice used
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
    detail: str | None = Field(default=None, sa_column=Column(EncryptedText("refund_events.detail"), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class RefundAttempt(SQLModel, table=True):
    """One request to the payment gateway, under one idempotency key.

    The key is written in the same transaction that moves the refund to processing,
    before the gateway is called; every retry of that attempt reuses it. A partial
    unique index allows at most one live (pending / unknown / succeeded) attempt per
    refund case, so no code path can start a second payout alongside the first.

    An answer whose amount or currency is not the attempt's is recorded as ``mismatch``
    with what the gateway reported (``reported_amount``/``reported_currency``): money
    may have moved, so it counts as live for the one-attempt rule, is never retried and
    waits for an agent.

    The table is also the outbox the workers drain (support_app/worker): a live
    attempt is due when ``next_try_at`` has passed, and a worker sends it only while
    it holds the claim (``claimed_by`` until ``claimed_until``); a claimant that dies
    is taken over when its claim expires. ``tries`` counts claims, for the backoff.
    """

    __tablename__ = "refund_attempts"
    __table_args__ = (
        Index(
            "uq_refund_attempts_one_live",
            "refund_case_id",
            unique=True,
            sqlite_where=text("status IN ('pending', 'unknown', 'succeeded', 'mismatch')"),
            postgresql_where=text("status IN ('pending', 'unknown', 'succeeded', 'mismatch')"),
        ),
        # Metrics: succeeded attempts by day (status = 'succeeded' AND updated_at >= since).
        Index("ix_refund_attempts_status_updated", "status", "updated_at"),
        # The workers' claim: live attempts whose next try is due (migration 0004).
        Index("ix_refund_attempts_status_next_try", "status", "next_try_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    refund_case_id: int = Field(foreign_key="refund_cases.id", index=True)
    idempotency_key: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    status: str = Field(max_length=16)  # pending | succeeded | failed | unknown | mismatch
    amount: int
    currency: str = Field(max_length=3)
    gateway_reference: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error_code: str | None = Field(default=None, max_length=64)  # a machine code, cut to 64 before it is stored
    error_message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reported_amount: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))  # on a mismatch
    reported_currency: str | None = Field(default=None, max_length=3)  # on a mismatch; None if not 3 letters
    sends: int = 0  # how many times the request was handed to the gateway client
    tries: int = 0  # how many times a worker claimed it
    next_try_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class WebhookEvent(SQLModel, table=True):
    """Gateway webhook deliveries already applied; a replayed event id is ignored."""

    __tablename__ = "webhook_events"

    event_id: str = Field(primary_key=True, max_length=80)
    type: str = Field(max_length=64)
    idempotency_key: str | None = Field(default=None, max_length=64)
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
