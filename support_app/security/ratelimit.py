"""Fixed-window rate limits on the KV store (Redis in production).

Why count *attempts* before doing the work, rather than failures after it: the
count is one atomic INCR, so N parallel requests cannot all slip past a check
made before any of them recorded anything. A request over the limit does no work
(for sign-in: no argon2, no database lookup).

Keys are SHA-256 digests of the normalised subject, so emails and addresses are
never stored in Redis in clear and odd input cannot build odd keys.
"""

from __future__ import annotations

import hashlib

from support_app.domain.errors import DomainError, ErrorCode
from support_app.kv import KV, get_kv
from support_app.settings import get_settings


class RateLimiter:
    """At most ``limit`` hits per key in a fixed window of ``window_seconds``
    (the window starts at the key's first hit)."""

    def __init__(self, kv: KV | None, name: str, limit: int, window_seconds: int) -> None:
        if limit < 1 or window_seconds < 1:
            raise ValueError("limit and window_seconds must be positive")
        self._kv = kv
        self.name = name
        self.limit = limit
        self.window_seconds = window_seconds

    @property
    def kv(self) -> KV:
        return self._kv or get_kv()

    def _key(self, key: str) -> str:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        return f"rl:{self.name}:{digest}"

    def hit(self, key: str) -> bool:
        """Count one attempt; True when it is still within the limit."""
        return self.kv.hit(self._key(key), self.window_seconds) <= self.limit

    def check(self, key: str) -> None:
        """Count one attempt and raise DomainError(RATE_LIMITED) when over the limit."""
        if not self.hit(key):
            raise DomainError(ErrorCode.RATE_LIMITED)

    def count(self, key: str) -> int:
        """Attempts counted in the current window (read-only)."""
        value = self.kv.get(self._key(key))
        return int(value) if value is not None else 0

    def reset(self, key: str) -> None:
        self.kv.delete(self._key(key))


def normalise_email(email: str) -> str:
    return email.strip().lower()


def login_limiters(kv: KV | None = None) -> tuple[RateLimiter, RateLimiter]:
    """(per-account, per-client) limiters built from the login settings."""
    s = get_settings()
    return (
        RateLimiter(kv, "login-account", s.login_max_attempts, s.login_window_seconds),
        RateLimiter(kv, "login-client", s.login_client_max_attempts, s.login_window_seconds),
    )


def check_login_allowed(email: str, client_id: str, *, kv: KV | None = None) -> None:
    """Count this sign-in attempt against the account and the client; raise
    RATE_LIMITED when the account is over ``login_max_attempts`` or the client over
    ``login_client_max_attempts`` (higher: one office or NAT shares an address).

    Both counters are always incremented (no short-circuit), so hammering one
    account from many clients, or many accounts from one client, are both caught.
    """
    account, client = login_limiters(kv)
    ok_account = account.hit(normalise_email(email))
    ok_client = client.hit(client_id)
    if not (ok_account and ok_client):
        raise DomainError(ErrorCode.RATE_LIMITED)


def record_login_success(email: str, *, kv: KV | None = None) -> None:
    """Clear the per-account counter after a correct password, so the owner's own
    typos do not add up across sign-ins. The per-client counter is deliberately
    kept: one valid account must not let a client reset its budget for guessing
    other accounts' passwords."""
    account, _ = login_limiters(kv)
    account.reset(normalise_email(email))


def case_create_limiter(kv: KV | None = None) -> RateLimiter:
    """Case creation: ``case_create_max`` per user per ``case_create_window_seconds``;
    call ``.check(str(user_id))`` before creating."""
    s = get_settings()
    return RateLimiter(kv, "case-create", s.case_create_max, s.case_create_window_seconds)
