"""Sign-in, tabs, token refresh, sign-out, identification and accounts.

A sign-in (``sign_ins`` row) is what the HttpOnly session cookie stands for; it has
an absolute end that rotation never extends. Each browser tab opens its own refresh
chain from it and keeps it, with a short-lived access token, on the server. Who is
calling is then proved by the access token and the revocation list alone, with no
database read per event.

Services take a Session and plain values and return read models; they know nothing
of the UI framework. The caller's unit of work (``db.session_scope``) commits on
success and rolls back on error -- except where noted: when refresh-token reuse
is detected the family revocation is committed *here* before the error is raised,
because rolling it back would hand the attacker their session back; and sign-in
runs its own short units of work around the password check.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import NoReturn

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from support_app import logs
from support_app.db import session_scope
from support_app.domain.errors import DomainError, ErrorCode
from support_app.kv import KV, get_kv
from support_app.models.search_index import email_index
from support_app.models.user import RefreshToken, SignIn, User
from support_app.security import passwords, ratelimit, revocation, tokens
from support_app.services.runner import retry_busy, writes
from support_app.settings import get_settings

log = logging.getLogger(__name__)
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
class Identity:
    """Who is calling, as an access token proves it: no database read needed."""

    id: int
    role: str
    family_id: str | None = None


@dataclass(frozen=True)
class SignInResult:
    """A new sign-in: the session token for the HttpOnly cookie, and until when."""

    session_token: str
    expires_at: datetime
    user: UserView


@dataclass(frozen=True)
class TabTokens:
    """One browser tab's credentials, kept on the server only."""

    access_token: str
    refresh_token: str
    user: UserView
    family_id: str
    access_expires_at: datetime


def _view(user: User) -> UserView:
    assert user.id is not None
    return UserView(user.id, user.email, user.full_name, user.role)


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def session_lifetime(role: str) -> timedelta:
    """How long a sign-in may last at most, whatever its tokens do."""
    s = get_settings()
    return timedelta(hours=s.session_hours_agent) if role == "agent" else timedelta(days=s.session_days_customer)


def _issue_tab(session: Session, user: User, sign_in: SignIn, now: datetime) -> TabTokens:
    """A fresh refresh chain for one tab and an access token, both ending no later
    than the sign-in itself."""
    assert user.id is not None
    refresh_token, rc = tokens.create_refresh_token(user.id, sign_in.id, now=now, not_after=sign_in.expires_at)
    session.add(RefreshToken(jti=rc.jti, user_id=user.id, family_id=sign_in.id,
                             issued_at=rc.issued_at, expires_at=rc.expires_at))
    session.flush()
    access_token, ac = tokens.create_access_token(user.id, user.role, family_id=sign_in.id, now=now,
                                                  not_after=sign_in.expires_at)
    return TabTokens(access_token, refresh_token, _view(user), sign_in.id, ac.expires_at)


def _revoke_family(session: Session, family_id: str, now: datetime, kv: KV | None) -> None:
    """End a sign-in: its row, every refresh row of its tabs, and (through the KV)
    every access token issued in it."""
    session.exec(update(SignIn).where(SignIn.id == family_id, SignIn.revoked_at.is_(None)).values(revoked_at=now))
    session.exec(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    revocation.revoke_family(family_id, kv=kv)


def _active_sign_in(session: Session, family_id: str, user_id: int, now: datetime) -> tuple[SignIn, User]:
    """The sign-in and its user, if the sign-in is neither ended nor past its end
    and the account is still active; the right TOKEN_* error otherwise."""
    sign_in = session.get(SignIn, family_id)
    if sign_in is None or sign_in.user_id != user_id:
        raise DomainError(ErrorCode.TOKEN_INVALID)
    if sign_in.revoked_at is not None:
        raise DomainError(ErrorCode.TOKEN_REVOKED)
    if sign_in.expires_at <= now:
        raise DomainError(ErrorCode.TOKEN_EXPIRED)
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise DomainError(ErrorCode.TOKEN_REVOKED)
    return sign_in, user


def sign_in(
    email: str, password: str, client_id: str, *, kv: KV | None = None, now: datetime | None = None,
    engine: Engine | None = None,
) -> SignInResult:
    """Check the password and start a new sign-in.

    The expensive part (argon2, ~30 ms of CPU) runs outside any transaction, so a sign-in
    never holds SQLite's write lock while hashing: a short read finds the account,
    the password is verified with no transaction open, and only then a short write
    records the sign-in. Throttling counts failures (ratelimit.LoginThrottle).
    Unknown email, wrong password and inactive account all raise the same
    INVALID_CREDENTIALS, and each runs exactly one argon2 verification.
    """
    normalised = ratelimit.normalise_email(email)
    if not normalised or len(normalised) > 254 or len(password) > MAX_PASSWORD_LENGTH:
        raise DomainError(ErrorCode.INVALID_CREDENTIALS)
    throttle = ratelimit.LoginThrottle(kv)
    throttle.reserve(normalised, client_id)
    with session_scope(engine) as session:
        user = session.exec(select(User).where(User.email_bidx == email_index(normalised))).first()
        stored = (user.id, user.password_hash, user.is_active) if user else None
    ok = passwords.verify_or_dummy(password, stored[1] if stored else None)
    if stored is None or not ok or not stored[2]:
        throttle.failed(normalised)
        raise DomainError(ErrorCode.INVALID_CREDENTIALS)
    throttle.succeeded(normalised, client_id)
    rehashed = passwords.hash_password(password) if passwords.needs_rehash(stored[1]) else None
    current = _now(now).replace(microsecond=0)  # JWT times are whole seconds

    def record() -> SignInResult:
        with session_scope(engine, write=True) as session:
            user = session.get(User, stored[0])
            if user is None or not user.is_active:  # deactivated in between
                raise DomainError(ErrorCode.INVALID_CREDENTIALS)
            if rehashed:
                user.password_hash = rehashed
                session.add(user)
            expires = current + session_lifetime(user.role)
            row = SignIn(id=tokens.new_id(), user_id=stored[0], created_at=current, expires_at=expires)
            session.add(row)
            session.flush()
            return SignInResult(tokens.create_session_token(stored[0], row.id, expires, now=current), expires,
                                _view(user))

    # A write lock held past the busy timeout is waited out a few times, then a clear
    # SERVICE_BUSY: never an OperationalError (an HTTP 500) for the sign-in form.
    return retry_busy(record, "sign_in")


@writes
def open_tab(
    session: Session, session_token: str, tab_id: str = "", *, kv: KV | None = None, now: datetime | None = None
) -> TabTokens:
    """A browser tab joins the sign-in its cookie names: a refresh chain of its own
    (so one tab's rotation never looks like theft to another) and an access token.
    The cookie's token is not spent: any number of tabs may open at once. ``tab_id``
    (the tab's Reflex client token) is remembered, so sign-out can clear every tab."""
    current = _now(now)
    claims = tokens.decode_session(session_token, now=current)
    sign_in, user = _active_sign_in(session, claims.family_id, claims.user_id, current)
    if tab_id:
        (kv or get_kv()).add_member(f"tabs:{sign_in.id}", tab_id[:64],
                                    max(1, int((sign_in.expires_at - current).total_seconds())))
    return _issue_tab(session, user, sign_in, current)


@writes
def refresh(
    session: Session, refresh_token: str, *, kv: KV | None = None, now: datetime | None = None
) -> TabTokens:
    """Rotate a tab's chain: spend the presented token, issue the next one.

    The spend is a conditional UPDATE whose row count decides, so of two concurrent
    refreshes with one token exactly one wins. A token spent less than
    ``refresh_grace_seconds`` ago (a retried event, an answer lost with a worker) is
    tolerated: it gets a new chain of the same sign-in. Spent longer ago, it is
    reuse — one of two holders is a thief — and the whole sign-in is revoked
    (TOKEN_REUSED). A token revoked but never spent gives TOKEN_REVOKED; a sign-in
    past its absolute end gives TOKEN_EXPIRED, however recently it was rotated.
    """
    current = _now(now)
    claims = tokens.decode_refresh(refresh_token, now=current)
    row = session.get(RefreshToken, claims.jti)
    if row is None or row.user_id != claims.user_id or row.family_id != claims.family_id:
        raise DomainError(ErrorCode.TOKEN_INVALID)
    if row.used_at is not None and not _in_grace(row.used_at, current):
        _reuse_detected(session, row.family_id, current, kv)
    if row.revoked_at is not None:  # signed out, or its family already burned
        raise DomainError(ErrorCode.TOKEN_REVOKED)
    if row.expires_at <= current:
        raise DomainError(ErrorCode.TOKEN_EXPIRED)
    try:
        sign_in, user = _active_sign_in(session, row.family_id, row.user_id, current)
    except DomainError as err:
        if err.code is ErrorCode.TOKEN_REVOKED:  # the account was deactivated: end the sign-in
            _revoke_family(session, row.family_id, current, kv)
            session.commit()
        raise
    if row.used_at is None:
        spent = session.exec(
            update(RefreshToken)
            .where(RefreshToken.jti == row.jti, RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))
            .values(used_at=current)
        )
        if spent.rowcount != 1:  # someone spent it in between: within the grace window by definition
            log.info("refresh token of sign-in %s spent concurrently; tolerated", row.family_id[:8])
    return _issue_tab(session, user, sign_in, current)


def _in_grace(used_at: datetime, now: datetime) -> bool:
    return (now - used_at).total_seconds() <= get_settings().refresh_grace_seconds


def _reuse_detected(session: Session, family_id: str, now: datetime, kv: KV | None) -> NoReturn:
    _revoke_family(session, family_id, now, kv)
    session.commit()  # must survive the caller's rollback on the error below
    logs.security(log, "token_reuse", "refresh token reuse: sign-in %s revoked", family_id[:8])
    raise DomainError(ErrorCode.TOKEN_REUSED)


@writes
def sign_out(session: Session, session_token: str, *, kv: KV | None = None, now: datetime | None = None) -> set[str]:
    """End the sign-in the cookie names, with every tab and access token of it.
    Idempotent and quiet: a garbled or already-ended token ends nothing. Returns the
    tabs (Reflex client tokens) that were signed in, so the caller can clear them."""
    current = _now(now)
    try:
        claims = tokens.decode_session(session_token, now=current, allow_expired=True)
    except DomainError:
        return set()
    sign_in = session.get(SignIn, claims.family_id)
    if sign_in is None or sign_in.user_id != claims.user_id:
        return set()
    _revoke_family(session, sign_in.id, current, kv)
    return (kv or get_kv()).members(f"tabs:{sign_in.id}")


def identify(access_token: str, *, kv: KV | None = None, now: datetime | None = None) -> Identity:
    """Who is calling? The token's signature, times and revocation (one KV round trip,
    no database): deactivation and role changes revoke the user's tokens, so they
    take effect at the next event, not at expiry."""
    claims = tokens.decode_access(access_token, now=now)
    if revocation.is_revoked(claims, kv=kv):
        raise DomainError(ErrorCode.TOKEN_REVOKED)
    return Identity(claims.user_id, claims.role, claims.family_id)


async def identify_async(access_token: str, *, kv: KV | None = None, now: datetime | None = None) -> Identity:
    """identify() for the event loop: the revocation lookup does not block it."""
    claims = tokens.decode_access(access_token, now=now)
    if await revocation.is_revoked_async(claims, kv=kv):
        raise DomainError(ErrorCode.TOKEN_REVOKED)
    return Identity(claims.user_id, claims.role, claims.family_id)


def check_sign_in(session: Session, family_id: str, user_id: int, *, now: datetime | None = None) -> UserView:
    """The user of a live sign-in (a download link checks the one it was made for)."""
    _, user = _active_sign_in(session, family_id, user_id, _now(now))
    return _view(user)


@writes
def deactivate_user(session: Session, email: str, *, kv: KV | None = None, now: datetime | None = None) -> UserView:
    """Close an account: it can no longer sign in, and every running session of it
    ends at its next event (its sign-ins and access tokens are revoked)."""
    current = _now(now)
    user = session.exec(select(User).where(User.email_bidx == email_index(ratelimit.normalise_email(email)))).first()
    if user is None:
        raise DomainError(ErrorCode.USER_NOT_FOUND)
    user.is_active = False
    session.add(user)
    for family_id in session.exec(select(SignIn.id).where(SignIn.user_id == user.id, SignIn.revoked_at.is_(None))):
        _revoke_family(session, family_id, current, kv)
    revocation.revoke_user(user.id, current, kv=kv)
    return _view(user)


@writes
def create_user(
    session: Session, email: str, full_name: str, role: str, password: str, order_customer_id: str | None = None,
    *, password_hash: str | None = None,
) -> UserView:
    """Create an account. Field problems raise VALIDATION_FAILED with ``fields``;
    an email already in use (compared case-insensitively) raises EMAIL_TAKEN.

    ``password_hash``: a hash of ``password`` made earlier, stored instead of hashing
    again (the demo history gives its accounts one shared password, hashed once)."""
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
    # Hashed before the first statement, so before the (write) transaction begins.
    password_hash = password_hash or passwords.hash_password(password)
    if session.exec(select(User.id).where(User.email_bidx == email_index(email))).first() is not None:
        raise DomainError(ErrorCode.EMAIL_TAKEN, fields={"email": "An account with that email already exists."})
    user = User(email=email, full_name=full_name, role=role,
                password_hash=password_hash, order_customer_id=order_customer_id)
    try:
        with session.begin_nested():  # a lost race on the unique index must not poison the transaction
            session.add(user)
    except IntegrityError:
        raise DomainError(ErrorCode.EMAIL_TAKEN, fields={"email": "An account with that email already exists."}) from None
    return _view(user)
