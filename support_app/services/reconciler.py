"""The reconciler's rhythm: once at start-up, then every few seconds, off the event loop."""

from __future__ import annotations

import asyncio
import logging

from support_app.services.refund_execution import execute_attempt, reconcile
from support_app.settings import get_settings

log = logging.getLogger(__name__)
_tasks: set[asyncio.Task] = set()


async def reconciler_loop() -> None:
    interval = get_settings().reconcile_interval_seconds
    while True:
        try:
            await asyncio.to_thread(reconcile)
        except Exception:  # noqa: BLE001 — the loop must survive a bad round; it is logged
            log.exception("reconciler round failed")
        await asyncio.sleep(interval)


def send_in_background(attempt_id: int) -> None:
    """Start the gateway call for a committed attempt without holding anyone's lock.

    The task runs on the server after the event handler that approved has returned;
    if the process dies first, the attempt stays pending and the reconciler sends it
    with the same key.
    """
    task = asyncio.get_running_loop().create_task(asyncio.to_thread(execute_attempt, attempt_id))
    _tasks.add(task)
    task.add_done_callback(_done)


def _done(task: asyncio.Task) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("refund attempt failed to run: %r", task.exception())


def reconcile_in_background(refund_id: int) -> None:
    """The "retry now" button: ask the gateway about this refund's live attempt now."""
    task = asyncio.get_running_loop().create_task(
        asyncio.to_thread(reconcile, None, None, 0, refund_id)
    )
    _tasks.add(task)
    task.add_done_callback(_done)
