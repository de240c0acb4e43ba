"""A tab's leased page state is written back to Redis even when another worker asks for
the tab's lock while the lease is already being written.

With Redis state and Reflex's "oplock" (rxconfig.py), the worker holding a tab's websocket
keeps the tab's lock and state for a while (the lease, ``REFLEX_OPLOCK_HOLD_TIME``: half the
lock's lifetime), then a lease breaker task writes the state to Redis and releases the
lock. Another worker asking for the lock (a waiter added to the lock's waiter set) makes
Reflex 0.10.1 cancel the breaker to end the lease early. That is right while the breaker
sleeps out its hold time. Once the hold time is over the breaker is already writing: it
awaits its flush, shielded, and the flush waits for the tab's state lock while an event of
the tab still runs. A cancel then ends the breaker instead, which releases the Redis lock
at once; the flush that follows finds no lock, raises ``LockExpiredError`` (logged only as
"Task exception was never retrieved") and the tab's state since the lease began is lost.
At 200 sessions in ``bench/load.py`` that happened 7-14 times a minute (bench/RESULTS.md).

So a contention notice no longer cancels a lease whose hold time is over: its breaker is
writing and releases the lock itself within moments. A lease still in its hold time is
cancelled as before. Patched on Reflex's class at import, before any state manager
exists; only on the Reflex release whose code this copies (``_handle_lock_contention``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from importlib.metadata import version
from typing import Any

from reflex.istate.manager.redis import StateManagerRedis

log = logging.getLogger(__name__)
PATCHED_RELEASE = "0.10.1"
_started: weakref.WeakKeyDictionary[asyncio.Task, float] = weakref.WeakKeyDictionary()
_create_lease = StateManagerRedis._create_lease_break_task
reflex_contention = StateManagerRedis._handle_lock_contention


async def _create_lease_break_task(self: StateManagerRedis, *args: Any, **kwargs: Any) -> asyncio.Task | None:
    """Reflex's own, noting when the lease was asked for (no later than its hold time began)."""
    asked = asyncio.get_running_loop().time()
    task = await _create_lease(self, *args, **kwargs)
    if task is not None:
        _started[task] = asked
    return task


def _writing(manager: StateManagerRedis, lease: asyncio.Task) -> bool:
    """Whether the lease's hold time is over, so its breaker may be writing already."""
    asked = _started.get(lease)
    return asked is not None and asyncio.get_running_loop().time() - asked >= manager.oplock_hold_time_ms / 1000


async def _handle_lock_contention(self: StateManagerRedis, message: Any) -> None:
    """Reflex 0.10.1's handler, but a lease that is being written is left to finish."""
    token = message["channel"].rsplit(b":", 1)[1][: -len(b"_lock_waiters")].decode()
    if message["data"] == b"sadd" and (state_lock := self._cached_states_locks.get(token)) is not None:
        async with state_lock:
            lease = await self._get_local_lease(token)
            if lease is not None and not _writing(self, lease):
                lease.cancel()


def install() -> bool:
    """Patch Reflex's Redis state manager (once, at import); False on another release."""
    if version("reflex") != PATCHED_RELEASE:
        log.warning("reflex %s is not %s: the lease-flush guard is not installed (state/lease_flush.py)",
                    version("reflex"), PATCHED_RELEASE)
        return False
    StateManagerRedis._create_lease_break_task = _create_lease_break_task
    StateManagerRedis._handle_lock_contention = _handle_lock_contention
    return True


installed = install()
