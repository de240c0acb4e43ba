"""What a unit of work is on each database (db.py): a read sends no BEGIN or COMMIT on
PostgreSQL and may not write, on either database; everything else is one transaction.
And on PostgreSQL, what happens to one whose connection a server restart broke."""

from __future__ import annotations

import time
import uuid

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select, text, update
from sqlalchemy.exc import OperationalError

from fixtures_db import POSTGRES_URL, pg_engine, pg_url  # noqa: F401
from support_app import db
from support_app.db import ReadOnlyUnitOfWork, make_engine, session_scope
from support_app.services.runner import retry_busy

meta = MetaData()
rows = Table("uow_rows", meta, Column("id", Integer, primary_key=True), Column("value", Integer, nullable=False))


@pytest.fixture(params=["sqlite", "postgres"])
def eng(request):
    engine = request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")
    meta.create_all(engine)
    with session_scope(engine, write=True) as s:
        s.execute(insert(rows).values(id=1, value=1))
    yield engine
    meta.drop_all(engine)


def stored(engine) -> list[tuple[int, int]]:
    with session_scope(engine) as s:
        return stored_in(s)


@pytest.mark.postgres
def test_a_read_on_postgresql_runs_outside_a_transaction_and_a_write_inside_one(pg_engine):  # noqa: F811
    def status(write: bool) -> TransactionStatus:
        with session_scope(pg_engine, write=write) as s:
            s.execute(text("SELECT 1"))
            return s.connection().connection.driver_connection.info.transaction_status

    assert status(write=False) is TransactionStatus.IDLE  # no BEGIN was sent: nothing to COMMIT either
    assert status(write=True) is TransactionStatus.INTRANS
    with pg_engine.begin() as conn:  # code that names no kind of unit of work gets a transaction
        conn.execute(text("SELECT 1"))
        assert conn.connection.driver_connection.info.transaction_status is TransactionStatus.INTRANS


@pytest.mark.parametrize("write", [
    lambda s: s.execute(update(rows).values(value=2)),
    lambda s: s.execute(insert(rows).values(id=2, value=2)),
    lambda s: s.execute(text("delete from uow_rows")),
])
def test_a_read_unit_of_work_refuses_to_write(eng, write):
    with pytest.raises(ReadOnlyUnitOfWork), session_scope(eng) as s:
        assert s.execute(select(rows.c.value)).scalar_one() == 1  # reading is what it is for
        write(s)
    assert stored(eng) == [(1, 1)]


@pytest.mark.postgres
def test_a_read_unit_of_work_takes_no_row_lock(pg_engine):  # noqa: F811
    """Outside a transaction a lock would end with its statement: refused, not ignored."""
    meta.create_all(pg_engine)
    with pytest.raises(ReadOnlyUnitOfWork), session_scope(pg_engine) as s:
        s.execute(select(rows.c.id).with_for_update())


def test_a_write_unit_of_work_is_one_transaction(eng):
    """Under autocommit connections (PostgreSQL) BEGIN is sent for writes: a failure after
    two statements leaves neither."""
    with pytest.raises(ZeroDivisionError), session_scope(eng, write=True) as s:
        s.execute(update(rows).values(value=5))
        s.execute(insert(rows).values(id=2, value=2))
        1 / 0
    assert stored(eng) == [(1, 1)]
    with session_scope(eng, write=True) as s:
        s.execute(update(rows).values(value=5))
        s.execute(insert(rows).values(id=2, value=2))
    assert stored(eng) == [(1, 5), (2, 2)]


# -- PostgreSQL restarted: connections the pool holds are broken -------------------


@pytest.fixture
def named(pg_url):  # noqa: F811
    """The app's engine on PostgreSQL, its connections named so that a test can end them
    (as a server restart would) without touching anyone else's."""
    name = f"uow-{uuid.uuid4().hex[:8]}"
    engine = make_engine(f"{pg_url}&application_name={name}")
    meta.create_all(engine)
    with session_scope(engine, write=True) as s:  # the pool now holds a connection used a moment ago
        s.execute(insert(rows).values(id=1, value=1))
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")

    def restart() -> None:
        """End every server process of this engine's connections, and wait until they are gone."""
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
                         {"n": name})
            for _ in range(200):
                if not conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n"),
                                    {"n": name}).scalar():
                    return
                time.sleep(0.01)
        raise AssertionError("the connections did not end")

    yield engine, restart
    engine.dispose()
    admin.dispose()


def counted(work):
    calls: list[int] = []

    def run():
        calls.append(1)
        return work()
    return run, calls


@pytest.mark.postgres
@pytest.mark.parametrize("write", [True, False])
def test_a_unit_of_work_on_a_connection_broken_before_it_began_is_run_again(named, write):
    """A connection in use a moment ago is not pinged at checkout (one round trip less per
    unit of work under load); if a restart broke it, its first statement fails, nothing
    was stored, and the runner runs the unit of work again on a new connection."""
    engine, restart = named
    restart()

    def work():
        with session_scope(engine, write=write) as s:
            if write:
                s.execute(insert(rows).values(id=2, value=2))
            return stored_in(s)

    run, calls = counted(work)
    assert retry_busy(run, "test") == ([(1, 1), (2, 2)] if write else [(1, 1)])
    assert len(calls) == 2
    assert stored(engine) == ([(1, 1), (2, 2)] if write else [(1, 1)])


@pytest.mark.postgres
def test_a_connection_idle_for_a_while_is_pinged_and_replaced_at_checkout(named, monkeypatch):
    engine, restart = named
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    restart()
    run, calls = counted(lambda: stored(engine))
    assert retry_busy(run, "test") == [(1, 1)]
    assert len(calls) == 1  # the ping found the broken connection; the unit of work never saw it


@pytest.mark.postgres
def test_a_break_found_at_commit_is_not_run_again(named):
    """The break shows at COMMIT: from here nobody can tell whether the transaction got in
    (it did not: the server ended it first), so it is an error, not a second run."""
    engine, restart = named

    def work():
        with session_scope(engine, write=True) as s:
            s.execute(insert(rows).values(id=3, value=3))
            restart()

    run, calls = counted(work)
    with pytest.raises(OperationalError) as err:
        retry_busy(run, "test")
    assert err.value.connection_invalidated and err.value.statement is None
    assert len(calls) == 1
    assert stored(engine) == [(1, 1)]


def stored_in(session) -> list[tuple[int, int]]:
    return [tuple(r) for r in session.execute(select(rows.c.id, rows.c.value).order_by(rows.c.id))]
