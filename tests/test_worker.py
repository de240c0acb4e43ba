"""The durable sender: claims (SQLite file and PostgreSQL), the Worker's wake-ups and
polling, "check with gateway now", and real worker processes killed mid-call and
taken over with the same idempotency key.

Worker subprocesses run ``python -m support_app.worker`` against this test's
database and the gateway sandbox over loopback HTTP; they are killed with SIGKILL
(no clean-up of any kind) or stopped with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from fixtures_db import (  # noqa: F401
    code_of, make_people, order_client, orders_server, orders_server_session, people, pg_engine, pg_url, run,
)
from fixtures_gateway import GatewayServer, gateway_server, gateway_server_session  # noqa: F401
from support_app.db import get_engine, session_scope
from support_app.domain.errors import ErrorCode
from support_app.integrations.gateway_client import GatewayClient
from support_app.live.bus import RedisBus, get_bus
from support_app.live.channels import ATTEMPTS
from support_app.models import CaseEvent, OrderSnapshot, RefundAttempt, RefundCase, RefundEvent, SupportCase, User
from support_app.models.base import utcnow
from support_app.services import refund_review as rv
from support_app.settings import EXIT_CONFIG, ROOT, get_settings
from support_app.worker.claims import claim_due, release
from support_app.worker.embedded import embedded_worker
from support_app.worker.runner import Worker, required_lease_seconds
from test_exactly_once import (  # noqa: F401
    HUNG, alice_case, approve, ask, attempts_of, gateway, in_threads, open_case, refund_row, running_workers, send_due,
    settled, wait_until,
)

E = ErrorCode
PAY = "PAY-1001-1"


def quick_client(gateway_server: GatewayServer) -> GatewayClient:  # noqa: F811
    """One try of at most 1 s: the smallest lease a worker accepts with it is 7 s."""
    return GatewayClient(gateway_server.url, timeout_seconds=1.0, retries=0, backoff_seconds=0)


# -- claims ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request):
    """A real SQLite file, or a throw-away PostgreSQL schema, with every table."""
    return request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")


def seed_attempts(engine, n: int, status: str = "pending", due_in: float = -1.0) -> list[int]:
    """n refunds in processing, each with one attempt (the partial unique index allows
    one live attempt per refund), due ``due_in`` seconds from now."""
    now = utcnow()
    with session_scope(engine, write=True) as s:
        tag = uuid.uuid4().hex[:12]
        user = User(email=f"c-{tag}@example.com", full_name="C", role="customer", password_hash="x")
        s.add(user)
        s.flush()
        snap = OrderSnapshot(order_id=f"ORD-{tag}", customer_id=user.id, currency="EUR", placed_at=now,
                             amount_paid=10**6, payment_reference="PAY-SEED")
        s.add(snap)
        s.flush()
        case = SupportCase(customer_id=user.id, order_snapshot_id=snap.id, subject="s", description="d",
                           category="other", priority="normal", status="open")
        s.add(case)
        s.flush()
        refunds = [RefundCase(support_case_id=case.id, order_snapshot_id=snap.id, customer_id=user.id,
                              status="processing", reason="damaged", amount=100, currency="EUR",
                              request_key=f"seed-{i}", requested_at=now) for i in range(n)]
        s.add_all(refunds)
        s.flush()
        attempts = [RefundAttempt(refund_case_id=r.id, idempotency_key=f"seed-{tag}-{r.id}", status=status,
                                  amount=100, currency="EUR", next_try_at=now + timedelta(seconds=due_in))
                    for r in refunds]
        s.add_all(attempts)
        s.flush()
        return [a.id for a in attempts]


def claim(engine, owner: str, limit: int = 10, at=None, lease: float = 60) -> list[int]:
    with session_scope(engine, write=True) as s:
        return claim_due(s, owner, lease, limit, at or utcnow())


def row(engine, attempt_id: int) -> RefundAttempt:
    with session_scope(engine) as s:
        return s.get(RefundAttempt, attempt_id)


def test_concurrent_claimants_never_get_the_same_attempt(db):
    ids = seed_attempts(db, 60)
    threads = 16

    def drain(i: int) -> list[int]:
        got: list[int] = []
        while batch := claim(db, f"claimant-{i}", limit=3):
            got += batch
        return got

    results = in_threads(threads, drain)
    assert not [r for r in results if isinstance(r, Exception)], results
    claimed = [a for got in results for a in got]
    assert sorted(claimed) == sorted(ids), "every attempt claimed exactly once"
    for i, got in enumerate(results):
        for attempt_id in got:
            a = row(db, attempt_id)
            assert (a.claimed_by, a.tries) == (f"claimant-{i}", 1)
    assert sum(1 for got in results if got) > 1  # they really were claiming side by side


def test_a_live_claim_is_not_taken_an_expired_one_is(db):
    [attempt_id] = seed_attempts(db, 1)
    now = utcnow()
    assert claim(db, "first", at=now, lease=10) == [attempt_id]
    assert claim(db, "second", at=now) == []
    assert claim(db, "second", at=now + timedelta(seconds=10) - timedelta(microseconds=1)) == []
    assert claim(db, "second", at=now + timedelta(seconds=10)) == [attempt_id]  # expired at claimed_until
    a = row(db, attempt_id)
    assert (a.claimed_by, a.claimed_until, a.tries) == ("second", now + timedelta(seconds=70), 2)


def test_only_due_live_attempts_are_claimed_oldest_first(db):
    later = seed_attempts(db, 2, due_in=30)
    due = seed_attempts(db, 3, due_in=-5) + seed_attempts(db, 2, status="unknown", due_in=-10)
    seed_attempts(db, 2, status="succeeded") + seed_attempts(db, 1, status="failed")
    now = utcnow()
    assert sorted(claim(db, "w", limit=4, at=now)) == sorted(due[3:] + due[:2])  # the oldest due first, then by id
    assert sorted(claim(db, "w", limit=10, at=now)) == [due[2]]
    assert sorted(claim(db, "w", limit=10, at=now + timedelta(seconds=31))) == sorted(later)
    assert claim(db, "w", limit=0) == []


def test_release_only_by_the_owner(db):
    [live, done] = seed_attempts(db, 2)
    now = utcnow()
    assert sorted(claim(db, "owner", at=now)) == [live, done]
    with session_scope(db, write=True) as s:
        s.get(RefundAttempt, done).status = "succeeded"
    with session_scope(db, write=True) as s:
        assert release(s, live, "someone-else", now) is False
    assert row(db, live).claimed_by == "owner"
    with session_scope(db, write=True) as s:
        assert release(s, live, "owner", now) is True
        assert release(s, done, "owner", now) is True
    a, d = row(db, live), row(db, done)
    assert (a.claimed_by, a.claimed_until, a.next_try_at) == (None, None, now + timedelta(seconds=2))  # backoff
    assert (d.claimed_by, d.next_try_at < now) == (None, True)  # settled: no next try
    # A claim taken over after it expired can no longer be released by the old owner.
    assert claim(db, "old", at=a.next_try_at, lease=5) == [live]
    assert claim(db, "new", at=a.next_try_at + timedelta(seconds=5)) == [live]
    with session_scope(db, write=True) as s:
        assert release(s, live, "old", utcnow()) is False
    assert row(db, live).claimed_by == "new"


# -- the Worker in this process ----------------------------------------------------------


def test_a_lease_shorter_than_the_clients_worst_case_is_refused(engine, gateway_server):  # noqa: F811
    with GatewayClient(gateway_server.url, timeout_seconds=5.0, retries=2, backoff_seconds=0.1) as client:
        assert required_lease_seconds(client) == pytest.approx(2 * (5.0 * 3 + 0.1 + 0.2) + 5)
        worker = Worker(engine=engine, client=client, lease_seconds=30)
        with pytest.raises(ValueError, match=r"SUPPORT_WORKER_LEASE_SECONDS=30 is too short.*at least 35\.6"):
            worker.start()
        assert worker.in_flight() == 0 and not any(t.name == "worker-claims" for t in threading.enumerate())


def test_with_a_60_s_poll_an_approval_is_sent_because_the_commit_wakes_the_worker(
        engine, people, alice_case, gateway_server, gateway):  # noqa: F811
    with running_workers(engine, gateway, poll_seconds=60) as [worker]:
        assert worker.wait_rounds(1, HUNG)  # the start-up round is over: only a wake-up claims now
        rid = ask(engine, people.alice, alice_case, {"L2": 1})
        ref = approve(engine, people.sam, rid)
        wait_until(lambda: settled(engine, rid), "the approval sent by the woken worker", timeout=30)
    assert refund_row(engine, rid).status == "refunded" and worker.stats.outcomes == {"succeeded": 1}
    assert gateway.find_refund(ref.idempotency_key).reference == refund_row(engine, rid).gateway_reference


def test_without_wake_ups_polling_still_delivers(engine, people, alice_case, gateway_server, gateway):  # noqa: F811
    with running_workers(engine, gateway, bus=None, poll_seconds=0.2) as [worker]:
        assert worker.wait_rounds(1, HUNG)
        rid = ask(engine, people.alice, alice_case, {"L3": 1})
        approve(engine, people.sam, rid)
        wait_until(lambda: settled(engine, rid), "the approval found by polling")
    assert refund_row(engine, rid).status == "refunded" and gateway_server.counters() == (1, 1)


def test_stop_waits_for_the_attempt_in_flight(engine, people, alice_case, gateway_server, gateway):  # noqa: F811
    gateway_server.set_faults("latency", latency_ms=800)
    worker = Worker(engine=engine, client=gateway, bus=get_bus(), poll_seconds=0.2, lease_seconds=60)
    worker.start()
    rid = ask(engine, people.alice, alice_case, {"L1": 1})
    approve(engine, people.sam, rid)
    wait_until(lambda: worker.in_flight() == 1, "the attempt in flight")
    assert worker.stop(timeout=HUNG) is True
    [attempt] = attempts_of(engine, rid)
    assert (attempt.status, attempt.claimed_by, refund_row(engine, rid).status) == ("succeeded", None, "refunded")
    assert not any(t.name == "worker-claims" for t in threading.enumerate())


def test_check_with_gateway_now_makes_the_attempt_due_and_wakes_the_workers(
        engine, people, alice_case, gateway_server, gateway):  # noqa: F811
    rid = ask(engine, people.alice, alice_case, {"L2": 1})
    ref = approve(engine, people.sam, rid)
    gateway_server.set_faults("error", status=502)
    assert send_due(engine, gateway) == {ref.attempt_id: "unknown"}
    gateway_server.set_faults("none")
    before = row(engine, ref.attempt_id)
    assert before.next_try_at > utcnow()  # backing off
    for who in (people.alice, people.bob):
        assert code_of(engine, rv.check_with_gateway, who, rid) is E.FORBIDDEN
    assert row(engine, ref.attempt_id).next_try_at == before.next_try_at
    heard: list[str] = []
    stop = get_bus().subscribe(ATTEMPTS, heard.append)
    try:
        assert run(engine, rv.check_with_gateway, people.riley, rid) == 1
        wait_until(lambda: heard == [f"refund:{rid}"], "the wake-up after the commit")
    finally:
        stop()
    assert row(engine, ref.attempt_id).next_try_at <= utcnow()
    assert send_due(engine, gateway) == {ref.attempt_id: "succeeded"}
    assert code_of(engine, rv.check_with_gateway, people.riley, rid) is E.REFUND_ALREADY_PROCESSED
    assert code_of(engine, rv.check_with_gateway, people.riley, 999_999) is E.REFUND_NOT_FOUND
    assert gateway_server.payment(PAY)["refund_count"] == 1


def test_embedded_worker_runs_for_the_apps_lifespan_unless_switched_off(
        engine, people, alice_case, gateway_server, monkeypatch):  # noqa: F811
    import asyncio

    monkeypatch.setenv("SUPPORT_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("SUPPORT_PAYMENT_GATEWAY_URL", gateway_server.url)
    monkeypatch.setenv("SUPPORT_WORKER_POLL_SECONDS", "0.2")
    from support_app.integrations.gateway_client import get_gateway_client

    def claim_loops() -> int:
        return sum(1 for t in threading.enumerate() if t.name == "worker-claims")

    async def lifespan(rid: int | None) -> int:
        async with embedded_worker():
            running = claim_loops()
            if rid is not None:
                approve(engine, people.sam, rid)
                await asyncio.to_thread(wait_until, lambda: settled(engine, rid), "the embedded worker's send")
        return running

    caches = (get_settings, get_engine, get_gateway_client, get_bus)
    try:
        for cache in caches:
            cache.cache_clear()
        rid = ask(engine, people.alice, alice_case, {"L1": 1})
        assert asyncio.run(lifespan(rid)) == 1
        assert claim_loops() == 0 and refund_row(engine, rid).status == "refunded"
        monkeypatch.setenv("SUPPORT_EMBEDDED_WORKER", "false")
        get_settings.cache_clear()
        assert asyncio.run(lifespan(None)) == 0
    finally:
        if get_engine.cache_info().currsize:
            get_engine().dispose()
        if get_gateway_client.cache_info().currsize:
            get_gateway_client().close()
        for cache in caches:
            cache.cache_clear()


# -- worker processes ----------------------------------------------------------------------

LEASE = 8.0  # >= required_lease_seconds(quick_client) = 2 x 1 s + 5 s


def worker_env(db_url: str, gateway_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
    env.update(
        SUPPORT_ENVIRONMENT="test", SUPPORT_JWT_KEYS="w1:worker-test-" + "x" * 40,
        SUPPORT_GATEWAY_WEBHOOK_SECRET="worker-test-" + "w" * 32, SUPPORT_DATABASE_URL=db_url,
        SUPPORT_PAYMENT_GATEWAY_URL=gateway_url, SUPPORT_GATEWAY_TIMEOUT_SECONDS="1",
        SUPPORT_WORKER_LEASE_SECONDS="12", SUPPORT_WORKER_POLL_SECONDS="0.2", SUPPORT_REDIS_URL="",
    )
    env.update(extra)
    return env


@contextmanager
def worker_process(env: dict[str, str]) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen([sys.executable, "-m", "support_app.worker"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=HUNG)
        if proc.stdout:
            proc.stdout.close()


def live_attempts(engine) -> int:
    with session_scope(engine) as s:
        return s.exec(select(func.count()).select_from(RefundAttempt)
                      .where(RefundAttempt.status.in_(("pending", "unknown")))).one()  # type: ignore[attr-defined]


def history_says_refunded_once(engine, rid: int) -> None:
    number = refund_row(engine, rid).number
    with session_scope(engine) as s:
        events = s.exec(select(RefundEvent).where(RefundEvent.refund_case_id == rid, RefundEvent.to_status == "refunded")).all()
        details = s.exec(select(CaseEvent.detail).where(CaseEvent.kind == "refund_update")).all()  # decrypted here
        case_lines = [d for d in details if d and d.startswith(f"Refund {number} refunded")]
    assert len(events) == 1 and len(case_lines) == 1, (events, case_lines)


def killed_mid_call_then_taken_over(engine, db_url: str, people, case_id: int, gateway_server) -> None:  # noqa: F811
    rid = ask(engine, people.alice, case_id, {"L2": 1})
    gateway_server.set_faults("latency", latency_ms=2500)  # the gateway commits 2.5 s after the request arrives
    with worker_process(worker_env(db_url, gateway_server.url)) as proc:  # lease 12 s >= 2 x 3.3 s + 5 s
        ref = approve(engine, people.sam, rid)
        wait_until(lambda: gateway_server.faults()["create_requests"] >= 1 or proc.poll() is not None,
                   "the worker process's gateway call")
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        os.kill(proc.pid, signal.SIGKILL)  # while the call is in flight
        assert proc.wait(timeout=HUNG) == -signal.SIGKILL
    killed_at = utcnow()
    dead = row(engine, ref.attempt_id)
    assert (dead.status, dead.sends, dead.tries) == ("pending", 1, 1)
    assert dead.claimed_by.split(":")[1] == str(proc.pid) and dead.claimed_until > killed_at  # its claim outlives it
    assert refund_row(engine, rid).status == "processing"

    with quick_client(gateway_server) as client, running_workers(engine, client, lease_seconds=LEASE,
                                                                 poll_seconds=0.2) as [second]:
        wait_until(lambda: settled(engine, rid), "the takeover after the lease")
        assert utcnow() >= dead.claimed_until  # not before the dead worker's lease ran out
    after = row(engine, ref.attempt_id)
    assert (after.idempotency_key, after.status, after.sends, after.tries, after.claimed_by) == (
        ref.idempotency_key, "succeeded", 1, 2, None)  # found by its key: not sent again
    assert second.stats.outcomes == {"succeeded": 1}
    with quick_client(gateway_server) as client:
        found = client.find_refund(ref.idempotency_key)
    assert found is not None and found.reference == after.gateway_reference == refund_row(engine, rid).gateway_reference
    payment = gateway_server.payment(PAY)
    assert (payment["refund_count"], payment["refunded"]) == (1, refund_row(engine, rid).amount)
    assert gateway_server.counters()[1] == 1  # one refund committed for that key
    assert refund_row(engine, rid).status == "refunded" and live_attempts(engine) == 0
    history_says_refunded_once(engine, rid)


def test_a_worker_process_killed_mid_call_is_taken_over_with_the_same_key_on_sqlite(
        engine, people, alice_case, gateway_server):  # noqa: F811
    killed_mid_call_then_taken_over(engine, str(engine.url), people, alice_case, gateway_server)


@pytest.mark.postgres
def test_a_worker_process_killed_mid_call_is_taken_over_with_the_same_key_on_postgresql(
        pg_engine, pg_url, monkeypatch, order_client, gateway_server):  # noqa: F811
    who = make_people(pg_engine, monkeypatch)
    killed_mid_call_then_taken_over(pg_engine, pg_url, who, open_case(pg_engine, who.alice, order_client), gateway_server)


APPROVE_THEN_DIE = textwrap.dedent("""
    import os, signal, sys
    from support_app.db import session_scope
    from support_app.services import refund_review
    from support_app.services.auth_service import UserView
    agent = UserView(int(sys.argv[1]), "agent@example.com", "Sam Rivera", "agent")
    with session_scope(write=True) as s:
        ref = refund_review.approve_refund(s, agent, int(sys.argv[2]))
    print(ref.attempt_id, ref.idempotency_key, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # committed; nothing sent
""")


def test_a_process_that_dies_right_after_the_approval_commit_loses_nothing(
        engine, people, alice_case, gateway_server):  # noqa: F811
    rid = ask(engine, people.alice, alice_case, {"L1": 2})
    env = worker_env(str(engine.url), gateway_server.url)
    approver = subprocess.run([sys.executable, "-c", APPROVE_THEN_DIE, str(people.sam.id), str(rid)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=HUNG)
    assert approver.returncode == -signal.SIGKILL, approver.stderr
    attempt_id, key = approver.stdout.split()
    [attempt] = attempts_of(engine, rid)
    assert (attempt.id, attempt.idempotency_key, attempt.status, attempt.sends, attempt.claimed_by) == (
        int(attempt_id), key, "pending", 0, None)
    assert gateway_server.counters() == (0, 0)

    with worker_process(env) as proc:
        wait_until(lambda: settled(engine, rid), "the worker process's send")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=HUNG) == 0
        out = proc.stdout.read() if proc.stdout else ""
    assert "started" in out and "stopped" in out, out
    [attempt] = attempts_of(engine, rid)
    assert (attempt.idempotency_key, attempt.status, attempt.sends, attempt.claimed_by) == (key, "succeeded", 1, None)
    assert gateway_server.counters() == (1, 1) and gateway_server.payment(PAY)["refund_count"] == 1
    history_says_refunded_once(engine, rid)


def test_with_a_60_s_poll_the_wake_up_also_travels_through_redis(
        engine, people, alice_case, gateway_server, gateway, redis_url, monkeypatch):  # noqa: F811
    """The approval publishes on the app's bus (Redis, by settings); the worker listens on
    its own Redis connection, as a worker process on another machine would."""
    url, prefix = redis_url
    monkeypatch.setenv("SUPPORT_REDIS_URL", url)
    monkeypatch.setenv("SUPPORT_REDIS_PREFIX", prefix)
    get_settings.cache_clear()
    get_bus.cache_clear()
    listening = RedisBus(url, prefix=prefix)
    try:
        assert isinstance(get_bus(), RedisBus) and get_bus() is not listening
        with running_workers(engine, gateway, bus=listening, poll_seconds=60) as [worker]:
            assert worker.wait_rounds(1, HUNG)
            rid = ask(engine, people.alice, alice_case, {"L3": 1})
            approve(engine, people.sam, rid)
            wait_until(lambda: settled(engine, rid), "the approval sent after the Redis wake-up", timeout=30)
        assert refund_row(engine, rid).status == "refunded" and gateway_server.counters() == (1, 1)
    finally:
        listening.close()
        get_bus().close()
        get_bus.cache_clear()
        get_settings.cache_clear()


def test_the_worker_process_refuses_a_lease_too_short(engine, gateway_server):  # noqa: F811
    env = worker_env(str(engine.url), gateway_server.url, SUPPORT_WORKER_LEASE_SECONDS="5")
    done = subprocess.run([sys.executable, "-m", "support_app.worker"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=HUNG)
    assert done.returncode == EXIT_CONFIG  # a configuration error: a supervisor should not restart-loop on it
    assert "SUPPORT_WORKER_LEASE_SECONDS=5 is too short" in done.stderr and "at least 11.6" in done.stderr


def test_idle_worker_rounds_take_no_write_lock(engine, people, alice_case, gateway_server, gateway, monkeypatch):  # noqa: F811
    """Nothing due: each round is one read, so an idle worker never waits for (or takes)
    SQLite's one write lock; once something is due, it claims (a write)."""
    from support_app.worker import runner as runner_module

    writes_taken: list[bool] = []
    real_scope = runner_module.session_scope

    def counting_scope(engine_=None, *, write=False):
        writes_taken.append(write)
        return real_scope(engine_, write=write)

    monkeypatch.setattr(runner_module, "session_scope", counting_scope)
    with running_workers(engine, gateway, bus=None, poll_seconds=0.05) as [worker]:
        assert worker.wait_rounds(5, HUNG)
        assert writes_taken and not any(writes_taken)  # five idle rounds, all reads
        rid = ask(engine, people.alice, alice_case, {"L2": 1})
        approve(engine, people.sam, rid)
        wait_until(lambda: settled(engine, rid), "the approval found by an idle worker's round")
    assert any(writes_taken)
