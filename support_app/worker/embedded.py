"""The Worker inside an app process, for the app's lifespan (registered in support_app.py).

Several app processes (or Reflex backend workers) each embed one; the claims make
that safe. The blocking start and stop run in threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from support_app.settings import get_settings
from support_app.worker.runner import Worker


@asynccontextmanager
async def embedded_worker() -> AsyncIterator[None]:
    if not get_settings().embedded_worker:
        yield
        return
    worker = Worker.from_settings()
    await asyncio.to_thread(worker.start)
    try:
        yield
    finally:
        await asyncio.to_thread(worker.stop)
