"""Which event loop serves this worker, said once at its start.

Granian (Reflex's production server here) runs each worker on uvloop when uvloop is
installed and falls back to asyncio's pure-Python loop without a word. The loop's own
work is a large share of every event (each one is several Redis round trips, a thread
hop and a websocket frame): on uvloop an idle server spent 17-45 % less app CPU per page
load or click than on asyncio's loop, a third less for most (paired ``bench/event_cost.py``
runs, README). So requirements.txt pins uvloop, and a worker that runs without it says so."""

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


def announce(loop: asyncio.AbstractEventLoop) -> str:
    kind = loop_kind(loop)
    if kind == FAST_LOOP:
        log.info("event loop: %s", kind, extra={"event_loop": kind})
    else:
        log.warning("event loop: %s, not %s: every event costs more CPU (is uvloop installed? requirements.txt)",
                    kind, FAST_LOOP, extra={"event_loop": kind})
    return kind


@contextlib.asynccontextmanager
async def announced_loop() -> AsyncIterator[None]:
    """Lifespan task: log this worker's event loop."""
    announce(asyncio.get_running_loop())
    yield
