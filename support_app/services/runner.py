"""Runs one service call in its own unit of work, off the event loop.

State event handlers `await call(service_fn, ...)`: the function runs in a thread of
the services' own pool (SUPPORT_SERVICE_THREADS; the default asyncio pool is shared
with everything else) with a fresh Session that commits on success and rolls back
on error. Functions marked ``@writes`` get a write transaction (BEGIN IMMEDIATE on
SQLite).

A database that is momentarily too busy (SQLite's write lock still held after its
busy timeout, a PostgreSQL deadlock or serialization failure) rolled the whole unit
of work back, so it is run again, a few times with a growing pause; if it still
cannot get through, the person is told plainly that the system is busy
(SERVICE_BUSY) — never a framework error, and nothing half-stored.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from support_app.db import session_scope
from support_app.domain.errors import DomainError, ErrorCode
from support_app.settings import get_settings

T = TypeVar("T")
log = logging.getLogger(__name__)
RETRIES = 3
BACKOFF_SECONDS = 0.05
_TRANSIENT = ("database is locked", "database is busy", "deadlock detected", "could not serialize access")


def writes(fn: Callable[..., T]) -> Callable[..., T]:
    fn.writes = True  # type: ignore[attr-defined]
    return fn


def is_transient(err: BaseException) -> bool:
    """The database refused for now (lock, deadlock, serialization), not for good; or the
    connection broke before COMMIT was sent (a PostgreSQL restart): the server ended the
    transaction, so nothing of it was stored. A break at COMMIT is not: whether the
    transaction got in is unknown (SQLAlchemy reports it without a statement)."""
    if isinstance(err, DBAPIError) and err.connection_invalidated:
        return err.statement is not None and err.statement != "COMMIT"
    return isinstance(err, OperationalError) and any(text in str(err.orig).lower() for text in _TRANSIENT)


def run_sync(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    def unit_of_work() -> T:
        with session_scope(write=getattr(fn, "writes", False)) as session:
            return fn(session, *args, **kwargs)

    return retry_busy(unit_of_work, fn.__name__)


def retry_busy(work: Callable[[], T], name: str) -> T:
    """Run ``work`` (a whole transaction: it rolled back when it raised) again while the
    database is momentarily too busy or its connection broke before COMMIT; SERVICE_BUSY
    once it still is after RETRIES."""
    for attempt in range(RETRIES + 1):
        try:
            return work()
        except OperationalError as err:
            if not is_transient(err):
                raise
            if attempt == RETRIES:
                log.warning("database busy: %s gave up after %d tries", name, RETRIES + 1)
                raise DomainError(ErrorCode.SERVICE_BUSY) from err
            time.sleep(BACKOFF_SECONDS * (2 ** attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


@lru_cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=get_settings().service_threads, thread_name_prefix="service")


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    context = contextvars.copy_context()  # the event's log context goes along
    return await asyncio.get_running_loop().run_in_executor(
        _pool(), lambda: context.run(run_sync, fn, *args, **kwargs)
    )
