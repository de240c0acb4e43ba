"""What a unit of work is on each database (db.py): a read sends no BEGIN or COMMIT on
PostgreSQL and may not write, on either database; everything else is one transaction."""

from __future__ import annotations

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text, update

from fixtures_db import pg_engine, pg_url  # noqa: F401
from support_app.db import ReadOnlyUnitOfWork, session_scope

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
        return [tuple(r) for r in s.execute(select(rows.c.id, rows.c.value).order_by(rows.c.id))]


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
