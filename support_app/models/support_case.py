from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from support_app.models.base import UTCDateTime, utcnow
from support_app.models.encrypted import EncryptedText


class SupportCase(SQLModel, table=True):
    __tablename__ = "support_cases"
    __table_args__ = (
        Index("ix_support_cases_customer_status", "customer_id", "status"),
        Index("ix_support_cases_status_created", "status", "created_at"),
        Index("ix_support_cases_assignee_status", "assignee_id", "status"),
        Index("ix_support_cases_updated", "updated_at"),
        # Keyset pagination of the overviews (migration 0003): (filter, sort, id).
        Index("ix_support_cases_created_id", "created_at", "id"),
        Index("ix_support_cases_updated_id", "updated_at", "id"),
        Index("ix_support_cases_status_created_id", "status", "created_at", "id"),
        Index("ix_support_cases_status_updated_id", "status", "updated_at", "id"),
        Index("ix_support_cases_customer_created_id", "customer_id", "created_at", "id"),
        Index("ix_support_cases_customer_updated_id", "customer_id", "updated_at", "id"),
        Index("ix_support_cases_assignee_created_id", "assignee_id", "created_at", "id"),
        Index("ix_support_cases_assignee_updated_id", "assignee_id", "updated_at", "id"),
        # Priority and category filters of the overview, and the queue's priority order (migration 0009).
        Index("ix_support_cases_priority_created_id", "priority", "created_at", "id"),
        Index("ix_support_cases_priority_updated_id", "priority", "updated_at", "id"),
        Index("ix_support_cases_category_created_id", "category", "created_at", "id"),
        Index("ix_support_cases_category_updated_id", "category", "updated_at", "id"),
        # The agents' queue, most pressing first (migration 0010).
        Index("ix_support_cases_status_due_created_id", "status", "due_at", "created_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str | None = Field(default=None, max_length=16, sa_column_kwargs={"unique": True})
    customer_id: int = Field(foreign_key="users.id")
    order_snapshot_id: int = Field(foreign_key="order_snapshots.id", index=True)
    subject: str = Field(sa_column=Column(EncryptedText("support_cases.subject"), nullable=False))
    description: str = Field(sa_column=Column(EncryptedText("support_cases.description"), nullable=False))
    category: str = Field(max_length=32)
    priority: str = Field(max_length=16)
    status: str = Field(max_length=32)
    assignee_id: int | None = Field(default=None, foreign_key="users.id")
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    first_response_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # When the agents owe a response (domain/case_due.py), None when they owe none now;
    # kept by every write that can move it (services/case_due_store.py).
    due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class CaseMessage(SQLModel, table=True):
    __tablename__ = "case_messages"
    __table_args__ = (Index("ix_case_messages_case_created", "case_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="support_cases.id")
    author_id: int = Field(foreign_key="users.id", index=True)
    visibility: str = Field(max_length=16)  # public (reply) | internal (agent-only note)
    body: str = Field(sa_column=Column(EncryptedText("case_messages.body"), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class CaseEvent(SQLModel, table=True):
    """Append-only history of a support case (the migration forbids UPDATE and DELETE)."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case_created", "case_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="support_cases.id")
    actor_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    kind: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=32)
    to_status: str | None = Field(default=None, max_length=32)
    detail: str | None = Field(default=None, sa_column=Column(EncryptedText("case_events.detail"), nullable=True))
    internal: bool = False  # agent-only event (e.g. an internal note was added)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
