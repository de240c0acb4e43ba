"""Exactly-once refunds end to end: SQLite file, order and gateway sandboxes over real HTTP.

The customer asks (request_refund), an agent approves (one transaction: status change
+ attempt row with its idempotency key), then a worker claims the attempt and calls
the gateway with that key. Every path — concurrent approvals racing several workers,
a commit whose answer is lost, 5xx, a claimant that dies before the call — must end
with exactly one gateway refund, proven by the gateway's own ``refund_count``.

``send_due`` is one worker round done inline (claim what is due, then process and
release each claimed attempt, exactly as a Worker's pool thread does), so a test can
choose the moment — and the clock (``at``) — of every round.

Helpers here are reused by test_refund_decisions.py, test_gateway_webhook_endpoint.py
and test_worker.py.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

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
from support_app.live.bus import get_bus
from support_app.models import RefundAttempt, RefundCase, RefundEvent
from support_app.models.base import utcnow
from support_app.services import case_commands as cmd
from support_app.services import refund_commands as rc
from support_app.services import refund_review as rv
from support_app.services.refund_execution import prepare_send
from support_app.worker.claims import claim_due
from support_app.worker.runner import Worker
from support_app.worker.sender import handle

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


HUNG = 60.0  # seconds: a guard against hanging, never a performance claim


def send_due(engine, client: GatewayClient, *, at: datetime | None = None, owner: str = "test-worker",
             lease_seconds: float = 60.0) -> dict[int, str]:
    """One worker round, inline: claim what is due at ``at`` (default now), then handle
    (process + release) each claimed attempt. Returns {attempt id: outcome}."""
    with session_scope(engine, write=True) as s:
        ids = claim_due(s, owner, lease_seconds, 100, at or utcnow())
    return {attempt_id: handle(attempt_id, owner, client, engine) for attempt_id in ids}


def wait_until(predicate, what: str, timeout: float = HUNG) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextmanager
def running_workers(engine, client: GatewayClient, n: int = 1, **kw) -> Iterator[list[Worker]]:
    """n Workers (own owner ids, pools and claim loops) on the process bus, stopped after."""
    kw.setdefault("poll_seconds", 0.5)
    kw.setdefault("pool_size", 4)
    kw.setdefault("bus", get_bus())
    workers = [Worker(engine=engine, client=client, **kw) for _ in range(n)]
    try:
        for w in workers:
            w.start()
        yield workers
    finally:
        for w in workers:
            assert w.stop(timeout=HUNG), "a worker did not finish its attempts"


def settled(engine, refund_id: int) -> bool:
    return refund_row(engine, refund_id).status != "processing"


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


# -- 1. N concurrent approvals, several workers and claimants racing --------------

# (customer, order, line) one unit at a time: 14 distinct refundable units in window.
UNITS = ([("alice", "ORD-1001-1", "L1")] * 3 + [("alice", "ORD-1001-1", "L2")] + [("alice", "ORD-1001-1", "L3")] * 2
         + [("alice", "ORD-1001-2", "L1")] + [("bob", "ORD-1002-1", "L1")] * 2 + [("bob", "ORD-1002-1", "L2")]
         + [("bob", "ORD-1002-2", "L2")] * 2)
THREADS = 50


def approval_rounds(engine, people, order_client, gateway_server, gateway, units) -> None:  # noqa: F811
    """Per unit: a fresh refund, THREADS approvals at once while three Workers run (woken
    by the approval's commit); every thread then also runs a worker round of its own
    (THREADS more claimants racing the Workers for the same attempt)."""
    cases: dict[str, int] = {}
    expected: dict[str, tuple[int, int]] = {}  # payment -> (refund_count, refunded)
    requests_before = committed_before = 0
    with running_workers(engine, gateway, 3) as workers:
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
                return got, send_due(engine, gateway, owner=f"claimant-{i}")

            results = in_threads(THREADS, work)
            crashed = [r for r in results if isinstance(r, Exception)]
            assert not crashed, (rnd, crashed[:3])
            refs = [got for got, _ in results if isinstance(got, rv.AttemptRef)]
            codes = Counter(got for got, _ in results if not isinstance(got, rv.AttemptRef))
            assert len(refs) == 1, (rnd, codes)
            assert set(codes) <= LOSER_CODES and sum(codes.values()) == THREADS - 1, (rnd, codes)
            inline = [outs for _, outs in results if outs]
            assert len(inline) <= 1 and all(outs == {refs[0].attempt_id: "succeeded"} for outs in inline), inline
            wait_until(lambda: settled(engine, rid), f"round {rnd} settled")

            [attempt] = attempts_of(engine, rid)
            r = refund_row(engine, rid)
            assert (attempt.id, attempt.idempotency_key) == (refs[0].attempt_id, refs[0].idempotency_key)
            assert (attempt.status, r.status, r.gateway_reference) == ("succeeded", "refunded", attempt.gateway_reference)
            assert (attempt.sends, attempt.tries) == (1, 1), "claimed and sent once"  # was 1..THREADS sends
            assert refunded_events(engine, rid) == 1
            ref = f"PAY-{order.removeprefix('ORD-')}"
            n, total = expected.get(ref, (0, 0))
            expected[ref] = (n + 1, total + amount)
            payment = gateway_server.payment(ref)
            assert (payment["refund_count"], payment["refunded"]) == expected[ref], (rnd, payment)
            requests, committed = gateway_server.counters()
            assert (requests, committed) == (requests_before + 1, committed_before + 1)
            requests_before, committed_before = requests, committed
        wait_until(lambda: all(w.in_flight() == 0 for w in workers), "workers idle")
    assert count(engine, RefundAttempt) == len(units)


def test_fifty_concurrent_approvals_make_one_gateway_refund_per_round(engine, people, order_client, gateway_server, gateway):
    assert len(UNITS) >= 10
    approval_rounds(engine, people, order_client, gateway_server, gateway, UNITS)


@pytest.mark.postgres
def test_fifty_concurrent_approvals_on_postgresql(pg_engine, monkeypatch, order_client, gateway_server, gateway):
    """On PostgreSQL the refund row lock (SELECT ... FOR UPDATE) serialises the approvals,
    and FOR UPDATE SKIP LOCKED keeps the claimants off each other's attempt."""
    approval_rounds(pg_engine, make_people(pg_engine, monkeypatch), order_client, gateway_server, gateway, UNITS[:4])


# -- 2. commit, then the answer never arrives ------------------------------------


def test_commit_then_timeout_is_unknown_then_found_by_the_next_try_once(engine, people, alice_case, gateway_server):
    rid = ask(engine, people.alice, alice_case, {"L2": 1})
    ref = approve(engine, people.sam, rid)
    gateway_server.set_faults("commit_then_timeout", latency_ms=1500)
    with GatewayClient(gateway_server.url, timeout_seconds=0.3, retries=1, backoff_seconds=0.01) as slow:
        assert send_due(engine, slow) == {ref.attempt_id: "unknown"}
    [attempt] = attempts_of(engine, rid)
    assert (attempt.status, attempt.gateway_reference, refund_row(engine, rid).status) == ("unknown", None, "processing")
    assert (attempt.tries, attempt.claimed_by, attempt.claimed_until) == (1, None, None)  # released ...
    assert attempt.next_try_at - attempt.updated_at >= timedelta(seconds=2)  # ... with the first backoff
    assert gateway_server.payment("PAY-1001-1")["refund_count"] == 1  # the money did move
    assert gateway_server.counters() == (2, 1)  # the client's own retry replayed the same key

    gateway_server.set_faults("none")
    with GatewayClient(gateway_server.url, timeout_seconds=5, retries=2, backoff_seconds=0.01) as client:
        assert send_due(engine, client, at=attempt.next_try_at - timedelta(microseconds=1)) == {}  # not due yet
        assert send_due(engine, client, at=attempt.next_try_at) == {ref.attempt_id: "succeeded"}
        [attempt] = attempts_of(engine, rid)
        r = refund_row(engine, rid)
        assert (attempt.status, r.status, attempt.sends, attempt.tries) == ("succeeded", "refunded", 1, 2)
        assert r.gateway_reference == attempt.gateway_reference == client.find_refund(ref.idempotency_key).reference
        assert send_due(engine, client, at=utcnow() + timedelta(days=1)) == {}  # nothing left open
    payment = gateway_server.payment("PAY-1001-1")
    assert (payment["refund_count"], payment["refunded"]) == (1, r.amount)
    assert gateway_server.counters() == (2, 1) and refunded_events(engine, rid) == 1  # found by key, not re-sent


# -- 3. a 5xx, then success -----------------------------------------------------


def test_one_5xx_is_retried_with_the_same_key(engine, people, alice_case, gateway_server, gateway):
    rid = ask(engine, people.alice, alice_case, {"L1": 2})
    ref = approve(engine, people.sam, rid)
    gateway_server.set_faults("error", status=503, count=1)
    assert send_due(engine, gateway) == {ref.attempt_id: "succeeded"}
    assert gateway_server.counters() == (2, 1)
    [attempt] = attempts_of(engine, rid)
    r = refund_row(engine, rid)
    assert (attempt.status, attempt.sends, r.status, r.amount) == ("succeeded", 1, "refunded", 2777)
    payment = gateway_server.payment("PAY-1001-1")
    assert (payment["refund_count"], payment["refunded"]) == (1, 2777)


def test_5xx_beyond_the_retries_is_unknown_and_the_next_try_resends_the_same_key(
        engine, people, alice_case, gateway_server, gateway):
    rid = ask(engine, people.alice, alice_case, {"L3": 1})
    ref = approve(engine, people.sam, rid)
    gateway_server.set_faults("error", status=502)
    assert send_due(engine, gateway) == {ref.attempt_id: "unknown"}
    assert gateway_server.counters() == (3, 0) and refund_row(engine, rid).status == "processing"
    gateway_server.set_faults("none")
    [attempt] = attempts_of(engine, rid)
    # sends > 0: the gateway is asked first; it never saw the key, so the same key goes again.
    assert send_due(engine, gateway, at=attempt.next_try_at) == {ref.attempt_id: "succeeded"}
    [attempt] = attempts_of(engine, rid)
    assert (attempt.status, attempt.sends, refund_row(engine, rid).status) == ("succeeded", 2, "refunded")
    assert gateway.find_refund(ref.idempotency_key).reference == attempt.gateway_reference
    assert gateway_server.payment("PAY-1001-1")["refund_count"] == 1 and gateway_server.counters() == (4, 1)


def test_the_backoff_grows_with_the_tries_and_is_capped(engine, people, alice_case, gateway_server, gateway):
    rid = ask(engine, people.alice, alice_case, {"L1": 1})
    ref = approve(engine, people.sam, rid)
    gateway_server.set_faults("error", status=500)
    delays, at = [], utcnow()
    with GatewayClient(gateway_server.url, timeout_seconds=5, retries=0) as once:
        for _ in range(10):
            assert send_due(engine, once, at=at) == {ref.attempt_id: "unknown"}
            [attempt] = attempts_of(engine, rid)
            delays.append(round((attempt.next_try_at - attempt.updated_at).total_seconds()))
            at = attempt.next_try_at
    assert delays == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert (attempt.tries, attempt.sends, attempt.idempotency_key) == (10, 10, ref.idempotency_key)
    assert gateway_server.payment("PAY-1001-1")["refund_count"] == 0


# -- 5. a claimant dies between the approval's commit and the gateway call --------


def test_a_dead_claimants_attempt_is_taken_over_after_its_lease_with_the_same_key(
        engine, people, alice_case, gateway_server, gateway):
    rid = ask(engine, people.alice, alice_case, {"L1": 1, "L2": 1})
    ref = approve(engine, people.riley, rid)
    now = utcnow()
    with session_scope(engine, write=True) as s:  # ... claimed by a worker that then died
        assert claim_due(s, "dead-worker", 30, 10, now) == [ref.attempt_id]
    assert gateway.find_refund(ref.idempotency_key) is None
    assert send_due(engine, gateway, at=now + timedelta(seconds=29)) == {}  # a live claim is not taken
    assert send_due(engine, gateway, at=now + timedelta(seconds=30)) == {ref.attempt_id: "succeeded"}
    [attempt] = attempts_of(engine, rid)
    found = gateway.find_refund(ref.idempotency_key)
    assert found is not None and found.reference == attempt.gateway_reference == refund_row(engine, rid).gateway_reference
    assert (attempt.idempotency_key, attempt.status, attempt.sends, attempt.tries, refund_row(engine, rid).status) == (
        ref.idempotency_key, "succeeded", 1, 2, "refunded")
    for _ in range(2):
        assert send_due(engine, gateway, at=utcnow() + timedelta(hours=1)) == {}
    payment = gateway_server.payment("PAY-1001-1")
    assert (payment["refund_count"], payment["refunded"]) == (1, refund_row(engine, rid).amount)
    assert gateway_server.counters() == (1, 1)


def test_claimants_racing_on_a_fresh_attempt_send_once(engine, people, alice_case, gateway_server, gateway):
    rid = ask(engine, people.alice, alice_case, {"L3": 2})
    ref = approve(engine, people.sam, rid)
    results = in_threads(8, lambda i: send_due(engine, gateway, owner=f"claimant-{i}"))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(results, key=len) == [{}] * 7 + [{ref.attempt_id: "succeeded"}]
    assert refund_row(engine, rid).status == "refunded" and refunded_events(engine, rid) == 1
    assert gateway_server.payment("PAY-1001-1")["refund_count"] == 1 and gateway_server.counters() == (1, 1)


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
    got = held_open_while(pg_engine, lambda: send_due(pg_engine, gateway), reply("Any news about my refund?"))
    assert gateway_server.payment("PAY-1001-1")["refund_count"] == 1  # the money moved either way
    if isinstance(got, Exception):
        raise got  # was CONCURRENT_UPDATE: refund left processing, attempt pending, until a later try
    assert got == {ref.attempt_id: "succeeded"} and refund_row(pg_engine, rid).status == "refunded"


@pytest.mark.postgres
def test_a_stale_claimant_cannot_send_beside_the_one_that_took_over_on_postgresql(
        pg_engine, monkeypatch, order_client, gateway_server, gateway):
    """The stale claimant's send is counted by a conditional UPDATE that waits for the
    takeover's row lock and is then re-checked against the committed claim: refused."""
    people = make_people(pg_engine, monkeypatch)
    rid = ask(pg_engine, people.alice, open_case(pg_engine, people.alice, order_client), {"L3": 1})
    ref = approve(pg_engine, people.sam, rid)
    now = utcnow()
    with session_scope(pg_engine, write=True) as s:
        assert claim_due(s, "stale", 1, 10, now) == [ref.attempt_id]
    got = held_open_while(pg_engine, lambda: run(pg_engine, prepare_send, ref.attempt_id, "stale"),
                          lambda s: claim_due(s, "fresh", 60, 10, now + timedelta(seconds=2)))
    assert got is None
    [attempt] = attempts_of(pg_engine, rid)
    assert (attempt.claimed_by, attempt.sends, attempt.tries) == ("fresh", 0, 2)
    assert send_due(pg_engine, gateway, at=now + timedelta(seconds=3)) == {}  # fresh holds it: nobody else claims
    assert handle(ref.attempt_id, "stale", gateway, pg_engine) == "skipped"  # nor does the stale one send
    assert handle(ref.attempt_id, "fresh", gateway, pg_engine) == "succeeded"
    assert refund_row(pg_engine, rid).status == "refunded" and gateway_server.counters() == (1, 1)
