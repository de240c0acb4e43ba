"""A missed lock-release notice costs a waiting event about a second, not the lock's lifetime;
a vanished "I wait" announcement costs about a second, not another worker's lease.

Real Redis, Reflex's own StateManagerRedis and its own wait loop (``_wait_lock``). The
manager is told it is subscribed to release notices but never subscribes, so the release
below reaches no waiter: exactly a missed notice. Without the nudges the waiter sleeps
until the lock's lifetime (60 s here) has passed; with them it takes the freed lock at the
next nudge.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import pytest
import reflex as rx
from redis.asyncio import Redis

from reflex.istate.manager.redis import StateManagerRedis

from support_app.state.base import AppState
from support_app.state.lock_recheck import announce_waiting, nudge_waiters

LIFETIME_MS = 60_000


async def _deaf_manager(redis: Redis) -> StateManagerRedis:
    """Reflex's manager, its release-notice listener stopped but marked as listening."""
    manager = StateManagerRedis(redis=redis, lock_expiration=LIFETIME_MS, lock_warning_threshold=1000)
    listener = manager._lock_task  # started by the manager itself, inside a running loop
    if listener is not None:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    manager._lock_updates_subscribed.set()
    return manager


async def _waiter_after(url: str, nudge_every: float | None, *, release: bool = True) -> tuple[bool, bytes | None]:
    """Hold a lock and start an event waiting for it; then release it unannounced (or keep it
    held). Did the waiter get the lock (within 5 s of a release, 1 s otherwise), and who holds it?"""
    redis = Redis.from_url(url)
    manager = await _deaf_manager(redis)
    lock_key, mine = f"test-recheck-{uuid.uuid4().hex}_lock".encode(), b"waiting-event"
    nudger = asyncio.create_task(nudge_waiters(manager, every=nudge_every)) if nudge_every else None
    try:
        await redis.set(lock_key, b"other-holder", px=LIFETIME_MS)
        waiter = asyncio.create_task(manager._wait_lock(lock_key, mine))
        await asyncio.sleep(0.3)
        assert not waiter.done() and manager._n_lock_waiters(lock_key) == 1  # it waits for the held lock
        if release:
            await redis.delete(lock_key)  # released, and no waiter hears of it
        done, _ = await asyncio.wait({waiter}, timeout=5 if release else 1.0)
        waiter.cancel()
        return bool(done), await redis.get(lock_key)
    finally:
        if nudger:
            nudger.cancel()
        await redis.delete(lock_key)
        await redis.aclose()


def test_without_nudges_a_missed_release_leaves_the_waiter_asleep(redis_url):
    assert asyncio.run(_waiter_after(redis_url[0], nudge_every=None)) == (False, None)


def test_a_nudged_waiter_takes_the_lock_released_without_notice(redis_url):
    assert asyncio.run(_waiter_after(redis_url[0], nudge_every=0.2)) == (True, b"waiting-event")


def test_a_nudge_while_the_lock_is_still_held_leaves_the_waiter_waiting(redis_url):
    # ten nudges in the second it is given
    assert asyncio.run(_waiter_after(redis_url[0], nudge_every=0.1, release=False)) == (False, b"other-holder")


HOLD_MS = 3_000


async def _plain_nudges(manager: StateManagerRedis, every: float) -> None:
    """Reflex's waiters woken once in a while, without announcing them again."""
    while True:
        await asyncio.sleep(every)
        for lock_key in list(manager._lock_waiters):
            manager._notify_next_waiter(lock_key)


async def _wait_behind_a_lease(url: str, prefix: str, nudges) -> tuple[float, bool]:
    """Worker B waits for a tab's lock; its announcement (its id in the lock's waiters set)
    vanishes, as when another of its waiters for the lock finishes first; then worker A,
    seeing no contender, takes the lock with a lease of HOLD_MS. How long until B has the
    lock (from the lease), and did A hold a lease meanwhile?"""
    redis = Redis.from_url(url)
    holder = StateManagerRedis(redis=Redis.from_url(url), lock_expiration=10_000, lock_warning_threshold=1000,
                               oplock_hold_time_ms=HOLD_MS)
    holder._ensure_lock_task()
    await asyncio.wait_for(holder._lock_updates_subscribed.wait(), 5)  # A hears "sadd" on a waiters set
    waiter = await _deaf_manager(Redis.from_url(url))
    token = rx.BaseStateToken(ident=prefix.replace(":", "-") + uuid.uuid4().hex, cls=AppState)
    lock_key = holder._lock_key(token)
    nudger = None
    try:
        await redis.set(lock_key, b"other-holder", px=10_000)
        waiting = asyncio.create_task(waiter._wait_lock(lock_key, b"b-event"))
        await asyncio.sleep(0.3)
        assert await redis.smembers(lock_key + b"_waiters") == {waiter._instance_id.encode()}
        await redis.srem(lock_key + b"_waiters", waiter._instance_id)  # the announcement vanishes
        await redis.delete(lock_key)
        async with holder.modify_state(token):  # A: the lock, and a lease (no contender in the set)
            pass
        leased = token.lock_key in holder._local_leases
        started = time.monotonic()
        nudger = asyncio.create_task(nudges(waiter, every=0.2))
        await asyncio.wait_for(waiting, 10)
        return time.monotonic() - started, leased
    finally:
        if nudger:
            nudger.cancel()
        await holder.close()
        await waiter.redis.aclose()
        await redis.delete(lock_key, lock_key + b"_waiters")
        await redis.aclose()


@pytest.fixture
def oplock(monkeypatch):
    monkeypatch.setenv("REFLEX_OPLOCK_ENABLED", "true")


def test_a_waiter_whose_announcement_vanished_waits_out_the_lease_without_announcing_again(oplock, redis_url):
    waited, leased = asyncio.run(_wait_behind_a_lease(*redis_url, _plain_nudges))
    assert leased and waited >= HOLD_MS / 1000 - 0.3


def test_announcing_again_ends_the_lease_within_a_nudge_or_two(oplock, redis_url):
    waited, leased = asyncio.run(_wait_behind_a_lease(*redis_url, nudge_waiters))
    assert leased and waited < 1.5


def test_only_a_missing_announcement_of_a_lock_still_waited_for_is_put_back(oplock, redis_url):
    async def scenario() -> tuple[list[bytes], set[bytes], set[bytes], set[bytes]]:
        manager = StateManagerRedis(redis=Redis.from_url(redis_url[0]))
        announced, vanished, done = (f"{redis_url[1]}{name}_lock".encode() for name in ("announced", "vanished", "done"))
        me = manager._instance_id.encode()
        await manager.redis.sadd(announced + b"_waiters", me)
        for lock_key in (announced, vanished):
            manager._lock_waiters[lock_key] = [asyncio.Event()]
        try:
            put = await announce_waiting(manager, [announced, vanished, done])  # done: its wait ended
            return put, *[await manager.redis.smembers(key + b"_waiters") for key in (announced, vanished, done)]
        finally:
            await manager.redis.aclose()

    put, announced, vanished, done = asyncio.run(scenario())
    assert put == [f"{redis_url[1]}vanished_lock".encode()]
    assert len(announced) == len(vanished) == 1 and done == set()


def test_an_announcement_put_back_as_the_wait_ends_is_taken_out_again(oplock, redis_url):
    async def scenario() -> tuple[list[bytes], set[bytes]]:
        manager = StateManagerRedis(redis=Redis.from_url(redis_url[0]))
        lock_key = f"{redis_url[1]}ending_lock".encode()
        manager._lock_waiters[lock_key] = [asyncio.Event()]
        pipeline = manager.redis.pipeline

        def ending_on_add(**kwargs):  # the waiter gets the lock while the id is being put back
            pipe = pipeline(**kwargs)
            execute = pipe.execute

            async def execute_then_end():
                adding = any(args[0] == "SADD" for args, _ in pipe.command_stack)
                result = await execute()
                if adding:
                    manager._lock_waiters.pop(lock_key)
                return result

            pipe.execute = execute_then_end
            return pipe

        manager.redis.pipeline = ending_on_add
        try:
            return await announce_waiting(manager, [lock_key]), await manager.redis.smembers(lock_key + b"_waiters")
        finally:
            await manager.redis.aclose()

    put, left = asyncio.run(scenario())
    assert len(put) == 1 and left == set()


def test_the_nudges_go_on_while_redis_refuses_the_announcement(oplock, caplog):
    async def scenario() -> bool:
        manager = StateManagerRedis(redis=Redis.from_url("redis://127.0.0.1:1/0"))  # nothing listens there
        manager._lock_waiters[b"some-tab_lock"] = [waiter := asyncio.Event()]
        nudger = asyncio.create_task(nudge_waiters(manager, every=0.05))
        await asyncio.sleep(0.5)
        alive = not nudger.done()
        nudger.cancel()
        await manager.redis.aclose()
        return alive and waiter.is_set()

    assert asyncio.run(scenario())
    assert sum("could not announce" in r.getMessage() for r in caplog.records) >= 2


@pytest.mark.parametrize("redis_state", [False, True])
def test_the_lifespan_task_nudges_only_with_redis_state(monkeypatch, redis_state, redis_url):
    from support_app.state.lock_recheck import rechecked_lock_waits
    from support_app.support_app import app

    def nudging() -> bool:
        return any(t.get_name() == "support-lock-recheck" and not t.done() for t in asyncio.all_tasks())

    async def scenario() -> tuple[bool, bool]:
        manager = StateManagerRedis(redis=Redis.from_url(redis_url[0])) if redis_state else app.state_manager
        monkeypatch.setattr(type(app), "state_manager", property(lambda _self: manager))
        try:
            async with rechecked_lock_waits():
                await asyncio.sleep(0)
                during = nudging()
            return during, nudging()
        finally:
            if redis_state:
                await manager.redis.aclose()

    assert asyncio.run(scenario()) == (redis_state, False)
