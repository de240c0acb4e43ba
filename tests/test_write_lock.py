"""Why ``session_scope(write=True)`` matters, and that concurrent commands on one case
let exactly one through — on SQLite (BEGIN IMMEDIATE) and on PostgreSQL
(SELECT ... FOR UPDATE plus the conditional version UPDATE).

Sleeps below only widen race windows so a broken lock would be caught; no assertion
depends on how long anything took.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, select, update
from sqlalchemy.exc import OperationalError

from fixtures_db import (  # noqa: F401
    count, deferred_transaction, make_people, order_client, orders_server, orders_server_session, pg_engine, pg_url, run,
)
from support_app import db
from support_app.db import session_scope
from support_app.domain.errors import DomainError
from support_app.models import CaseEvent, CaseMessage, SupportCase
from support_app.services import case_commands as cmd

# Its own MetaData: the app's SQLModel.metadata (and so the migrations check) stays clean.
counter = Table("lock_counter", MetaData(), Column("id", Integer, primary_key=True), Column("value", Integer))
THREADS = 10


@pytest.fixture
def counter_engine(engine):
    counter.create(engine)
    with session_scope(engine, write=True) as s:
        s.execute(counter.insert().values(id=1, value=0))
    return engine


def read_counter(engine) -> int:
    with session_scope(engine) as s:
        return s.execute(select(counter.c.value)).scalar_one()


def in_threads(n: int, work) -> list[object]:
    """Run work(i) in n threads released together; return each result or exception."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def body(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 — reported to the test
            results[i] = exc

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return results


def test_write_transactions_never_lose_an_update_on_sqlite(counter_engine):
    def bump(_i: int) -> int:
        with session_scope(counter_engine, write=True) as s:
            value = s.execute(select(counter.c.value).where(counter.c.id == 1)).scalar_one()
            time.sleep(0.3)  # the other thread is trying to read now; BEGIN IMMEDIATE makes it wait
            s.execute(update(counter).where(counter.c.id == 1).values(value=value + 1))
            return value

    results = in_threads(2, bump)
    assert sorted(results) == [0, 1]  # the second saw the first's write: they ran one after the other
    assert read_counter(counter_engine) == 2


def test_many_writers_all_count_on_sqlite(counter_engine):
    def bump(_i: int) -> None:
        with session_scope(counter_engine, write=True) as s:
            value = s.execute(select(counter.c.value)).scalar_one()
            time.sleep(0.01)
            s.execute(update(counter).values(value=value + 1))

    assert in_threads(THREADS, bump) == [None] * THREADS
    assert read_counter(counter_engine) == THREADS


def test_writers_of_one_process_take_turns_without_meeting_the_busy_timeout(counter_engine, monkeypatch):
    """In one process, writers wait for SQLite's write lock on a Python lock that wakes the
    next one at each commit (db._WRITERS), not in SQLite's busy handler: even with a 1 ms
    busy timeout, far shorter than one writer's turn, none of them meets 'database is locked'."""
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 1)
    counter_engine.dispose()  # new connections take the short timeout

    def bump(_i: int) -> None:
        with session_scope(counter_engine, write=True) as s:
            value = s.execute(select(counter.c.value)).scalar_one()
            time.sleep(0.02)  # a turn 20 times the busy timeout
            s.execute(update(counter).values(value=value + 1))

    assert in_threads(THREADS, bump) == [None] * THREADS
    assert read_counter(counter_engine) == THREADS


def test_without_write_the_same_code_breaks_on_sqlite(counter_engine):
    """The contrast: plain (deferred) transactions that both read before either writes.
    SQLite cannot let both commit; one fails with 'database is locked' and its +1 is lost."""
    both_read = threading.Barrier(2)

    def bump(_i: int) -> int:
        with deferred_transaction(counter_engine) as s:
            value = s.execute(select(counter.c.value)).scalar_one()
            both_read.wait(timeout=30)
            s.execute(update(counter).values(value=value + 1))
            return value

    results = in_threads(2, bump)
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], OperationalError) and "locked" in str(errors[0])
    assert read_counter(counter_engine) == 1


# -- concurrent commands on one case -------------------------------------------


def open_case(engine, people, client) -> int:
    return run(engine, cmd.create_case, people.alice, "ORD-1001-1", "Cracked mug",
               "The blue mug arrived cracked in two.", "damaged_item", client=client)


def outcome(fn):
    def work(_i: int) -> str:
        try:
            fn()
        except DomainError as err:
            return str(err.code)
        return "ok"
    return work


def race_change_status(engine, people, client) -> None:
    cid = open_case(engine, people, client)
    results = in_threads(THREADS, outcome(lambda: run(
        engine, cmd.change_status, people.sam, cid, "in_progress", reason="mine", expected_version=1)))
    tally = Counter(results)
    assert tally["ok"] == 1, results
    assert tally["CONCURRENT_UPDATE"] + tally["INVALID_STATUS_TRANSITION"] == THREADS - 1, results
    with session_scope(engine) as s:
        case = s.get(SupportCase, cid)
        kinds = list(s.execute(select(CaseEvent.kind).where(CaseEvent.case_id == cid)).scalars())
    assert (case.status, case.version) == ("in_progress", 2)
    assert sorted(kinds) == ["created", "status_changed"]


def race_replies(engine, people, client) -> None:
    """Same expected version for every reply: the conditional UPDATE lets one through."""
    cid = open_case(engine, people, client)
    results = in_threads(THREADS, lambda i: outcome(lambda: run(
        engine, cmd.add_message, people.sam, cid, f"answer {i}", expected_version=1))(i))
    assert Counter(results) == {"ok": 1, "CONCURRENT_UPDATE": THREADS - 1}, results
    with session_scope(engine) as s:
        assert s.get(SupportCase, cid).version == 2
    assert (count(engine, CaseMessage), count(engine, CaseEvent)) == (1, 2)


def race_assign(engine, people, client) -> None:
    """Two agents grab the same case at once: one wins, one is told it changed."""
    cid = open_case(engine, people, client)
    agents = [people.sam, people.riley] * (THREADS // 2)
    results = in_threads(THREADS, lambda i: outcome(lambda: run(
        engine, cmd.assign, agents[i], cid, agents[i].id, expected_version=1))(i))
    tally = Counter(results)
    assert tally["ok"] >= 1 and tally["ok"] + tally["CONCURRENT_UPDATE"] == THREADS, results
    with session_scope(engine) as s:
        case = s.get(SupportCase, cid)
    # Winners after the first can only be no-ops (same assignee), never a second change.
    assert case.version == 2 and case.assignee_id in {people.sam.id, people.riley.id}
    assert count(engine, CaseEvent) == 2


@pytest.mark.parametrize("race", [race_change_status, race_replies, race_assign])
def test_concurrent_commands_on_sqlite(engine, monkeypatch, order_client, race):
    race(engine, make_people(engine, monkeypatch), order_client)


@pytest.mark.postgres
@pytest.mark.parametrize("race", [race_change_status, race_replies, race_assign])
def test_concurrent_commands_on_postgresql(pg_engine, monkeypatch, order_client, race):
    race(pg_engine, make_people(pg_engine, monkeypatch), order_client)
