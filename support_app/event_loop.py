"""Which event loop serves this worker, said once at its start.

Granian (Reflex's production server here) runs each worker on uvloop when uvloop is
installed and falls back to asyncio's pure-Python loop without a word. Each event is
several Redis round trips, a thread hop and a websocket frame, and on an idle server
uvloop took 17-45 % off the app CPU of a page load or click, a third for most (paired
``bench/event_cost.py`` runs, bench/RESULTS.md). Under load the paired runs showed no difference
beyond the noise (probably: a busy loop serves many callbacks per turn). So
requirements.txt pins uvloop, and a worker that runs without it says so."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

log = logging.getLogger(__name__)
FAST_LOOP = "uvloop"


def loop_kind(loop: asyncio.AbstractEventLoop) -> str:
    """The package the loop comes from: "uvloop", "asyncio", "rloop"..."""
    return type(loop).__module__.split(".", 1)[0]


def announce(loop: asyncio.AbstractEventLoop) -> None:
    kind = loop_kind(loop)
    if kind == FAST_LOOP:
        log.info("event loop: %s", kind, extra={"event_loop": kind})
    else:
        log.warning("event loop: %s, not %s: every event costs more CPU (is uvloop installed? requirements.txt)",
                    kind, FAST_LOOP, extra={"event_loop": kind})


@contextlib.asynccontextmanager
async def announced_loop() -> AsyncIterator[None]:
    """Lifespan task: log this worker's event loop."""
    announce(asyncio.get_running_loop())
    yield
