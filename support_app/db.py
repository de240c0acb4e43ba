"""Engine and session factory. SQLite gets WAL, foreign keys and a busy timeout.

A unit of work that only reads (``session_scope(write=False)``, what every service not
marked ``@writes`` gets) sends no BEGIN and no COMMIT on PostgreSQL: its connections are
in autocommit mode and this module sends BEGIN itself for every other transaction. Under
READ COMMITTED, PostgreSQL's default and ours, each statement of a transaction sees its
own snapshot anyway, so a read in a transaction saw nothing different, and it cost two
round trips more. Because a statement outside a transaction commits on its own, a read
unit of work refuses to write (``ReadOnlyUnitOfWork``), on SQLite too, so tests on
either database catch a writing service that is not marked ``@writes``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from support_app.settings import get_settings

log = logging.getLogger(__name__)
SQLITE_BUSY_TIMEOUT_MS = 5000
# One SQLite file has one write lock. Writers of this process wait for it on a Python lock,
# woken the moment the writer before them commits, instead of in SQLite's busy handler,
# which polls in growing sleeps (1, 2, 5, 10 ... 100 ms), overshoots each release and lets
# late arrivals overtake: under load that made write latency a lottery. Other processes
# on the same file still meet the busy timeout. Keyed by file path; reentrant, so a write
# nested in a write behaves as it did (it meets the busy timeout) rather than hanging.
# Held from a write transaction's BEGIN IMMEDIATE to its COMMIT or ROLLBACK, no longer:
# a unit of work that asks the order system first (a refund request, a new case) keeps
# no other writer of the process waiting for that answer.
_WRITERS: dict[str, threading.RLock] = {}
_TURN = "support_writer_turn"  # the turn a connection's write transaction holds, in its info
_WRITERS_GUARD = threading.Lock()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn) -> None:
    # pysqlite's own transaction handling is off (isolation_level=None below), so we
    # emit BEGIN ourselves. A write transaction uses IMMEDIATE, taking the write lock
    # up front: a transaction that reads then writes can then never act on a read
    # that a concurrent writer made stale, which is what makes check-then-write safe.
    # Read transactions stay DEFERRED so WAL readers never queue behind writers.
    write = conn.get_execution_options().get("write", False)
    turn = _writer_turn(conn.engine) if write else None
    if turn is not None:
        turn.acquire()
        conn.info[_TURN] = turn
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
    except BaseException:
        _pass_turn(conn)
        raise


def _sqlite_commit(conn) -> None:
    _end_write(conn, "COMMIT")


def _sqlite_rollback(conn) -> None:
    _end_write(conn, "ROLLBACK")


def _end_write(conn, sql: str) -> None:
    # The commit and rollback events come before SQLAlchemy's own: a write transaction is
    # ended here, and only then is the turn passed on, so the next writer's BEGIN IMMEDIATE
    # finds the lock free (pysqlite's commit() or rollback() then finds no transaction). A
    # failed ROLLBACK is left to SQLAlchemy's own rollback, which follows and meets it too.
    if _TURN not in conn.info:
        return
    try:
        conn.exec_driver_sql(sql)
    except Exception:
        if sql == "COMMIT":
            raise
        log.debug("ROLLBACK of a write transaction failed; SQLAlchemy's own rollback follows", exc_info=True)
    finally:
        _pass_turn(conn)


def _pass_turn(conn) -> None:
    if (turn := conn.info.pop(_TURN, None)) is not None:
        turn.release()


class ReadOnlyUnitOfWork(RuntimeError):
    """A statement that writes or locks rows, sent in a unit of work opened to read: a
    service that writes must be marked ``@writes`` (a programming error, never a user's)."""


_WRITES = ("INSERT", "UPDATE", "DELETE")


def _refuse_writes_in_reads(conn, _cursor, statement: str, *_args) -> None:
    if conn.get_execution_options().get("write") is False and (
        statement.lstrip()[:6].upper() in _WRITES or " FOR UPDATE" in statement
    ):
        raise ReadOnlyUnitOfWork(f"a read unit of work sent: {statement[:80]}")


PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "support_idle_since"  # when the pool last got the connection back, in its record's info


def _checked_in(_dbapi_conn, record) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _ping_if_idle(dbapi_conn, record, _proxy) -> None:
    """The pool's checkout: a connection idle for a while is pinged first, and one that a
    PostgreSQL restart broke meanwhile is replaced (DisconnectionError). One in use a
    moment ago is not: under load that saves a round trip per unit of work, and should it
    have broken meanwhile, its first statement fails and the runner runs the unit of work
    again (runner.is_transient)."""
    since = record.info.get(_IDLE_SINCE)
    if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        dbapi_conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 — any failure: this connection is not to be used
        raise DisconnectionError(str(exc)) from exc


def _pg_begin(conn) -> None:
    # The connections are in autocommit mode (make_engine); a transaction is opened here,
    # for everything but a read unit of work. psycopg's commit() and rollback() end it:
    # they act on the server's transaction status, not on the autocommit flag.
    if conn.get_execution_options().get("write", True):
        conn.exec_driver_sql("BEGIN")


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "isolation_level": None},
            hide_parameters=True,  # errors never carry row values (customer data) into logs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "commit", _sqlite_commit)
        event.listen(engine, "rollback", _sqlite_rollback)
    else:
        settings = get_settings()
        engine = create_engine(url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
                               hide_parameters=True, isolation_level="AUTOCOMMIT")
        event.listen(engine, "begin", _pg_begin)
        event.listen(engine, "checkin", _checked_in)
        event.listen(engine, "checkout", _ping_if_idle)
    event.listen(engine, "before_cursor_execute", _refuse_writes_in_reads)
    return engine


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


@contextmanager
def session_scope(engine: Engine | None = None, *, write: bool = False) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error.

    ``write=True`` marks a transaction that will write after reading: on SQLite it
    starts with BEGIN IMMEDIATE (see ``_sqlite_begin``); on PostgreSQL services lock
    the rows they check with SELECT ... FOR UPDATE or use conditional updates.
    ``write=False`` only reads: no transaction on PostgreSQL, and no statement that
    writes or locks (``ReadOnlyUnitOfWork``).
    """
    engine = engine or get_engine()
    with Session(engine.execution_options(write=write), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def next_transaction(session: Session, *, write: bool) -> None:
    """Make the session's next transaction a write one or a read one (``session_scope``'s
    ``write``), when none is open; inside an open transaction this does nothing."""
    if not session.in_transaction():
        session.connection(execution_options={"write": write})


def _writer_turn(engine: Engine) -> threading.RLock | None:
    """This process's queue for the write lock of the engine's SQLite file (see _WRITERS)."""
    if not engine.url.database or engine.url.database == ":memory:":
        return None
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(engine.url.database, threading.RLock())
