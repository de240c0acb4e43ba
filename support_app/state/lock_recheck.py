"""Lifespan task: events waiting for a tab's Redis lock look at the lock again every second,
and their process's announcement that it waits is put back where it vanished.

Reflex's Redis state manager (0.10.1) wakes an event waiting for a tab's lock when Redis
announces the lock's release (a keyspace notification, or the holder's own release in this
process), and otherwise only once the lock's whole lifetime has passed
(``REFLEX_REDIS_LOCK_EXPIRATION``, 10 s). Under load a wake-up is sometimes missed: in
``bench/load.py`` at 200 sessions, 3 runs of 8 had one approval with no answer within the
benchmark's 10 s. With the wait instrumented, both of the approving tab's waiters (the
approval's follow-up event and its own live update) had waited the lock's full lifetime,
and no lock warning or error was logged.

This task nudges, once a second, the first waiter of every lock this process waits for.
The nudged waiter tries the lock (one ``SET NX``) and waits again if it is still held, so
a missed wake-up costs at most a second. A nudge is safe because Reflex's wait loop checks
the lock again after every wake-up, from a notification or not; the order in which one
tab's waiters go is unchanged (Reflex wakes the first waiter not yet woken).

With the oplock, a worker leasing a tab lets go of it early only when another process
announces that it waits: its id added to the lock's waiters set in Redis (the ``sadd``
notice the holder listens for). That announcement can vanish while the process still
waits: a sign-out's tab reset (run by whichever worker got the HTTP request) waited up to
5.6 s for a tab's lock while the lock's waiters set was empty, and the holder, seeing no
contender, had leased the tab for its whole hold time (5 s). One way it vanishes: the
waiters of one process share its id, and the first of them to finish removes it, however
many still wait (93 times in a minute at 200 sessions in ``bench/load.py``); whether that
was the way in each slow reset was not established, so the remedy does not depend on it.
So the task also looks, once a second, at every lock one of its waiters has waited for
since the round before, and puts this process's id back where it is missing: a vanished
announcement costs a second or two. Only missing ids are put back, and one put back for a
wait that ended meanwhile is taken out again. A first version that announced every wait
every second was followed by 1, 5, 0 and 15 "held too long" warnings in four runs at 200
sessions (none in the four runs before): most likely it left ids behind (its ``sadd``
crossing the waiter's own removal), and a holder that sees a waiter updates without a
lease, for as long as the set lives (the lock's lifetime).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from redis.exceptions import RedisError
from reflex.istate.manager.redis import StateManagerRedis

log = logging.getLogger(__name__)
RECHECK_SECONDS = 1.0


async def nudge_waiters(manager: StateManagerRedis, every: float = RECHECK_SECONDS) -> None:
    """Forever: wake the first waiter of each lock this process waits for; where one has
    waited since the last round, make sure Redis still knows that this process waits."""
    seen: set[int] = set()  # the waiters of the last round
    while True:
        await asyncio.sleep(every)
        waiting, long_waited = set(), []
        for lock_key, waiters in list(manager._lock_waiters.items()):
            manager._notify_next_waiter(lock_key)
            waiting.update(map(id, waiters))
            if any(id(waiter) in seen for waiter in waiters):
                long_waited.append(lock_key)
        seen = waiting
        if long_waited and manager._oplock_enabled:
            try:
                await announce_waiting(manager, long_waited)
            except RedisError as err:  # Redis away: the waiters fail on their own; the nudges go on
                log.warning("could not announce this process's lock waits: %s", err)


async def announce_waiting(manager: StateManagerRedis, lock_keys: list[bytes]) -> list[bytes]:
    """Put this process's id back into the waiters set of each of these locks it still waits
    for, where it is missing (as Reflex's ``_request_lock_release`` puts it: the holder hears
    the ``sadd``); returns those. An id put back for a wait that ended meanwhile is taken out
    again: a leftover would only cost leases, but for the set's whole lifetime."""
    me = manager._instance_id
    check = manager.redis.pipeline(transaction=False)
    for lock_key in lock_keys:
        check.sismember(lock_key + b"_waiters", me)
    present = await check.execute()
    missing = [key for key, there in zip(lock_keys, present, strict=True) if not there and key in manager._lock_waiters]
    if missing:
        add = manager.redis.pipeline(transaction=False)
        for lock_key in missing:
            add.sadd(lock_key + b"_waiters", me)
            add.pexpire(lock_key + b"_waiters", manager.lock_expiration)
        await add.execute()
        if ended := [key for key in missing if key not in manager._lock_waiters]:
            take_back = manager.redis.pipeline(transaction=False)
            for lock_key in ended:
                take_back.srem(lock_key + b"_waiters", me)
            await take_back.execute()
    return missing


@contextlib.asynccontextmanager
async def rechecked_lock_waits() -> AsyncIterator[None]:
    """Lifespan task: nudge this process's lock waiters, with Redis state only."""
    from support_app.support_app import app  # the running app (it registers this task)

    manager = app.state_manager
    if not isinstance(manager, StateManagerRedis):
        yield
        return
    task = asyncio.create_task(nudge_waiters(manager), name="support-lock-recheck")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
