"""Sign-in, token refresh, sign-out, identification and account creation.

Services take a Session and plain values and return read models; they know
nothing of the UI framework. The caller's unit of work (``db.session_scope``) commits on
success and rolls back on error -- except where noted: when refresh-token reuse
is detected the family revocation is committed *here* before the error is
raised, because rolling it back would hand the attacker their session back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NoReturn

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from support_app.domain.errors import DomainError, ErrorCode
from support_app.kv import KV
from support_app.models.user import RefreshToken, User
from support_app.security import passwords, ratelimit, revocation, tokens
from support_app.services.runner import writes
from support_app.settings import get_settings

ROLES = frozenset({"customer", "agent"})
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # argon2 copes, but nobody needs a megabyte of password
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class UserView:
    """The signed-in person as the rest of the app may see them (no hash, no flags)."""

    id: int
    email: str
    full_name: str
    role: str


@dataclass(frozen=True)
class AuthResult:
    access_token: str
    refresh_token: str
    user: UserView
    access_expires_at: datetime
    # A second refresh token of the same family for one browser tab (see ``fork``).
    tab_refresh_token: str = ""


def _view(user: User) -> UserView:
    assert user.id is not None
    return UserView(user.id, user.email, user.full_name, user.role)


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def _new_refresh(session: Session, user_id: int, family_id: str, now: datetime) -> str:
    refresh_token, rc = tokens.create_refresh_token(user_id, family_id, now=now)
    session.add(RefreshToken(jti=rc.jti, user_id=user_id, family_id=family_id,
                             issued_at=rc.issued_at, expires_at=rc.expires_at))
    return refresh_token


def _issue(session: Session, user: User, family_id: str, now: datetime, fork: bool = False) -> AuthResult:
    """New access + refresh token pair in ``family_id``; stores the refresh row.

    ``fork`` also issues a second, independent refresh chain of the same family:
    the browser keeps one in a cookie to open new tabs, each tab keeps its own on
    the server, so one tab's rotation never makes another tab look like a thief.
    Reuse of any spent token still burns the whole family.
    """
    assert user.id is not None
    refresh_token = _new_refresh(session, user.id, family_id, now)
    tab_token = _new_refresh(session, user.id, family_id, now) if fork else ""
    session.flush()
    access_token, ac = tokens.create_access_token(user.id, user.role, family_id=family_id, now=now)
    return AuthResult(access_token, refresh_token, _view(user), ac.expires_at, tab_token)


def _revoke_family(session: Session, family_id: str, now: datetime, kv: KV | None) -> None:
    """End a sign-in session: every refresh row of the family, and (through the
    KV) every access token issued in it."""
    session.exec(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    revocation.revoke_family(family_id, get_settings().access_token_minutes * 60, kv=kv)


@writes
def sign_in(
    session: Session, email: str, password: str, client_id: str, *, kv: KV | None = None, now: datetime | None = None
) -> AuthResult:
    """Check the password and start a new sign-in session (token family).

    The attempt is counted (per account and per client) before anything else.
    Unknown email, wrong password and inactive account all raise the same
    INVALID_CREDENTIALS, and each runs exactly one argon2 verification.
    """
    normalised = ratelimit.normalise_email(email)
    ratelimit.check_login_allowed(normalised, client_id, kv=kv)
    user = session.exec(select(User).where(User.email == normalised)).first()
    ok = passwords.verify_or_dummy(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active:
        raise DomainError(ErrorCode.INVALID_CREDENTIALS)
    ratelimit.record_login_success(normalised, kv=kv)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
        session.add(user)
    return _issue(session, user, tokens.new_id(), _now(now), fork=True)


@writes
def refresh(
    session: Session, refresh_token: str, *, fork: bool = False, kv: KV | None = None, now: datetime | None = None
) -> AuthResult:
    """Rotate: spend the presented refresh token, issue a new pair in its family.

    Presenting a token that was already spent is reuse (one of the two holders
    is a thief): the whole family is revoked and TOKEN_REUSED raised. A token
    revoked but never spent (sign-out, or a family burned earlier) gives
    TOKEN_REVOKED. The
    spend is a conditional UPDATE whose row count decides, so of two concurrent
    refreshes with one token exactly one wins; the loser counts as reuse too.
    """
    current = _now(now)
    claims = tokens.decode_refresh(refresh_token, now=current)
    row = session.get(RefreshToken, claims.jti)
    if row is None or row.user_id != claims.user_id or row.family_id != claims.family_id:
        raise DomainError(ErrorCode.TOKEN_INVALID)
    if row.used_at is not None:
        _reuse_detected(session, row.family_id, current, kv)
    if row.revoked_at is not None:  # signed out, or its family already burned
        raise DomainError(ErrorCode.TOKEN_REVOKED)
    if row.expires_at <= current:
        raise DomainError(ErrorCode.TOKEN_EXPIRED)
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        _revoke_family(session, row.family_id, current, kv)
        session.commit()
        raise DomainError(ErrorCode.TOKEN_REVOKED)
    spent = session.exec(
        update(RefreshToken)
        .where(RefreshToken.jti == row.jti, RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))
        .values(used_at=current)
    )
    if spent.rowcount != 1:
        _reuse_detected(session, row.family_id, current, kv)
    return _issue(session, user, row.family_id, current, fork=fork)


def _reuse_detected(session: Session, family_id: str, now: datetime, kv: KV | None) -> NoReturn:
    _revoke_family(session, family_id, now, kv)
    session.commit()  # must survive the caller's rollback on the error below
    raise DomainError(ErrorCode.TOKEN_REUSED)


@writes
def sign_out(
    session: Session,
    access: str | tokens.AccessClaims | None,
    refresh_token: str | None = None,
    *,
    kv: KV | None = None,
    now: datetime | None = None,
) -> None:
    """Revoke the access token and the sign-in session. Idempotent and quiet:
    an expired, revoked or garbled token is simply skipped, since the person
    wants to be signed out whatever state their tokens are in."""
    current = _now(now)
    claims = access
    if isinstance(access, str):
        try:
            claims = tokens.decode_access(access, now=current, kv=kv, check_revoked=False)
        except DomainError:
            claims = None
    if isinstance(claims, tokens.AccessClaims):
        revocation.revoke_access(claims.jti, claims.expires_at, kv=kv, now=current)
        if claims.family_id is not None:
            _revoke_family(session, claims.family_id, current, kv)
    if refresh_token:
        try:
            rc = tokens.decode_refresh(refresh_token, now=current, allow_expired=True)
        except DomainError:
            return
        _revoke_family(session, rc.family_id, current, kv)


def identify(session: Session, access_token: str, *, kv: KV | None = None, now: datetime | None = None) -> UserView:
    """Who is calling? Verifies the token (incl. revocation) and re-reads the user,
    so deactivation and role changes take effect on the next event, not at expiry.
    The role returned is the database's, not the token's."""
    claims = tokens.decode_access(access_token, now=now, kv=kv)
    user = session.get(User, claims.user_id)
    if user is None:
        raise DomainError(ErrorCode.TOKEN_INVALID)
    if not user.is_active:
        raise DomainError(ErrorCode.TOKEN_REVOKED)
    return _view(user)


@writes
def create_user(
    session: Session, email: str, full_name: str, role: str, password: str, order_customer_id: str | None = None
) -> UserView:
    """Create an account. Field problems raise VALIDATION_FAILED with ``fields``;
    an email already in use (compared case-insensitively) raises EMAIL_TAKEN."""
    email = ratelimit.normalise_email(email)
    full_name = full_name.strip()
    order_customer_id = (order_customer_id or "").strip() or None
    fields: dict[str, str] = {}
    if len(email) > 254 or not _EMAIL_RE.match(email):
        fields["email"] = "Enter a valid email address."
    if not full_name or len(full_name) > 120:
        fields["full_name"] = "Enter a name of 1 to 120 characters."
    if role not in ROLES:
        fields["role"] = "Role must be customer or agent."
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        fields["password"] = f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if role == "customer" and order_customer_id is None:
        fields["order_customer_id"] = "A customer needs their order-system customer id."
    if role == "agent" and order_customer_id is not None:
        fields["order_customer_id"] = "Agents have no order-system customer id."
    if fields:
        raise DomainError(ErrorCode.VALIDATION_FAILED, fields=fields)
    if session.exec(select(User.id).where(User.email == email)).first() is not None:
        raise DomainError(ErrorCode.EMAIL_TAKEN, fields={"email": "An account with that email already exists."})
    user = User(email=email, full_name=full_name, role=role,
                password_hash=passwords.hash_password(password), order_customer_id=order_customer_id)
    try:
        with session.begin_nested():  # a lost race on the unique index must not poison the transaction
            session.add(user)
    except IntegrityError:
        raise DomainError(ErrorCode.EMAIL_TAKEN, fields={"email": "An account with that email already exists."}) from None
    return _view(user)


def active_user(session: Session, user_id: int) -> UserView:
    """The user behind a short-lived token (e.g. a download), re-read now."""
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise DomainError(ErrorCode.TOKEN_INVALID)
    return _view(user)
