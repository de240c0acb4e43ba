"""Exactly-once refunds end to end: SQLite file, order and gateway sandboxes over real HTTP.

The customer asks (request_refund), an agent approves (one transaction: status change
+ attempt row with its idempotency key), then execute_attempt calls the gateway with
that key. Every path — concurrent approvals, double clicks racing the executor, a
commit whose answer is lost, 5xx, a crash before the call — must end with exactly
one gateway refund, proven by the gateway's own ``refund_count`` for the payment.

Helpers here are reused by test_refund_decisions.py and test_gateway_webhook_endpoint.py.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from fixtures_db import (  # noqa: F401
    POSTGRES_URL, alembic_config, count, keep_logging, make_people, order_client, orders_server, orders_server_session, people,
    pg_engine, pg_url, run,
)
from fixtures_gateway import GatewayServer, gateway_server, gateway_server_session  # noqa: F401
from support_app.db import make_engine, session_scope
from support_app.domain.errors import DomainError, ErrorCode
from support_app.integrations.gateway_client import GatewayClient
from support_app.integrations.order_client import OrderClient
from support_app.kv import MemoryKV
from support_app.models import RefundAttempt, RefundCase, RefundEvent
from support_app.models.base import utcnow
from support_app.services import case_commands as cmd
from support_app.services import refund_commands as rc
from support_app.services import refund_review as rv
from support_app.services.refund_execution import execute_attempt, prepare_send, reconcile

E = ErrorCode
LOSER_CODES = {E.REFUND_ALREADY_PROCESSED, E.CONCURRENT_UPDATE}
CASE = dict(subject="Refund please", description="Something arrived broken, please refund it.", category="damaged_item")

# -- helpers (shared with the other exactly-once test modules) ------------------

_keys = iter(range(10**6))


def open_case(engine, who, client, order: str = "ORD-1001-1") -> int:
    return run(engine, cmd.create_case, who, order, client=client, **CASE)


def ask(engine, who, case_id: int, selection: dict, reason: str = "damaged") -> int:
    return run(engine, rc.request_refund, who, case_id, selection, reason, request_key=f"eo-form-{next(_keys):06d}")


def approve(engine, agent, refund_id: int) -> rv.AttemptRef:
    return run(engine, rv.approve_refund, agent, refund_id)


def refund_row(engine, refund_id: int) -> RefundCase:
    with session_scope(engine) as s:
        return s.get(RefundCase, refund_id)


def attempts_of(engine, refund_id: int) -> list[RefundAttempt]:
    with session_scope(engine) as s:
        return list(s.exec(select(RefundAttempt).where(RefundAttempt.refund_case_id == refund_id).order_by(RefundAttempt.id)))


def refunded_events(engine, refund_id: int) -> int:
    with session_scope(engine) as s:
        rows = s.exec(select(RefundEvent).where(RefundEvent.refund_case_id == refund_id,
                                                RefundEvent.to_status == "refunded"))
        return len(list(rows))


def in_threads(n: int, work) -> list[object]:
    """work(i) in n threads released together by a barrier; each result or exception."""
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
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return results


@pytest.fixture
def gateway(gateway_server: GatewayServer) -> Iterator[GatewayClient]:  # noqa: F811
    client = GatewayClient(base_url=gateway_server.url, timeout_seconds=5.0, retries=2, backoff_seconds=0.01)
    yield client
    client.close()


@pytest.fixture
def alice_case(engine, people, order_client) -> int:  # noqa: F811
    return open_case(engine, people.alice, order_client)


# -- 1. N concurrent approvals, double clicks racing the executor ----------------

# (customer, order, line) one unit at a time: 14 distinct refundable units in window.
UNITS = ([("alice", "ORD-1001-1", "L1")] * 3 + [("alice", "ORD-1001-1", "L2")] + [("alice", "ORD-1001-1", "L3")] * 2
         + [("alice", "ORD-1001-2", "L1")] + [("bob", "ORD-1002-1", "L1")] * 2 + [("bob", "ORD-1002-1", "L2")]
         + [("bob", "ORD-1002-2", "L2")] * 2)
THREADS = 50


def approval_rounds(engine, people, order_client, gateway_server, gateway, units) -> None:  # noqa: F811
    """Per unit: a fresh refund, THREADS approvals at once, then every thread executes
    whatever attempt exists (double clicks racing the executor)."""
    cases: dict[str, int] = {}
    expected: dict[str, tuple[int, int]] = {}  # payment -> (refund_count, refunded)
    committed_before = 0
    for rnd, (who, order, line) in enumerate(units):
        customer = getattr(people, who)
        if order not in cases:
            cases[order] = open_case(engine, customer, order_client, order)
        rid = ask(engine, customer, cases[order], {line: 1})
        amount = refund_row(engine, rid).amount
        agents = [people.sam, people.riley]

        def work(i: int, rid=rid):
            try:
                got: object = approve(engine, agents[i % 2], rid)
            except DomainError as err:
                got = err.code
            # Everyone — winner and losers — then "clicks" execute for whatever attempt exists.
            live = attempts_of(engine, rid)
            outcomes = [execute_attempt(a.id, client=gateway, engine=engine) for a in live]
            return got, outcomes

        results = in_threads(THREADS, work)
        crashed = [r for r in results if isinstance(r, Exception)]
        assert not crashed, (rnd, crashed[:3])
        refs = [got for got, _ in results if isinstance(got, rv.AttemptRef)]
        codes = Counter(got for got, _ in results if not isinstance(got, rv.AttemptRef))
        assert len(refs) == 1, (rnd, codes)
        assert set(codes) <= LOSER_CODES and sum(codes.values()) == THREADS - 1, (rnd, codes)
        assert all(outs and set(outs) <= {"succeeded", "done"} for _, outs in results), results

        [attempt] = attempts_of(engine, rid)
        r = refund_row(engine, rid)
        assert (attempt.id, attempt.idempotency_key) == (refs[0].attempt_id, refs[0].idempotency_key)
        assert (attempt.status, r.status, r.gateway_reference) == ("succeeded", "refunded", attempt.gateway_reference)
        assert 1 <= attempt.sends <= THREADS and refunded_events(engine, rid) == 1
        ref = f"PAY-{order.removeprefix('ORD-')}"
        n, total = expected.get(ref, (0, 0))
        expected[ref] = (n + 1, total + amount)
        payment = gateway_server.payment(ref)
        assert (payment["refund_count"], payment["refunded"]) == expected[ref], (rnd, payment)
        _, committed = gateway_server.counters()
        assert committed == committed_before + 1
        committed_before = committed
    assert count(engine, RefundAttempt) == len(units)


def test_fifty_concurrent_approvals_make_one_gateway_refund_per_round(engine, people, order_client, gateway_server, gateway):
    assert len(UNITS) >= 10
    approval_rounds(engine, people, order_client, gateway_server, gateway, UNITS)


@pytest.mark.postgres
def test_fifty_concurrent_approvals_on_postgresql(pg_engine, monkeypatch, order_client, gateway_server, gateway):
    """On PostgreSQL the refund row lock (SELECT ... FOR UPDATE) is what serialises them."""
    approval_rounds(pg_engine, make_people(pg_engine, monkeypatch), order_client, gateway_server, gateway, UNITS[:4])


# -- 2. commit, then the answer never arrives ------------------------------------


def test_commit_then_timeout_is_unknown_then_reconciled_once(engine, people, alice_case, gateway_server):
    rid = ask(engine, people.alice, alice_case, {"L2": 1})
    ref = approve(engine, people.sam, rid)
    gateway_server.set_faults("commit_then_timeout", latency_ms=1500)
    with GatewayClient(gateway_server.url, timeout_seconds=0.3, retries=1, backoff_seconds=0.01) as slow:
        assert execute_attempt(ref.attempt_id, client=slow, engine=engine) == "unknown"
    [attempt] = attempts_of(engine, rid)
    assert (attempt.status, attempt.gateway_reference, refund_row(engine, rid).status) == ("unknown", None, "processing")
    assert gateway_server.payment("PAY-1001-1")["refund_count"] == 1  # the money did move
    assert gateway_server.counters() == (2, 1)  # the retry replayed the same key

    gateway_server.set_faults("none")
    with GatewayClient(gateway_server.url, timeout_seconds=5, retries=2, backoff_seconds=0.01) as client:
        tally = reconcile(client=client, engine=engine, older_than_seconds=0)
        assert tally == {"checked": 1, "recorded": 1, "resent": 0, "unreachable": 0}
        [attempt] = attempts_of(engine, rid)
        r = refund_row(engine, rid)
        assert (attempt.status, r.status) == ("succeeded", "refunded")
        assert r.gateway_reference == attempt.gateway_reference == client.find_refund(ref.idempotency_key).reference
        assert execute_attempt(ref.attempt_id, client=client, engine=engine) == "done"
        assert reconcile(client=client, engine=engine, older_than_seconds=0)["checked"] == 0
    payment = gateway_server.payment("PAY-1001-1")
    assert (payment["refund_count"], payment["refunded"]) == (1, r.amount)
    assert gateway_server.counters() == (2, 1) and refunded_events(engine, rid) == 1


# -- 3. a 5xx, then success -----------------------------------------------------


def test_one_5xx_is_retried_with_the_same_key(engine, people, alice_case, gateway_server, gateway):
    rid = ask(engine, people.alice, alice_case, {"L1": 2})
    ref = approve(engine, people.sam, rid)
    gateway_server.set_faults("error", status=503, count=1)
    assert execute_attempt(ref.attempt_id, client=gateway, engine=engine) == "succeeded"
    assert gateway_server.counters() == (2, 1)
    [attempt] = attempts_of(engine, rid)
    r = refund_row(engine, rid)
    assert (attempt.status, attempt.sends, r.status, r.amount) == ("succeeded", 1, "refunded", 2777)
    payment = gateway_server.payment("PAY-1001-1")
    assert (payment["refund_count"], payment["refunded"]) == (1, 2777)


def test_5xx_beyond_the_retries_is_unknown_and_the_reconciler_resends_the_same_key(
        engine, people, alice_case, gateway_server, gateway):
    rid = ask(engine, people.alice, alice_case, {"L3": 1})
    ref = approve(engine, people.sam, rid)
    gateway_server.set_faults("error", status=502)
    assert execute_attempt(ref.attempt_id, client=gateway, engine=engine) == "unknown"
    assert gateway_server.counters() == (3, 0) and refund_row(engine, rid).status == "processing"
    gateway_server.set_faults("none")
    assert reconcile(client=gateway, engine=engine, older_than_seconds=0)["resent"] == 1
    [attempt] = attempts_of(engine, rid)
    assert (attempt.status, attempt.sends, refund_row(engine, rid).status) == ("succeeded", 2, "refunded")
    assert gateway.find_refund(ref.idempotency_key).reference == attempt.gateway_reference
    assert gateway_server.payment("PAY-1001-1")["refund_count"] == 1


# -- 5. crash between the approval's commit and the gateway call -----------------


def test_crash_before_the_call_is_sent_by_the_reconciler_with_the_same_key(engine, people, alice_case, gateway_server, gateway):
    rid = ask(engine, people.alice, alice_case, {"L1": 1, "L2": 1})
    ref = approve(engine, people.riley, rid)  # ... and the process dies: nobody calls execute_attempt
    assert gateway.find_refund(ref.idempotency_key) is None
    # The default age leaves a fresh attempt to the request that started it.
    assert reconcile(client=gateway, engine=engine)["checked"] == 0
    tally = reconcile(client=gateway, engine=engine, older_than_seconds=0)
    assert tally == {"checked": 1, "recorded": 0, "resent": 1, "unreachable": 0}
    [attempt] = attempts_of(engine, rid)
    found = gateway.find_refund(ref.idempotency_key)
    assert found is not None and found.reference == attempt.gateway_reference == refund_row(engine, rid).gateway_reference
    assert (attempt.idempotency_key, attempt.status, refund_row(engine, rid).status) == (
        ref.idempotency_key, "succeeded", "refunded")
    for _ in range(2):
        assert reconcile(client=gateway, engine=engine, older_than_seconds=0)["checked"] == 0
    payment = gateway_server.payment("PAY-1001-1")
    assert (payment["refund_count"], payment["refunded"]) == (1, refund_row(engine, rid).amount)
    assert gateway_server.counters() == (1, 1)


def test_reconciler_and_executor_racing_on_a_fresh_attempt_send_once(engine, people, alice_case, gateway_server, gateway):
    rid = ask(engine, people.alice, alice_case, {"L3": 2})
    ref = approve(engine, people.sam, rid)
    results = in_threads(8, lambda i: execute_attempt(ref.attempt_id, client=gateway, engine=engine) if i % 2
                         else reconcile(client=gateway, engine=engine, older_than_seconds=0))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert refund_row(engine, rid).status == "refunded" and refunded_events(engine, rid) == 1
    assert gateway_server.payment("PAY-1001-1")["refund_count"] == 1 and gateway_server.counters()[1] == 1


# -- 8. the partial unique index: one live attempt per refund ---------------------


def _extra_attempt(engine, refund_id: int, status: str, key: str) -> None:
    with session_scope(engine, write=True) as s:
        now = utcnow()
        s.add(RefundAttempt(refund_case_id=refund_id, idempotency_key=key, status=status, amount=100,
                            currency="EUR", created_at=now, updated_at=now))


def check_one_live_attempt_index(engine, refund_id: int) -> None:
    for status in ("pending", "unknown", "succeeded"):
        with pytest.raises(IntegrityError):
            _extra_attempt(engine, refund_id, status, f"second-live-{status}")
    _extra_attempt(engine, refund_id, "failed", "a-failed-one-is-fine")  # not live: allowed
    with pytest.raises(IntegrityError):  # and the key itself is unique
        _extra_attempt(engine, refund_id, "failed", "a-failed-one-is-fine")
    assert [a.status for a in attempts_of(engine, refund_id)] == ["pending", "failed"]


def test_a_second_live_attempt_row_is_refused_by_the_database(engine, people, alice_case):
    rid = ask(engine, people.alice, alice_case, {"L1": 1})
    approve(engine, people.sam, rid)
    check_one_live_attempt_index(engine, rid)


def test_the_migrated_schema_has_the_same_partial_index(tmp_path, monkeypatch, orders_server, keep_logging):  # noqa: F811
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    command.upgrade(alembic_config(url), "head")
    eng = make_engine(url)
    client = OrderClient(base_url=orders_server.url, timeout_seconds=2, kv=MemoryKV())
    try:
        who = make_people(eng, monkeypatch)
        rid = ask(eng, who.alice, open_case(eng, who.alice, client), {"L2": 1})
        approve(eng, who.sam, rid)
        check_one_live_attempt_index(eng, rid)
    finally:
        client.close()
        eng.dispose()


# -- regressions: a reply on the case, a second database --------------------------


def held_open_while(engine, work, hold) -> object:
    """Run ``hold(session)`` in a transaction kept open until ``work()`` (another thread)
    is seen waiting on one of its locks; then commit it. Returns work()'s result or error."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    opened, out = threading.Event(), {}

    def holder() -> None:
        with session_scope(engine, write=True) as s:
            pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
            hold(s)
            opened.set()
            deadline = time.monotonic() + 30  # a hang guard: the waiter is normally seen at once
            while time.monotonic() < deadline:
                with admin.connect() as conn:
                    if conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE :p = ANY(pg_blocking_pids(pid))"),
                                    {"p": pid}).scalar():
                        break
                time.sleep(0.01)

    def worker() -> None:
        opened.wait(30)
        try:
            out["r"] = work()
        except Exception as exc:  # noqa: BLE001 — reported to the test
            out["r"] = exc

    threads = [threading.Thread(target=holder), threading.Thread(target=worker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    admin.dispose()
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return out["r"]


@pytest.mark.postgres
def test_a_reply_on_the_case_stops_neither_approval_nor_recording_on_postgresql(
        pg_engine, monkeypatch, order_client, gateway_server, gateway):
    """Refund flows touch the case unconditionally: a concurrent reply (which locks and
    bumps the case) must not turn an approval or a gateway outcome into CONCURRENT_UPDATE."""
    people = make_people(pg_engine, monkeypatch)
    cid = open_case(pg_engine, people.alice, order_client)
    rid = ask(pg_engine, people.alice, cid, {"L2": 1})
    reply = lambda text: lambda s: cmd.add_message(s, people.alice, cid, text)  # noqa: E731
    ref = held_open_while(pg_engine, lambda: approve(pg_engine, people.sam, rid), reply("Is anyone looking at this?"))
    if isinstance(ref, Exception):
        raise ref
    got = held_open_while(pg_engine, lambda: execute_attempt(ref.attempt_id, client=gateway, engine=pg_engine),
                          reply("Any news about my refund?"))
    assert gateway_server.payment("PAY-1001-1")["refund_count"] == 1  # the money moved either way
    if isinstance(got, Exception):
        raise got  # was CONCURRENT_UPDATE: refund left processing, attempt pending, until the reconciler
    assert got == "succeeded" and refund_row(pg_engine, rid).status == "refunded"


@pytest.mark.postgres
def test_concurrent_sends_are_all_counted_on_postgresql(pg_engine, monkeypatch, order_client, gateway_server, gateway):
    people = make_people(pg_engine, monkeypatch)
    rid = ask(pg_engine, people.alice, open_case(pg_engine, people.alice, order_client), {"L3": 1})
    ref = approve(pg_engine, people.sam, rid)
    # Another executor (a double click) has counted its send and not yet committed.
    got = held_open_while(pg_engine, lambda: execute_attempt(ref.attempt_id, client=gateway, engine=pg_engine),
                          lambda s: (prepare_send(s, ref.attempt_id), s.flush()))
    assert got == "succeeded"
    assert attempts_of(pg_engine, rid)[0].sends == 2  # today: 1
