"""Concurrent refund requests on one order never hold more than was bought.

request_refund checks what is refundable and then writes, in one transaction that
serialises every refund of the order: BEGIN IMMEDIATE on SQLite (session_scope
write=True), SELECT ... FOR UPDATE on the order snapshot row on PostgreSQL.

Threads are released together by a barrier, each in its own unit of work. The
``slow_check`` fixture sleeps briefly between the check and the write, only to widen
the race window so a missing lock would be caught; no assertion depends on timing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import func, select

from fixtures_db import (  # noqa: F401
    POSTGRES_URL, count, deferred_transaction, make_people, order_client, orders_server, orders_server_session, pg_engine, pg_url, run,
)
from support_app.db import session_scope
from support_app.domain.errors import DomainError
from support_app.domain.refund_rules import HOLDING
from support_app.models import OrderLine, RefundCase, RefundItem
from support_app.services import case_commands as cmd
from support_app.services import refund_commands as rc
from support_app.services import refund_queries as rq

MUGS = 3  # ORD-1001-1 line L1
PAID = 8800
EXCEEDS = "QUANTITY_EXCEEDS_REFUNDABLE"


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


@pytest.fixture
def slow_check(monkeypatch):
    real = rc.existing_refunds

    def slow(session, snapshot_id):
        found = real(session, snapshot_id)
        time.sleep(0.005)  # widen the gap between reading the holds and writing ours
        return found

    monkeypatch.setattr(rc, "existing_refunds", slow)


def open_case(engine, people, client) -> int:
    return run(engine, cmd.create_case, people.alice, "ORD-1001-1", "Cracked mug",
               "The blue mug arrived cracked in two.", "damaged_item", client=client)


def attempt(engine, caller, case_id, qty, request_key):
    """The refund id, or the error code as text."""
    try:
        return run(engine, rc.request_refund, caller, case_id, {"L1": qty}, "damaged", request_key=request_key)
    except DomainError as err:
        return str(err.code)


def held_mugs(engine) -> int:
    with session_scope(engine) as s:
        return s.exec(
            select(func.coalesce(func.sum(RefundItem.quantity), 0))
            .join(RefundCase, RefundCase.id == RefundItem.refund_case_id)
            .join(OrderLine, OrderLine.id == RefundItem.order_line_id)
            .where(OrderLine.line_id == "L1", RefundCase.status.in_([str(s) for s in HOLDING]))  # type: ignore[attr-defined]
        ).one()


def held_amount(engine) -> int:
    with session_scope(engine) as s:
        return s.exec(select(func.coalesce(func.sum(RefundCase.amount), 0))
                      .where(RefundCase.status.in_([str(s) for s in HOLDING]))).one()  # type: ignore[attr-defined]


def race(engine, people, client, *, threads: int, qty: int, rounds: int, one_case: bool) -> None:
    """Each round: ``threads`` requests for ``qty`` mugs at once (on one case, or each on
    its own case of the same order). Exactly MUGS // qty win; the winners are then
    cancelled so the next round starts from the same refundable quantity."""
    alice = people.alice
    cases = [open_case(engine, people, client)] * threads if one_case else [
        open_case(engine, people, client) for _ in range(threads)]
    winners_per_round = MUGS // qty
    for rnd in range(rounds):
        results = in_threads(threads, lambda i: attempt(engine, alice, cases[i], qty, f"race-{rnd:02d}-{i:02d}"))
        won = [r for r in results if isinstance(r, int)]
        assert len(won) == winners_per_round, (rnd, results)
        assert Counter(r for r in results if not isinstance(r, int)) == {EXCEEDS: threads - winners_per_round}, results
        assert held_mugs(engine) == winners_per_round * qty <= MUGS
        assert held_amount(engine) <= PAID
        lines = {ln.line_id: ln for ln in run(engine, rq.refund_form, alice, cases[0], write=False)[0].lines}
        assert (lines["L1"].held, lines["L1"].refundable_now) == (winners_per_round * qty, MUGS - winners_per_round * qty)
        for rid in won:
            run(engine, rc.cancel_refund, alice, rid)
        assert held_mugs(engine) == 0
    assert count(engine, RefundCase) == rounds * winners_per_round
    assert count(engine, RefundItem) == rounds * winners_per_round


RACES = [
    pytest.param(dict(threads=2, qty=2, rounds=20, one_case=True), id="2-threads-x-2-mugs-20-rounds"),
    pytest.param(dict(threads=8, qty=2, rounds=5, one_case=True), id="8-threads-x-2-mugs-one-case"),
    pytest.param(dict(threads=8, qty=1, rounds=5, one_case=True), id="8-threads-x-1-mug-one-case"),
    pytest.param(dict(threads=8, qty=1, rounds=5, one_case=False), id="8-threads-x-1-mug-8-cases"),
]


@pytest.mark.parametrize("shape", RACES)
def test_refund_race_on_sqlite(engine, monkeypatch, order_client, slow_check, shape):
    race(engine, make_people(engine, monkeypatch), order_client, **shape)


@pytest.mark.postgres
@pytest.mark.parametrize("shape", RACES)
def test_refund_race_on_postgresql(pg_engine, monkeypatch, order_client, slow_check, shape):
    race(pg_engine, make_people(pg_engine, monkeypatch), order_client, **shape)


def test_without_write_true_sqlite_refuses_the_second_writer(engine, monkeypatch, order_client):
    """The control: deferred transactions (no write=True) that both read the holds before
    either writes. SQLite cannot let both commit: one fails with 'database is locked'
    (its request is lost, not double-booked). With write=True this interleaving cannot
    happen — BEGIN IMMEDIATE makes the second wait before its first read."""
    people = make_people(engine, monkeypatch)
    cid = open_case(engine, people, order_client)
    both_read = threading.Barrier(2)
    real = rc.existing_refunds

    def read_then_wait(session, snapshot_id):
        found = real(session, snapshot_id)
        both_read.wait(timeout=30)
        return found

    monkeypatch.setattr(rc, "existing_refunds", read_then_wait)

    def work(i: int):
        with deferred_transaction(engine) as s:
            return rc.request_refund(s, people.alice, cid, {"L1": 2}, "damaged", request_key=f"control-{i:04d}")

    results = in_threads(2, work)
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], OperationalError) and "locked" in str(errors[0]), results
    assert held_mugs(engine) == 2 and count(engine, RefundCase) == 1


# -- PostgreSQL, one deterministic interleaving --------------------------------
#
# A makes its request and keeps its transaction open; B starts the same kind of
# request and is seen (pg_blocking_pids) waiting on A's lock; only then does A commit.


def blocked_by(admin, pid: int) -> bool:
    with admin.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE :p = ANY(pg_blocking_pids(pid))"),
                                 {"p": pid}).scalar())


def interleave(engine, caller, case_id, first: tuple[dict, str], second: tuple[dict, str]) -> tuple[object, object]:
    opened, out = threading.Event(), {}
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")

    def a() -> None:
        with session_scope(engine, write=True) as s:
            pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
            out["a"] = rc.request_refund(s, caller, case_id, first[0], "damaged", request_key=first[1])
            opened.set()
            deadline = time.monotonic() + 30  # a hang guard, not a threshold: B is normally seen at once
            while not blocked_by(admin, pid) and time.monotonic() < deadline:
                time.sleep(0.01)

    def b() -> None:
        opened.wait(30)
        try:
            out["b"] = run(engine, rc.request_refund, caller, case_id, second[0], "damaged", request_key=second[1])
        except Exception as exc:  # noqa: BLE001 — reported to the test
            out["b"] = exc

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    admin.dispose()
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return out["a"], out["b"]


@pytest.mark.postgres
def test_waiting_request_sees_the_committed_hold_on_postgresql(pg_engine, monkeypatch, order_client):
    people = make_people(pg_engine, monkeypatch)
    cid = open_case(pg_engine, people, order_client)
    a, b = interleave(pg_engine, people.alice, cid, ({"L1": 2}, "first-key-01"), ({"L1": 2}, "second-key-01"))
    assert isinstance(a, int) and isinstance(b, DomainError) and b.code == EXCEEDS
    assert held_mugs(pg_engine) == 2


@pytest.mark.postgres
def test_concurrent_double_submit_on_postgresql(pg_engine, monkeypatch, order_client):
    people = make_people(pg_engine, monkeypatch)
    cid = open_case(pg_engine, people, order_client)
    a, b = interleave(pg_engine, people.alice, cid, ({"L1": 1}, "same-key-0001"), ({"L1": 1}, "same-key-0001"))
    if isinstance(b, Exception):
        raise b  # was IntegrityError (uq_refund_cases_request_key) when the key was looked up before the lock
    assert a == b and count(pg_engine, RefundCase) == 1


@pytest.mark.postgres
def test_two_compatible_requests_on_one_case_both_succeed_on_postgresql(pg_engine, monkeypatch, order_client):
    people = make_people(pg_engine, monkeypatch)
    cid = open_case(pg_engine, people, order_client)
    a, b = interleave(pg_engine, people.alice, cid, ({"L1": 1}, "first-key-02"), ({"L1": 1}, "second-key-02"))
    if isinstance(b, Exception):
        raise b  # was CONCURRENT_UPDATE when the case version was checked against a pre-lock read
    assert isinstance(a, int) and isinstance(b, int) and a != b
    assert held_mugs(pg_engine) == 2 and held_amount(pg_engine) == 1389 + 1388
