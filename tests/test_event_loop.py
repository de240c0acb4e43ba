"""The worker says which event loop serves it: uvloop, or a warning that every event
costs more CPU on asyncio's own loop (granian falls back to it without a word)."""

from __future__ import annotations

import asyncio
import logging

import pytest
import uvloop

from support_app import event_loop


@pytest.fixture
def records():
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append
    logger = logging.getLogger(event_loop.__name__)
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    yield seen
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.mark.parametrize("new_loop, kind, level", [
    (uvloop.new_event_loop, "uvloop", logging.INFO),
    (asyncio.new_event_loop, "asyncio", logging.WARNING),
])
def test_a_worker_logs_its_loop_and_warns_without_uvloop(records, new_loop, kind, level):
    loop = new_loop()
    try:
        assert loop.run_until_complete(_started()) == kind
    finally:
        loop.close()
    [record] = records
    assert record.levelno == level and record.event_loop == kind and kind in record.getMessage()


async def _started() -> str:
    async with event_loop.announced_loop():
        return event_loop.loop_kind(asyncio.get_running_loop())
