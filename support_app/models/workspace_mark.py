"""When an agent last opened a case in the workspace: a case updated since is marked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from support_app.models.base import UTCDateTime, utcnow


class CaseSeen(SQLModel, table=True):
    __tablename__ = "case_seen_marks"

    agent_id: int = Field(foreign_key="users.id", primary_key=True)
    case_id: int = Field(foreign_key="support_cases.id", primary_key=True, index=True)
    seen_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
