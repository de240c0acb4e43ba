"""Fixed-window rate limits on the KV store (Redis in production).

A limit is checked by counting first (one atomic INCR), so N parallel requests
cannot all slip past a check made before any of them recorded anything; a request
over the limit does no work. Sign-in (LoginThrottle) reserves an attempt that way and
gives it back when the password was right, so only failures use its budgets.

Keys are SHA-256 digests of the normalised subject, so emails and addresses are
never stored in Redis in clear and odd input cannot build odd keys.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from support_app.domain.errors import DomainError, ErrorCode
from support_app.kv import KV, get_kv
from support_app.settings import get_settings

log = logging.getLogger(__name__)


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

    def unhit(self, key: str) -> None:
        """Take one counted hit back (a reserved attempt that turned out fine)."""
        self.kv.unhit(self._key(key))

    def reset(self, key: str) -> None:
        self.kv.delete(self._key(key))


def normalise_email(email: str) -> str:
    return email.strip().lower()


class LoginThrottle:
    """Sign-in throttling that counts failures, not attempts, shared across processes.

    Three budgets, each over ``login_window_seconds``:

    - per account from one client (``login_max_failures``): someone guessing one
      person's password from one place stops there;
    - per client (``login_client_max_failures``): one place guessing many accounts;
    - per account from anywhere: after ``login_account_free_failures`` failures each
      further attempt waits twice as long as the one before (1 s, 2 s, 4 s … at most
      ``login_account_max_delay_seconds``) after the latest failure. That slows a
      distributed guesser down without locking the owner out: whoever knows the
      password gets in once the short wait has passed.

    The two counted budgets are reserved before the password is checked (one atomic
    increment each, so parallel attempts cannot all slip past a check made before any
    of them was counted) and given back when the password was right, so successful
    sign-ins never use anyone's budget. Keys are digests: no email or address is
    stored in the KV in clear.
    """

    def __init__(self, kv: KV | None = None) -> None:
        s = get_settings()
        self._kv = kv
        self.window = s.login_window_seconds
        self.account_client = RateLimiter(kv, "login-fail-account-client", s.login_max_failures, self.window)
        self.client = RateLimiter(kv, "login-fail-client", s.login_client_max_failures, self.window)
        self.free, self.max_delay = s.login_account_free_failures, s.login_account_max_delay_seconds

    @property
    def kv(self) -> KV:
        return self._kv or get_kv()

    def _account_key(self, email: str) -> str:
        return "login-fail-account:" + hashlib.sha256(email.encode("utf-8")).hexdigest()[:32]

    def reserve(self, email: str, client_id: str, now: float | None = None) -> None:
        """Before the password is checked: RATE_LIMITED (with how long to wait) when a
        budget is spent or the account is in its slow-down; otherwise one attempt is
        counted against both budgets until ``succeeded`` gives it back."""
        now = time.time() if now is None else now
        wait = self.account_wait(email, now)
        if wait > 0:
            raise _limited(wait)
        pair = f"{email}|{client_id}"
        ok_pair, ok_client = self.account_client.hit(pair), self.client.hit(client_id)
        if not (ok_pair and ok_client):
            self.account_client.unhit(pair)
            self.client.unhit(client_id)
            raise _limited(self.window)

    def failed(self, email: str, now: float | None = None) -> None:
        """The password was wrong: the reserved attempts stay counted, and the account's
        own failure count and time move on."""
        now = time.time() if now is None else now
        count = self.kv.hit(self._account_key(email) + ":n", self.window)
        self.kv.set(self._account_key(email) + ":t", f"{now:.3f}", self.window)
        if count > self.free:
            log.warning("sign-in failures for one account reached %d in the window; slowing it down", count)

    def succeeded(self, email: str, client_id: str) -> None:
        """The password was right: give the reserved attempts back and clear the
        account's failures (the owner's own typos do not add up)."""
        self.client.unhit(client_id)
        self.account_client.reset(f"{email}|{client_id}")
        self.kv.delete(self._account_key(email) + ":n")
        self.kv.delete(self._account_key(email) + ":t")

    def account_wait(self, email: str, now: float) -> int:
        """Seconds the account must still wait before its next attempt (0: none)."""
        count_text, last_text = self.kv.get_many([self._account_key(email) + ":n", self._account_key(email) + ":t"])
        count = int(count_text or 0)
        if count <= self.free or last_text is None:
            return 0
        delay = min(self.max_delay, 2 ** (count - self.free - 1))
        return max(0, math.ceil(float(last_text) + delay - now))


def _limited(seconds: int) -> DomainError:
    wait = f"{math.ceil(seconds / 60)} minute(s)" if seconds >= 90 else f"{max(1, int(seconds))} second(s)"
    return DomainError(ErrorCode.RATE_LIMITED, f"Too many failed sign-in attempts. Please wait {wait} and try again.",
                       fields={"retry_after": str(max(1, int(seconds)))})


def case_create_limiter(kv: KV | None = None) -> RateLimiter:
    """Case creation: ``case_create_max`` per user per ``case_create_window_seconds``;
    call ``.check(str(user_id))`` before creating."""
    s = get_settings()
    return RateLimiter(kv, "case-create", s.case_create_max, s.case_create_window_seconds)
