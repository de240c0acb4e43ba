"""Revocation of access tokens, kept in the KV store (Redis in production).

Access tokens are stateless JWTs checked on every event without a database read,
so ending one early means remembering it until it would have expired anyway (Redis
then drops the entry by TTL). Three kinds of entry, all looked up in one round trip:

- a token (``jti``): signed out of this one;
- a sign-in (family): sign-out, or refresh-token reuse; kills every access token of it;
- a user, with a time: every access token issued to that user before it is refused.
  Deactivating an account or changing its role sets it, so a running session learns
  of it at its next event, not when its token expires.

Refresh and session tokens are checked against the database (their rows), so these
entries only need to outlive the access tokens: their lifetime plus a margin.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

from support_app.kv import KV, get_kv
from support_app.security.tokens import AccessClaims
from support_app.settings import get_settings

# Must be >= the leeway tokens allow on ``exp``: a token is still accepted that long
# after its expiry, so its revocation must outlive it too.
TTL_MARGIN_SECONDS = 30


def _access_ttl() -> int:
    return get_settings().access_token_minutes * 60 + TTL_MARGIN_SECONDS


def revoke_access(jti: str, expires_at: datetime, *, kv: KV | None = None, now: datetime | None = None) -> None:
    """Refuse the access token ``jti`` from now until shortly after ``expires_at``."""
    now = now or datetime.now(timezone.utc)
    ttl = math.ceil((expires_at - now).total_seconds()) + TTL_MARGIN_SECONDS
    if ttl > 0:
        (kv or get_kv()).set(f"revoked:jti:{jti}", "1", ttl)


def revoke_family(family_id: str, *, kv: KV | None = None) -> None:
    """Refuse every access token of the sign-in ``family_id``."""
    (kv or get_kv()).set(f"revoked:fam:{family_id}", "1", _access_ttl())


def revoke_user(user_id: int, at: datetime, *, kv: KV | None = None) -> None:
    """Refuse every access token issued to ``user_id`` up to ``at``."""
    (kv or get_kv()).set(f"revoked:user:{user_id}", str(int(at.timestamp())), _access_ttl())


def _keys(claims: AccessClaims) -> list[str]:
    return [f"revoked:jti:{claims.jti}", f"revoked:fam:{claims.family_id or '-'}", f"revoked:user:{claims.user_id}"]


def _revoked(claims: AccessClaims, found: list[str | None]) -> bool:
    jti, family, user = found
    if jti is not None or (claims.family_id is not None and family is not None):
        return True
    issued = int(claims.issued_at.timestamp()) if claims.issued_at else 0
    return user is not None and issued <= int(user)


def is_revoked(claims: AccessClaims, *, kv: KV | None = None) -> bool:
    """True when the token, its sign-in or its user was revoked. A KV outage raises
    (fails closed) rather than waving tokens through."""
    return _revoked(claims, (kv or get_kv()).get_many(_keys(claims)))


async def is_revoked_async(claims: AccessClaims, *, kv: KV | None = None) -> bool:
    """The same, without blocking the event loop on Redis."""
    return _revoked(claims, await (kv or get_kv()).aget_many(_keys(claims)))
