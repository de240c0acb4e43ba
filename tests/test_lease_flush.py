"""A tab's leased state reaches Redis when another worker asks for the lock while the lease
is being written (state/lease_flush.py).

Real Redis and Reflex's own StateManagerRedis with its oplock. An event of the tab still
runs on the leased state (it holds the tab's state lock) when another worker's wait for the
lock is announced; the lease's hold time then ends, so its breaker starts writing and
waits for the state lock behind the contention handler. With Reflex's own handler the
breaker is cancelled there, releases the lock, and the write fails: the state is lost.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
import reflex as rx
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from reflex.istate.manager.redis import StateManagerRedis

from support_app.state import lease_flush
from support_app.state.base import AppState

HOLD_MS = 300


async def _manager(url: str, hold_ms: int = HOLD_MS) -> StateManagerRedis:
    manager = StateManagerRedis(redis=Redis.from_url(url), lock_expiration=10_000, lock_warning_threshold=1000,
                                oplock_hold_time_ms=hold_ms)
    manager._ensure_lock_task()
    await asyncio.wait_for(manager._lock_updates_subscribed.wait(), 5)  # leases need the lock listener
    return manager


def _ident(prefix: str) -> str:
    """A tab token of this test (reflex_redis deletes its keys). Reflex reads the
    token back out of a keyspace channel after its last colon, so the colon goes."""
    return prefix.replace(":", "-") + str(uuid.uuid4())


def _contention(manager: StateManagerRedis, lock_key: str) -> dict:
    return {"channel": f"__keyspace@{manager.redis.get_connection_kwargs().get('db', 0)}__:{lock_key}_lock_waiters".encode(),
            "data": b"sadd"}


async def _leased_busy_flag(url: str, prefix: str, handler) -> tuple[bool, list[str]]:
    """Lease a tab; while a second event holds the leased state (and sets ``busy``), a
    waiter is announced and the hold time ends. What Redis holds afterwards, and the
    loop's unretrieved errors."""
    manager, errors = await _manager(url), []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
    token = rx.BaseStateToken(ident=_ident(prefix), cls=AppState)
    try:
        async with manager.modify_state(token):  # the first event takes the lock and a lease
            pass
        lock_key = token.lock_key
        lease, state_lock = manager._local_leases[lock_key], manager._cached_states_locks[lock_key]
        async with state_lock:  # a second event of the tab, on the leased state
            root = manager._cached_states[lock_key]
            (await root.get_state(AppState)).busy = True
            contending = asyncio.create_task(handler(manager, _contention(manager, lock_key)))
            await asyncio.sleep(HOLD_MS / 1000 + 0.2)  # the hold time ends meanwhile
        await asyncio.wait({contending, lease}, timeout=5)
        reader = await _manager(url)
        stored = await (await reader.get_state(token)).get_state(AppState)
        await reader.close()
        return stored.busy, [type(e.get("exception")).__name__ for e in errors]
    finally:
        await manager.close()


@pytest.fixture
def reflex_redis(monkeypatch, redis_url):
    monkeypatch.setenv("REFLEX_OPLOCK_ENABLED", "true")
    url, prefix = redis_url
    yield url, prefix
    client = SyncRedis.from_url(url)
    for key in client.scan_iter(prefix.replace(":", "-") + "*"):
        client.delete(key)
    client.close()


def test_reflex_alone_loses_the_leased_state_when_contended_while_it_is_written(reflex_redis):
    assert asyncio.run(_leased_busy_flag(*reflex_redis, lease_flush.reflex_contention)) == (False, ["LockExpiredError"])


def test_the_guard_lets_the_lease_finish_writing(reflex_redis):
    assert lease_flush.installed
    assert StateManagerRedis._handle_lock_contention is lease_flush._handle_lock_contention
    assert asyncio.run(_leased_busy_flag(*reflex_redis, StateManagerRedis._handle_lock_contention)) == (True, [])


def test_a_waiter_still_breaks_a_lease_in_its_hold_time(reflex_redis):
    """Contention within the hold time (8 s here) ends the lease at once, as before."""

    url, prefix = reflex_redis

    async def contended_early() -> tuple[bool, bool]:
        manager = await _manager(url, hold_ms=8_000)
        token = rx.BaseStateToken(ident=_ident(prefix), cls=AppState)
        try:
            async with manager.modify_state(token) as root:
                (await root.get_state(AppState)).busy = True
            lease = manager._local_leases[token.lock_key]
            await StateManagerRedis._handle_lock_contention(manager, _contention(manager, token.lock_key))
            ended, _ = await asyncio.wait({lease}, timeout=5)
            reader = await _manager(url)
            stored = await (await reader.get_state(token)).get_state(AppState)
            await reader.close()
            return stored.busy, bool(ended)
        finally:
            await manager.close()

    assert asyncio.run(contended_early()) == (True, True)
