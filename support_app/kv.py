"""A tiny key-value store: Redis when SUPPORT_REDIS_URL is set, else in-process.

Used for rate limits, token revocation and order caching. The in-process fallback
keeps the embedded default runnable with nothing else installed; it is per process,
so production with several workers must set a Redis URL.
"""

from __future__ import annotations

import threading
import time
from functools import lru_cache
from typing import Protocol

from support_app.settings import get_settings


class KV(Protocol):
    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str, ttl_seconds: int) -> None: ...
    def delete(self, key: str) -> None: ...
    def hit(self, key: str, window_seconds: int) -> int:
        """Count one event in a fixed window starting at the first hit; return the count."""
        ...


class MemoryKV:
    def __init__(self) -> None:
        self._data: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item[0]

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._live(key)

    def set(self, key: str, value: str, ttl_seconds: int) -> None:
        with self._lock:
            self._data[key] = (value, time.monotonic() + ttl_seconds)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def hit(self, key: str, window_seconds: int) -> int:
        with self._lock:
            current = self._live(key)
            if current is None:
                self._data[key] = ("1", time.monotonic() + window_seconds)
                return 1
            count = int(current) + 1
            self._data[key] = (str(count), self._data[key][1])
            return count


class RedisKV:
    def __init__(self, url: str, prefix: str = "support:") -> None:
        import redis

        self._r = redis.Redis.from_url(url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2)
        self._p = prefix

    def get(self, key: str) -> str | None:
        return self._r.get(self._p + key)

    def set(self, key: str, value: str, ttl_seconds: int) -> None:
        self._r.set(self._p + key, value, ex=max(1, int(ttl_seconds)))

    def delete(self, key: str) -> None:
        self._r.delete(self._p + key)

    def hit(self, key: str, window_seconds: int) -> int:
        pipe = self._r.pipeline(transaction=True)
        pipe.incr(self._p + key)
        pipe.expire(self._p + key, window_seconds, nx=True)
        count, _ = pipe.execute()
        return int(count)


@lru_cache
def get_kv() -> KV:
    url = get_settings().redis_url
    return RedisKV(url, get_settings().redis_prefix) if url else MemoryKV()
