from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from support_app.models.base import UTCDateTime, utcnow


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (Index("ix_users_full_name", "full_name"),)  # customer-name prefix search

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, sa_column_kwargs={"unique": True}, nullable=False)
    full_name: str = Field(max_length=120)
    role: str = Field(max_length=16)  # customer | agent
    password_hash: str = Field(max_length=255)
    # The customer's id in the order system; agents have none.
    order_customer_id: str | None = Field(default=None, max_length=64, index=True)
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class SignIn(SQLModel, table=True):
    """One sign-in (a token family): its absolute end, and whether it was ended.

    The session cookie and every tab's refresh chain belong to one sign-in; rotating
    tokens never moves ``expires_at``, and revoking it ends all of them at once."""

    __tablename__ = "sign_ins"

    id: str = Field(primary_key=True, max_length=64)  # the family id carried by its tokens
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class RefreshToken(SQLModel, table=True):
    """One issued refresh token of a tab's chain. Tokens of one sign-in share a family;
    presenting a token that was already rotated (after the grace window) is reuse,
    and revokes the whole family."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family", "family_id"),)

    jti: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True)
    family_id: str = Field(max_length=64)
    issued_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
