"""Lifespan task: events waiting for a tab's Redis lock look at the lock again every second,
and their process announces again that it waits.

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
waits: the waiters of one process share its id, and the first of them to finish removes
it, however many still wait (93 times in a minute at 200 sessions in ``bench/load.py``).
A holder that takes the lock then sees no contender, leases the tab for its whole hold
time (5 s) and hears of no waiter: a sign-out's tab reset (run by whichever worker got the
HTTP request) waited up to 5.6 s for a tab's lock while the lock's waiters set was empty.
So the task also announces this process again, once a second, for every lock it waits
for: a vanished announcement costs at most a second. One left over for a moment after a
wait ended costs only leases (holders update without one) until the set's expiry (the
lock's lifetime), never a wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable

from redis.exceptions import RedisError
from reflex.istate.manager.redis import StateManagerRedis

log = logging.getLogger(__name__)
RECHECK_SECONDS = 1.0


async def nudge_waiters(manager: StateManagerRedis, every: float = RECHECK_SECONDS) -> None:
    """Forever: wake the first waiter of each lock this process waits for, and announce
    again that this process waits for it."""
    while True:
        await asyncio.sleep(every)
        waited = list(manager._lock_waiters)
        for lock_key in waited:
            manager._notify_next_waiter(lock_key)
        if waited and manager._oplock_enabled:
            try:
                await announce_waiting(manager, waited)
            except RedisError as err:  # Redis away: the waiters fail on their own; the nudges go on
                log.warning("could not announce this process's lock waits: %s", err)


async def announce_waiting(manager: StateManagerRedis, lock_keys: Iterable[bytes]) -> None:
    """This process waits for these locks: its id in each lock's waiters set, as Reflex's
    ``_request_lock_release`` puts it (a holder's lease hears the ``sadd`` if it was gone)."""
    pipeline = manager.redis.pipeline(transaction=False)
    for lock_key in lock_keys:
        pipeline.sadd(lock_key + b"_waiters", manager._instance_id)
        pipeline.pexpire(lock_key + b"_waiters", manager.lock_expiration)
    await pipeline.execute()


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
