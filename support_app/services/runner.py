"""Runs one service call in its own unit of work, off the event loop.

State event handlers `await call(service_fn, ...)`: the function runs in a worker
thread with a fresh Session that commits on success and rolls back on error.
Functions marked ``@writes`` get a write transaction (BEGIN IMMEDIATE on SQLite).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from support_app.db import session_scope

T = TypeVar("T")


def writes(fn: Callable[..., T]) -> Callable[..., T]:
    fn.writes = True  # type: ignore[attr-defined]
    return fn


def run_sync(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with session_scope(write=getattr(fn, "writes", False)) as session:
        return fn(session, *args, **kwargs)


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(run_sync, fn, *args, **kwargs)
