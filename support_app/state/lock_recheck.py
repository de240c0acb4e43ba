"""Lifespan task: events waiting for a tab's Redis lock look at the lock again every second.

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
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from reflex.istate.manager.redis import StateManagerRedis

RECHECK_SECONDS = 1.0


async def nudge_waiters(manager: StateManagerRedis, every: float = RECHECK_SECONDS) -> None:
    """Forever: wake the first waiter of each lock this process waits for."""
    while True:
        await asyncio.sleep(every)
        for lock_key in list(manager._lock_waiters):
            manager._notify_next_waiter(lock_key)


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
