"""Database fixtures and helpers for the case, migration, write-lock and CLI tests.

Import explicitly, e.g. ``from fixtures_db import people, order_client  # noqa: F401``.

PostgreSQL tests run in a throw-away schema of the shared ``test`` database (the
URL carries ``search_path``), so they never touch tables someone else left in
``public`` and parallel runs cannot collide; the schema is dropped afterwards.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, func, select

from fixtures_http import OrdersServer, orders_server, orders_server_session, refused_order_url  # noqa: F401
from support_app.db import get_engine, make_engine, session_scope
from support_app.domain.errors import DomainError, ErrorCode
from support_app.integrations.order_client import OrderClient
from support_app.kv import MemoryKV
from support_app.security import passwords
from support_app.services import auth_service
from support_app.services.auth_service import UserView
from support_app.settings import ROOT, get_settings

# Same default as tests/conftest.py (not imported: tests/browser has a conftest too).
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PW = "demo-pass-2026"
_real_hash = passwords.hash_password


# -- units of work, like the app's runner --------------------------------------


def run(engine: Engine, fn, *args, write: bool = True, **kw):
    """One service call in its own unit of work (commit on success, rollback on error)."""
    with session_scope(engine, write=write) as s:
        return fn(s, *args, **kw)


@contextmanager
def deferred_transaction(engine: Engine) -> Iterator[Session]:
    """A plain transaction that may write after reading, without ``write=True``: on SQLite
    a deferred BEGIN, which takes the write lock only at its first write. No service gets
    one (a read unit of work refuses to write, db.py); the SQLite tests' control does."""
    with Session(engine, expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def run_traced(engine: Engine, fn, *args, **kw) -> tuple[object, list[str]]:
    """``run``, and the statements it sent to the database (BEGIN included, and the COMMIT
    of a write on SQLite: db.py ends it itself), in order."""
    from sqlalchemy import event

    seen: list[str] = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731  (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        return run(engine, fn, *args, **kw), seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def run_counted(engine: Engine, fn, *args, **kw) -> tuple[object, int]:
    """``run``, and how many statements it sent to the database (as ``run_traced``)."""
    result, seen = run_traced(engine, fn, *args, **kw)
    return result, len(seen)


def code_of(engine: Engine, fn, *args, **kw) -> ErrorCode:
    with pytest.raises(DomainError) as err:
        run(engine, fn, *args, **kw)
    return err.value.code


def count(engine: Engine, model) -> int:
    with session_scope(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def reset_app_caches() -> None:
    """Forget this process's cached settings and default engine (closing its connections),
    so the next use reads the environment a test has just set."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    get_settings.cache_clear()


def hold_write_lock(path, seconds: float, started: threading.Event) -> None:
    """Another connection holds SQLite's write lock on ``path`` for ``seconds`` (run it
    in a thread; ``started`` is set once the lock is held)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    started.set()
    time.sleep(seconds)
    conn.execute("ROLLBACK")
    conn.close()


# -- people and the order system -----------------------------------------------


@dataclass(frozen=True)
class People:
    alice: UserView  # customer C-1001 (owns ORD-1001-*)
    bob: UserView  # customer C-1002 (owns ORD-1002-*)
    sam: UserView  # agent
    riley: UserView  # agent


@lru_cache
def _pw_hash() -> str:
    return _real_hash(PW)


def make_people(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> People:
    """Two customers and two agents made through auth_service.create_user. The argon2
    hash of PW is computed once per run (the same real hash, reused) to keep tests
    quick; password behaviour itself is covered by test_passwords/test_auth_service."""
    monkeypatch.setattr(passwords, "hash_password", lambda pw: _pw_hash() if pw == PW else _real_hash(pw))

    def make(email, name, role, cid=None):
        return run(engine, auth_service.create_user, email, name, role, PW, cid)

    return People(
        alice=make("alice@example.com", "Alice Martin", "customer", "C-1001"),
        bob=make("bob@example.com", "Bob Chen", "customer", "C-1002"),
        sam=make("agent@example.com", "Sam Rivera", "agent"),
        riley=make("agent2@example.com", "Riley Park", "agent"),
    )


@pytest.fixture
def people(engine, monkeypatch) -> People:
    return make_people(engine, monkeypatch)


@pytest.fixture
def order_client(orders_server: OrdersServer) -> Iterator[OrderClient]:  # noqa: F811
    client = OrderClient(base_url=orders_server.url, timeout_seconds=2, kv=MemoryKV())
    yield client
    client.close()


# -- Alembic -------------------------------------------------------------------


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["url"] = url
    return cfg


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """alembic/env.py runs logging.fileConfig, which replaces the root handlers and
    levels; put them back so later tests (caplog users) see the usual setup."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    named = {n: (lg.level, list(lg.handlers), lg.propagate, lg.disabled)
             for n, lg in logging.Logger.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for n, lg in logging.Logger.manager.loggerDict.items():
        if not isinstance(lg, logging.Logger):
            continue
        if n in named:
            lg.level, lg.handlers[:], lg.propagate, lg.disabled = named[n][0], named[n][1], named[n][2], named[n][3]
        else:
            lg.setLevel(logging.NOTSET)
            lg.handlers[:] = []
            lg.propagate = True


# -- PostgreSQL ----------------------------------------------------------------


def _require_pg(url: str) -> Engine:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 — a fresh machine without the service
        admin.dispose()
        pytest.fail(f"PostgreSQL is required for this test at {url}: {exc}")
    return admin


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL into a fresh, empty schema of the PostgreSQL ``test`` database."""
    admin = _require_pg(POSTGRES_URL)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """The app's engine on PostgreSQL with every table created from the models."""
    eng = make_engine(pg_url)
    SQLModel.metadata.create_all(eng)
    yield eng
    SQLModel.metadata.drop_all(eng)
    eng.dispose()
