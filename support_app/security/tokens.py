"""JWTs (PyJWT, HS256): short-lived access tokens and rotated refresh tokens.

Why everything is pinned: the algorithm list is fixed to HS256 so a token cannot
choose its own verification ("alg": "none", or an asymmetric header); every claim
we rely on is required, so a token missing ``exp`` cannot live forever; ``typ``
separates access from refresh tokens, which share key, issuer and audience, so a
refresh token is never accepted where an access token is expected.

Time checks are done here rather than by PyJWT so callers (and tests) can pass
``now``; they mirror PyJWT's rules with a small leeway for clock skew.

A refresh token is a JWT too, but only a proof of *which* database row is being
presented: the ``RefreshToken`` row (used/revoked/expiry) is the source of truth.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt

from support_app.domain.errors import DomainError, ErrorCode
from support_app.kv import KV
from support_app.security import revocation
from support_app.settings import get_settings

ALGORITHM = "HS256"
LEEWAY_SECONDS = 5
ACCESS = "access"
REFRESH = "refresh"
_BASE_CLAIMS = ("exp", "iat", "nbf", "iss", "aud", "sub", "jti", "typ")
_MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says. ``family_id`` names the sign-in session."""

    user_id: int
    role: str
    jti: str
    expires_at: datetime
    family_id: str | None = None


@dataclass(frozen=True)
class RefreshClaims:
    user_id: int
    jti: str
    family_id: str
    issued_at: datetime
    expires_at: datetime


def new_id() -> str:
    """A random 128-bit identifier (jti, family id)."""
    return uuid.uuid4().hex


def _now(now: datetime | None) -> datetime:
    value = now or datetime.now(timezone.utc)
    if value.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    # JWT times are whole seconds; truncating keeps claims and dataclasses equal.
    return value.astimezone(timezone.utc).replace(microsecond=0)


def _encode(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, get_settings().jwt_secret, algorithm=ALGORITHM)


def _base_claims(user_id: int, typ: str, jti: str, issued: datetime, expires: datetime) -> dict[str, Any]:
    s = get_settings()
    ts = int(issued.timestamp())
    return {
        "sub": str(user_id), "typ": typ, "iss": s.jwt_issuer, "aud": s.jwt_audience,
        "iat": ts, "nbf": ts, "exp": int(expires.timestamp()), "jti": jti,
    }


def create_access_token(
    user_id: int, role: str, *, family_id: str | None = None, now: datetime | None = None
) -> tuple[str, AccessClaims]:
    """Sign an access token valid for ``settings.access_token_minutes``."""
    issued = _now(now)
    expires = issued + timedelta(minutes=get_settings().access_token_minutes)
    jti = new_id()
    claims = _base_claims(user_id, ACCESS, jti, issued, expires) | {"role": role}
    if family_id is not None:
        claims["fam"] = family_id
    return _encode(claims), AccessClaims(user_id, role, jti, expires, family_id)


def create_refresh_token(user_id: int, family_id: str, *, now: datetime | None = None) -> tuple[str, RefreshClaims]:
    """Sign a refresh token valid for ``settings.refresh_token_days``; the caller
    must store the matching ``RefreshToken`` row or the token will be refused."""
    issued = _now(now)
    expires = issued + timedelta(days=get_settings().refresh_token_days)
    jti = new_id()
    claims = _base_claims(user_id, REFRESH, jti, issued, expires) | {"fam": family_id}
    return _encode(claims), RefreshClaims(user_id, jti, family_id, issued, expires)


def _invalid() -> DomainError:
    return DomainError(ErrorCode.TOKEN_INVALID)


def _int_claim(payload: dict[str, Any], name: str) -> int:
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid()
    return value


def _decode(token: str, typ: str, extra: tuple[str, ...], now: datetime | None, allow_expired: bool) -> dict[str, Any]:
    """Verify signature, issuer, audience, required claims, type and times."""
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        raise _invalid()
    s = get_settings()
    try:
        payload = jwt.decode(
            token, s.jwt_secret, algorithms=[ALGORITHM], audience=s.jwt_audience, issuer=s.jwt_issuer,
            options={"require": [*_BASE_CLAIMS, *extra], "verify_exp": False, "verify_nbf": False,
                     "verify_iat": False, "strict_aud": True},
        )
    except jwt.PyJWTError:
        raise _invalid() from None
    if payload.get("typ") != typ:
        raise _invalid()
    for name in ("sub", "jti", *extra):
        if not isinstance(payload[name], str) or not payload[name]:
            raise _invalid()
    if not payload["sub"].isdigit():
        raise _invalid()
    current = _now(now).timestamp()
    exp, nbf, iat = (_int_claim(payload, n) for n in ("exp", "nbf", "iat"))
    if nbf > current + LEEWAY_SECONDS or iat > current + LEEWAY_SECONDS:
        raise _invalid()
    if exp <= current - LEEWAY_SECONDS and not allow_expired:
        raise DomainError(ErrorCode.TOKEN_EXPIRED)
    return payload


def _ts(value: int) -> datetime:
    return datetime.fromtimestamp(value, tz=timezone.utc)


def decode_access(
    token: str, *, now: datetime | None = None, kv: KV | None = None, check_revoked: bool = True
) -> AccessClaims:
    """Verify an access token; raises TOKEN_EXPIRED, TOKEN_REVOKED or TOKEN_INVALID.

    ``check_revoked=False`` is only for sign-out, which must work on a token that
    is already on the revocation list.
    """
    payload = _decode(token, ACCESS, ("role",), now, allow_expired=False)
    family = payload.get("fam")
    if family is not None and not isinstance(family, str):
        raise _invalid()
    claims = AccessClaims(int(payload["sub"]), payload["role"], payload["jti"], _ts(payload["exp"]), family)
    if check_revoked and revocation.is_revoked(claims.jti, claims.family_id, kv=kv):
        raise DomainError(ErrorCode.TOKEN_REVOKED)
    return claims


def decode_refresh(token: str, *, now: datetime | None = None, allow_expired: bool = False) -> RefreshClaims:
    """Verify a refresh token's signature and claims (not its database row)."""
    payload = _decode(token, REFRESH, ("fam",), now, allow_expired)
    return RefreshClaims(int(payload["sub"]), payload["jti"], payload["fam"], _ts(payload["iat"]), _ts(payload["exp"]))


DOWNLOAD = "download"
DOWNLOAD_SECONDS = 120


def create_download_token(user_id: int, purpose: str, *, now: datetime | None = None) -> str:
    """A two-minute token for one kind of file download (e.g. "cases.csv").

    Downloads are plain GET requests the browser makes itself, and the access token
    never leaves the server; this short, single-purpose token stands in for it.
    """
    issued = _now(now)
    expires = issued + timedelta(seconds=DOWNLOAD_SECONDS)
    return _encode(_base_claims(user_id, DOWNLOAD, new_id(), issued, expires) | {"pur": purpose})


def decode_download_token(token: str, purpose: str, *, now: datetime | None = None) -> int:
    """The user id a download token was made for; TOKEN_INVALID/EXPIRED otherwise."""
    payload = _decode(token, DOWNLOAD, ("pur",), now, allow_expired=False)
    if payload["pur"] != purpose:
        raise _invalid()
    return int(payload["sub"])
