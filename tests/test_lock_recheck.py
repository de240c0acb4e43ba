"""A missed lock-release notice costs a waiting event about a second, not the lock's lifetime.

Real Redis, Reflex's own StateManagerRedis and its own wait loop (``_wait_lock``). The
manager is told it is subscribed to release notices but never subscribes, so the release
below reaches no waiter: exactly a missed notice. Without the nudges the waiter sleeps
until the lock's lifetime (60 s here) has passed; with them it takes the freed lock at the
next nudge.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from redis.asyncio import Redis

from reflex.istate.manager.redis import StateManagerRedis

from support_app.state.lock_recheck import nudge_waiters

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
