"""A tiny key-value store: Redis when SUPPORT_REDIS_URL is set, else in-process.

Used for rate limits, token revocation, single-use download links, the tabs of a
sign-in and order caching. The in-process fallback keeps the embedded default
runnable with nothing else installed; it is per process, so production (several
processes) must set a Redis URL, and refuses to start without one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from functools import lru_cache
from typing import Protocol

from support_app.settings import get_settings


class KV(Protocol):
    def get(self, key: str) -> str | None: ...
    def get_many(self, keys: list[str]) -> list[str | None]: ...
    async def aget_many(self, keys: list[str]) -> list[str | None]:
        """get_many without blocking the event loop (the caller check on every event)."""
        ...
    def set(self, key: str, value: str, ttl_seconds: int) -> None: ...
    def set_if_absent(self, key: str, value: str, ttl_seconds: int) -> bool:
        """Set only if the key does not exist; True when this call set it."""
        ...
    def delete(self, key: str) -> None: ...
    def hit(self, key: str, window_seconds: int) -> int:
        """Count one event in a fixed window starting at the first hit; return the count."""
        ...
    def unhit(self, key: str) -> None:
        """Take back one counted event (never below zero); the window is kept."""
        ...
    def add_member(self, key: str, member: str, ttl_seconds: int) -> None: ...
    def members(self, key: str) -> set[str]: ...


class MemoryKV:
    def __init__(self) -> None:
        self._data: dict[str, tuple[object, float]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> object | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item[0]

    def get(self, key: str) -> str | None:
        with self._lock:
            value = self._live(key)
            return value if isinstance(value, str) else None

    def get_many(self, keys: list[str]) -> list[str | None]:
        return [self.get(key) for key in keys]

    async def aget_many(self, keys: list[str]) -> list[str | None]:
        return self.get_many(keys)

    def set(self, key: str, value: str, ttl_seconds: int) -> None:
        with self._lock:
            self._data[key] = (value, time.monotonic() + ttl_seconds)

    def set_if_absent(self, key: str, value: str, ttl_seconds: int) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._data[key] = (value, time.monotonic() + ttl_seconds)
            return True

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def hit(self, key: str, window_seconds: int) -> int:
        with self._lock:
            current = self._live(key)
            if current is None:
                self._data[key] = ("1", time.monotonic() + window_seconds)
                return 1
            count = int(str(current)) + 1
            self._data[key] = (str(count), self._data[key][1])
            return count

    def unhit(self, key: str) -> None:
        with self._lock:
            current = self._live(key)
            if current is not None and int(str(current)) > 0:
                self._data[key] = (str(int(str(current)) - 1), self._data[key][1])

    def add_member(self, key: str, member: str, ttl_seconds: int) -> None:
        with self._lock:
            current = self._live(key)
            found = set(current) if isinstance(current, frozenset) else set()
            found.add(member)
            self._data[key] = (frozenset(found), time.monotonic() + ttl_seconds)

    def members(self, key: str) -> set[str]:
        with self._lock:
            current = self._live(key)
            return set(current) if isinstance(current, frozenset) else set()


# Decrement only an existing positive counter, keeping its expiry.
_UNHIT = "local v = redis.call('GET', KEYS[1]) if v and tonumber(v) > 0 then redis.call('DECR', KEYS[1]) end return 0"


class RedisKV:
    def __init__(self, url: str, prefix: str = "support:") -> None:
        import redis
        import redis.asyncio

        self._url = url
        self._r = redis.Redis.from_url(url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2)
        self._p = prefix
        # An asyncio client is bound to the loop it first ran on: one per loop.
        self._async: dict[int, redis.asyncio.Redis] = {}
        self._async_factory = redis.asyncio.Redis.from_url

    def get(self, key: str) -> str | None:
        return self._r.get(self._p + key)

    def get_many(self, keys: list[str]) -> list[str | None]:
        return self._r.mget([self._p + k for k in keys]) if keys else []

    async def aget_many(self, keys: list[str]) -> list[str | None]:
        if not keys:
            return []
        loop = id(asyncio.get_running_loop())
        client = self._async.get(loop)
        if client is None:
            client = self._async[loop] = self._async_factory(
                self._url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2
            )
        return await client.mget([self._p + k for k in keys])

    def set(self, key: str, value: str, ttl_seconds: int) -> None:
        self._r.set(self._p + key, value, ex=max(1, int(ttl_seconds)))

    def set_if_absent(self, key: str, value: str, ttl_seconds: int) -> bool:
        return bool(self._r.set(self._p + key, value, ex=max(1, int(ttl_seconds)), nx=True))

    def delete(self, key: str) -> None:
        self._r.delete(self._p + key)

    def hit(self, key: str, window_seconds: int) -> int:
        pipe = self._r.pipeline(transaction=True)
        pipe.incr(self._p + key)
        pipe.expire(self._p + key, window_seconds, nx=True)
        count, _ = pipe.execute()
        return int(count)

    def unhit(self, key: str) -> None:
        self._r.eval(_UNHIT, 1, self._p + key)

    def add_member(self, key: str, member: str, ttl_seconds: int) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.sadd(self._p + key, member)
        pipe.expire(self._p + key, max(1, int(ttl_seconds)))
        pipe.execute()

    def members(self, key: str) -> set[str]:
        return set(self._r.smembers(self._p + key))


@lru_cache
def get_kv() -> KV:
    url = get_settings().redis_url
    return RedisKV(url, get_settings().redis_prefix) if url else MemoryKV()
