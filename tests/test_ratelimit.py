"""Fixed-window rate limits, per account and per client, on MemoryKV and real Redis."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from support_app.domain.errors import DomainError, ErrorCode
from support_app.kv import MemoryKV, RedisKV
from support_app.security import ratelimit
from support_app.settings import get_settings

MAX = get_settings().login_max_failures
CLIENT_MAX = get_settings().login_client_max_failures




def _limited(fn, *args, **kw) -> bool:
    try:
        fn(*args, **kw)
    except DomainError as err:
        assert err.code == ErrorCode.RATE_LIMITED
        return True
    return False


def test_limiter_allows_exactly_limit_hits_per_key(kv):
    lim = ratelimit.RateLimiter(kv, "t", limit=3, window_seconds=60)
    assert [_limited(lim.check, "a") for _ in range(5)] == [False, False, False, True, True]
    assert lim.count("a") == 5
    assert not _limited(lim.check, "b")  # other keys are independent
    other = ratelimit.RateLimiter(kv, "u", limit=3, window_seconds=60)
    assert not _limited(other.check, "a")  # ...and so are limiter names
    lim.reset("a")
    assert lim.count("a") == 0 and not _limited(lim.check, "a")


def test_window_ends(kv):
    lim = ratelimit.RateLimiter(kv, "w", limit=1, window_seconds=1)
    assert lim.hit("k") and not lim.hit("k")
    time.sleep(1.3)
    assert lim.hit("k")


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError):
        ratelimit.RateLimiter(MemoryKV(), "x", limit=0, window_seconds=10)
    with pytest.raises(ValueError):
        ratelimit.RateLimiter(MemoryKV(), "x", limit=1, window_seconds=0)


def _fail(throttle, email, client):
    throttle.reserve(email, client)
    throttle.failed(email)


def test_failures_per_account_from_one_client(kv):
    throttle = ratelimit.LoginThrottle(kv)
    for _ in range(MAX):
        _fail(throttle, "alice@example.com", "client-1")
    assert _limited(throttle.reserve, "alice@example.com", "client-1")
    throttle.reserve("alice@example.com", "client-2")  # another place: not this budget
    throttle.reserve("bob@example.com", "client-1")  # another account from here: not this budget


def test_failures_per_client_across_accounts(kv):
    assert CLIENT_MAX > MAX  # an office behind one address must not share one person's budget
    throttle = ratelimit.LoginThrottle(kv)
    for i in range(CLIENT_MAX):
        _fail(throttle, f"user{i}@example.com", "10.0.0.1")
    assert _limited(throttle.reserve, "fresh@example.com", "10.0.0.1")
    throttle.reserve("fresh@example.com", "10.0.0.2")


def test_a_success_gives_its_reservation_back_and_forgives_the_owners_typos(kv):
    throttle = ratelimit.LoginThrottle(kv)
    for _ in range(MAX - 1):
        _fail(throttle, "carol@example.com", "c1")
    throttle.reserve("carol@example.com", "c1")
    throttle.succeeded("carol@example.com", "c1")
    assert throttle.account_client.count("carol@example.com|c1") == 0
    assert throttle.client.count("c1") == MAX - 1  # failures stay counted for the client; the success is not
    for _ in range(3 * CLIENT_MAX):  # any number of successful sign-ins cost the client nothing
        throttle.reserve("carol@example.com", "c1")
        throttle.succeeded("carol@example.com", "c1")
    assert throttle.client.count("c1") == MAX - 1


def test_case_create_limiter_uses_its_settings(kv):
    s = get_settings()
    lim = ratelimit.case_create_limiter(kv)
    assert (lim.limit, lim.window_seconds) == (s.case_create_max, s.case_create_window_seconds)
    for _ in range(s.case_create_max):
        lim.check("42")
    assert _limited(lim.check, "42")


def test_redis_keys_are_hashed_and_expire(redis_url):
    url, prefix = redis_url
    throttle = ratelimit.LoginThrottle(RedisKV(url, prefix=prefix))
    throttle.reserve("dave@example.com", "203.0.113.9")
    throttle.failed("dave@example.com")
    client = redis.Redis.from_url(url, decode_responses=True)
    keys = list(client.scan_iter(prefix + "*"))
    assert len(keys) == 4  # account+client, client, the account's count and last failure
    for key in keys:
        assert "dave" not in key and "203.0.113" not in key
        assert 0 < client.ttl(key) <= get_settings().login_window_seconds


def test_parallel_attempts_cannot_exceed_the_limit_on_redis(redis_url):
    url, prefix = redis_url
    lim = ratelimit.RateLimiter(RedisKV(url, prefix=prefix), "burst", limit=5, window_seconds=60)
    barrier = threading.Barrier(20)
    allowed: list[bool] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        ok = lim.hit("victim@example.com")
        with lock:
            allowed.append(ok)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == 5 and len(allowed) == 20
