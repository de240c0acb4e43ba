"""Revocation list for access tokens, kept in the KV store (Redis in production).

Access tokens are stateless JWTs, so signing out cannot "delete" one; instead its
``jti`` is remembered until the token would have expired anyway, after which the
entry is useless and Redis drops it by TTL. A whole sign-in session (refresh token
family) can be revoked the same way, which also kills every access token issued
in that session -- used on sign-out and when refresh-token reuse is detected.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

from support_app.kv import KV, get_kv

# Must be >= the leeway tokens.decode_access allows on ``exp``: a token is still
# accepted that long after its expiry, so its revocation must outlive it too.
TTL_MARGIN_SECONDS = 30


def _ttl(expires_at: datetime, now: datetime | None) -> int:
    now = now or datetime.now(timezone.utc)
    return math.ceil((expires_at - now).total_seconds()) + TTL_MARGIN_SECONDS


def revoke_access(jti: str, expires_at: datetime, *, kv: KV | None = None, now: datetime | None = None) -> None:
    """Refuse the access token ``jti`` from now until shortly after ``expires_at``."""
    ttl = _ttl(expires_at, now)
    if ttl > 0:
        (kv or get_kv()).set(f"revoked:jti:{jti}", "1", ttl)


def revoke_family(family_id: str, ttl_seconds: int, *, kv: KV | None = None) -> None:
    """Refuse every access token carrying ``fam=family_id`` for ``ttl_seconds``
    (callers pass the access-token lifetime plus margin: nothing older survives)."""
    (kv or get_kv()).set(f"revoked:fam:{family_id}", "1", max(1, ttl_seconds + TTL_MARGIN_SECONDS))


def is_revoked(jti: str, family_id: str | None = None, *, kv: KV | None = None) -> bool:
    """True when the token itself or its sign-in family was revoked.

    A KV outage raises (fails closed) rather than waving tokens through.
    """
    store = kv or get_kv()
    if store.get(f"revoked:jti:{jti}") is not None:
        return True
    return family_id is not None and store.get(f"revoked:fam:{family_id}") is not None
