"""One schema migration at a time, however many replicas or jobs start together.

PostgreSQL: a session-level advisory lock taken on a dedicated connection (AUTOCOMMIT,
no pool) and released after; if the process dies the server drops it with the
connection. The key is derived from the current schema, so migrations of different
schemas in one database (e.g. parallel test runs) do not wait for each other.
SQLite: an exclusive flock on ``<database>.migrate-lock`` next to the database file.
The second runner waits, then finds the schema at head and does nothing.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

LOCK_NAME = "support_app:migrate"
# bigint key for pg_advisory_lock: this app's migrations in this schema.
PG_LOCK_KEY = "hashtextextended(:name || ':' || current_schema(), 0)"


@contextmanager
def migration_lock(url: str, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the migration lock of the database at ``url``; ``on_wait`` is called once
    if another holder makes this one wait."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        with _pg_advisory_lock(url, on_wait):
            yield
    elif backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        with _file_lock(Path(f"{parsed.database}.migrate-lock"), on_wait):
            yield
    else:  # an in-memory database belongs to one process
        yield


def pg_lock(conn: Connection, *, wait: bool = True) -> bool:
    """Take the migration advisory lock on ``conn``'s session (True if held)."""
    fn = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
    got = conn.execute(text(f"SELECT {fn}({PG_LOCK_KEY})"), {"name": LOCK_NAME}).scalar()
    return True if wait else bool(got)


def pg_unlock(conn: Connection) -> None:
    conn.execute(text(f"SELECT pg_advisory_unlock({PG_LOCK_KEY})"), {"name": LOCK_NAME})


@contextmanager
def _pg_advisory_lock(url: str, on_wait: Callable[[], None] | None) -> Iterator[None]:
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if not pg_lock(conn, wait=False):
                if on_wait:
                    on_wait()
                pg_lock(conn)
            try:
                yield
            finally:
                pg_unlock(conn)
    finally:
        engine.dispose()


@contextmanager
def _file_lock(path: Path, on_wait: Callable[[], None] | None) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    # flock (not lockf): it is held per open file, so threads of one process exclude
    # each other too. The file stays; removing it would race with the next locker.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
