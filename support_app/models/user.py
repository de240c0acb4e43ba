from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from support_app.models.base import UTCDateTime, utcnow
from support_app.models.encrypted import EncryptedText


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    # Encrypted (models/encrypted); email_bidx is its blind index, set from the email on
    # every insert and update (models/search_index): sign-in, uniqueness, exact search.
    email: str = Field(sa_column=Column(EncryptedText("users.email"), nullable=False))
    email_bidx: str | None = Field(default=None, max_length=32, sa_column_kwargs={"unique": True}, nullable=False)
    full_name: str = Field(sa_column=Column(EncryptedText("users.full_name"), nullable=False))
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
