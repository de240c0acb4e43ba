"""JWTs (PyJWT, HS256 under a keyring): access, refresh, session and download tokens.

Why everything is pinned: the algorithm list is fixed to HS256 so a token cannot
choose its own verification ("alg": "none", or an asymmetric header); every claim
we rely on is required, so a token missing ``exp`` cannot live forever; ``typ``
separates the kinds, which share keys, issuer and audience, so a refresh token is
never accepted where an access token is expected.

Keys: ``SUPPORT_JWT_KEYS`` is a keyring of ``kid:secret`` pairs. The first signs and
its id goes in the header (``kid``); every key verifies the tokens that name it. A key
is rotated by putting a new one first and keeping the old one until the last token it
signed has expired, so rotation signs nobody out. A token naming an unknown key id is
invalid.

Time checks are done here rather than by PyJWT so callers (and tests) can pass
``now``; they mirror PyJWT's rules with a small leeway for clock skew.

Kinds:
- access: 15 minutes, carries the role; who is calling, checked without a database.
- refresh: one browser tab's rotating chain, kept on the server; its database row is
  the source of truth (used / revoked / expiry).
- session: the sign-in itself, in an HttpOnly cookie; it expires with the sign-in's
  absolute lifetime and is checked against the ``sign_ins`` row.
- download: a short, single-purpose, single-use link for a file.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import jwt

from support_app.domain.errors import DomainError, ErrorCode
from support_app.settings import get_settings, parse_jwt_keys

SESSION_COOKIE = "sr_session"  # the HttpOnly cookie holding a session token
ALGORITHM = "HS256"
LEEWAY_SECONDS = 5
ACCESS = "access"
REFRESH = "refresh"
SESSION = "session"
DOWNLOAD = "download"
DOWNLOAD_SECONDS = 120
_BASE_CLAIMS = ("exp", "iat", "nbf", "iss", "aud", "sub", "jti", "typ")
_MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says. ``family_id`` names the sign-in."""

    user_id: int
    role: str
    jti: str
    expires_at: datetime
    family_id: str | None = None
    issued_at: datetime | None = None


@dataclass(frozen=True)
class RefreshClaims:
    user_id: int
    jti: str
    family_id: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class DownloadClaims:
    user_id: int
    jti: str
    family_id: str
    purpose: str
    expires_at: datetime


@lru_cache
def _keyring(value: str) -> tuple[str, dict[str, str]]:
    pairs = parse_jwt_keys(value)
    return pairs[0][0], dict(pairs)


def keyring() -> tuple[str, dict[str, str]]:
    """(the signing key id, every key by id) from the settings."""
    return _keyring(get_settings().jwt_keys)


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
    kid, keys = keyring()
    return jwt.encode(claims, keys[kid], algorithm=ALGORITHM, headers={"kid": kid})


def _base_claims(user_id: int, typ: str, jti: str, issued: datetime, expires: datetime) -> dict[str, Any]:
    s = get_settings()
    ts = int(issued.timestamp())
    return {
        "sub": str(user_id), "typ": typ, "iss": s.jwt_issuer, "aud": s.jwt_audience,
        "iat": ts, "nbf": ts, "exp": int(expires.timestamp()), "jti": jti,
    }


def create_access_token(
    user_id: int, role: str, *, family_id: str | None = None, now: datetime | None = None,
    not_after: datetime | None = None,
) -> tuple[str, AccessClaims]:
    """Sign an access token valid for ``settings.access_token_minutes`` (never past ``not_after``)."""
    issued = _now(now)
    expires = issued + timedelta(minutes=get_settings().access_token_minutes)
    if not_after is not None:
        expires = min(expires, _now(not_after))
    jti = new_id()
    claims = _base_claims(user_id, ACCESS, jti, issued, expires) | {"role": role}
    if family_id is not None:
        claims["fam"] = family_id
    return _encode(claims), AccessClaims(user_id, role, jti, expires, family_id, issued)


def create_refresh_token(
    user_id: int, family_id: str, *, now: datetime | None = None, not_after: datetime | None = None
) -> tuple[str, RefreshClaims]:
    """Sign a refresh token valid for ``settings.refresh_token_days`` but never past
    ``not_after`` (the sign-in's absolute end); the caller stores its row."""
    issued = _now(now)
    expires = issued + timedelta(days=get_settings().refresh_token_days)
    if not_after is not None:
        expires = min(expires, _now(not_after))
    jti = new_id()
    claims = _base_claims(user_id, REFRESH, jti, issued, expires) | {"fam": family_id}
    return _encode(claims), RefreshClaims(user_id, jti, family_id, issued, expires)


def create_session_token(user_id: int, family_id: str, expires_at: datetime, *, now: datetime | None = None) -> str:
    """The sign-in's cookie token; it lives exactly as long as the sign-in may."""
    issued = _now(now)
    return _encode(_base_claims(user_id, SESSION, new_id(), issued, _now(expires_at)) | {"fam": family_id})


def create_download_token(user_id: int, family_id: str, purpose: str, *, now: datetime | None = None) -> str:
    """A two-minute token for one download (e.g. "cases.csv"), bound to the sign-in
    that asked for it; the export route accepts each one once."""
    issued = _now(now)
    expires = issued + timedelta(seconds=DOWNLOAD_SECONDS)
    return _encode(_base_claims(user_id, DOWNLOAD, new_id(), issued, expires) | {"fam": family_id, "pur": purpose})


def _invalid() -> DomainError:
    return DomainError(ErrorCode.TOKEN_INVALID)


def _int_claim(payload: dict[str, Any], name: str) -> int:
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid()
    return value


def _key_for(token: str, keys: dict[str, str]) -> str:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise _invalid() from None
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise _invalid()
    return key


@lru_cache(maxsize=4096)
def _verified(token: str, typ: str, extra: tuple[str, ...], jwt_keys: str, issuer: str, audience: str
              ) -> MappingProxyType[str, Any]:
    """Key id, signature, issuer, audience, type and the claims' shapes: a pure function of
    the token and the keyring, so a token is verified once, not at every event of the tab
    that carries it (~0.1 ms each: 11 % of the samples holding the GIL at 150 sessions). Refusals are not
    cached (they raise); the times are checked at every use, by ``_decode``."""
    try:
        payload = jwt.decode(
            token, _key_for(token, _keyring(jwt_keys)[1]), algorithms=[ALGORITHM], audience=audience, issuer=issuer,
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
    for name in ("exp", "nbf", "iat"):
        _int_claim(payload, name)
    return MappingProxyType(payload)


def _decode(token: str, typ: str, extra: tuple[str, ...], now: datetime | None, allow_expired: bool) -> Mapping[str, Any]:
    """Verify key id, signature, issuer, audience, required claims, type and times."""
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        raise _invalid()
    s = get_settings()
    payload = _verified(token, typ, extra, s.jwt_keys, s.jwt_issuer, s.jwt_audience)
    current = _now(now).timestamp()
    exp, nbf, iat = payload["exp"], payload["nbf"], payload["iat"]
    if nbf > current + LEEWAY_SECONDS or iat > current + LEEWAY_SECONDS:
        raise _invalid()
    if exp <= current - LEEWAY_SECONDS and not allow_expired:
        raise DomainError(ErrorCode.TOKEN_EXPIRED)
    return payload


def _ts(value: int) -> datetime:
    return datetime.fromtimestamp(value, tz=timezone.utc)


def decode_access(token: str, *, now: datetime | None = None) -> AccessClaims:
    """Verify an access token's signature and claims (revocation is checked by the
    caller, see ``revocation.is_revoked``); TOKEN_EXPIRED or TOKEN_INVALID."""
    payload = _decode(token, ACCESS, ("role",), now, allow_expired=False)
    family = payload.get("fam")
    if family is not None and not isinstance(family, str):
        raise _invalid()
    return AccessClaims(int(payload["sub"]), payload["role"], payload["jti"], _ts(payload["exp"]), family,
                        _ts(payload["iat"]))


def decode_refresh(token: str, *, now: datetime | None = None, allow_expired: bool = False) -> RefreshClaims:
    """Verify a refresh token's signature and claims (not its database row)."""
    payload = _decode(token, REFRESH, ("fam",), now, allow_expired)
    return RefreshClaims(int(payload["sub"]), payload["jti"], payload["fam"], _ts(payload["iat"]), _ts(payload["exp"]))


def decode_session(token: str, *, now: datetime | None = None, allow_expired: bool = False) -> RefreshClaims:
    """Verify a session (cookie) token's signature and claims (not its ``sign_ins`` row)."""
    payload = _decode(token, SESSION, ("fam",), now, allow_expired)
    return RefreshClaims(int(payload["sub"]), payload["jti"], payload["fam"], _ts(payload["iat"]), _ts(payload["exp"]))


def decode_download_token(token: str, purpose: str, *, now: datetime | None = None) -> DownloadClaims:
    """The claims of a download token made for ``purpose``; TOKEN_INVALID/EXPIRED otherwise."""
    payload = _decode(token, DOWNLOAD, ("pur", "fam"), now, allow_expired=False)
    if payload["pur"] != purpose:
        raise _invalid()
    return DownloadClaims(int(payload["sub"]), payload["jti"], payload["fam"], purpose, _ts(payload["exp"]))
