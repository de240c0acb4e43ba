"""Shared fixtures: settings for tests, a real SQLite database per test."""

from __future__ import annotations

import os
import uuid

import pytest

os.environ.setdefault("SUPPORT_ENVIRONMENT", "test")
os.environ.setdefault("SUPPORT_JWT_KEYS", "t1:test-secret-" + "x" * 40)

from sqlmodel import SQLModel  # noqa: E402

import support_app.models  # noqa: E402,F401  (registers every table)
from support_app.db import make_engine, session_scope  # noqa: E402

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    SQLModel.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine):
    """A session on a fresh SQLite file; commits on success like the app's unit of work."""
    with session_scope(engine, write=True) as s:
        yield s


@pytest.fixture
def redis_url():
    """The real Redis on 127.0.0.1:6379 (database 15), flushed of this test's keys after."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:  # a fresh machine without the service
        pytest.fail(f"Redis is required for this test at {REDIS_URL}: {exc}")
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    yield REDIS_URL, prefix
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)


@pytest.fixture(params=["memory", "redis"])
def kv(request):
    """Each test using it runs twice: on the in-process KV and on the real Redis."""
    from support_app.kv import MemoryKV, RedisKV

    if request.param == "memory":
        return MemoryKV()
    url, prefix = request.getfixturevalue("redis_url")
    return RedisKV(url, prefix=prefix)


@pytest.fixture(autouse=True)
def fresh_process_kv():
    """Each test starts with an empty in-process KV (rate-limit counters, caches)."""
    from support_app.kv import get_kv

    get_kv.cache_clear()
    yield
    get_kv.cache_clear()


@pytest.fixture(autouse=True)
def fresh_shared_reads():
    """Each test starts with no shared read kept (support_app.live.shared_reads): keys name
    the database, but a test's file may have the path an earlier test's had."""
    from support_app.live.shared_reads import SHARED

    SHARED.forget_all()


@pytest.fixture
def published(monkeypatch):
    """The changes services publish after commit (support_app.live.changes), collected
    from an in-process bus, in order."""
    from support_app.live import bus as bus_module
    from support_app.live.changes import parse
    from support_app.live.channels import CHANGES

    local, seen = bus_module.LocalBus(), []
    local.subscribe(CHANGES, lambda message: seen.append(parse(message)))
    monkeypatch.setattr(bus_module, "get_bus", lambda: local)
    return seen
