"""The Worker: claims due refund attempts and sends them on its own bounded pool.

One claim loop thread waits for a wake-up (the bus's "attempts" channel, published
when an approval or retry commits) or the poll interval, claims at most as many due
attempts as it has free slots, and hands each to its own ThreadPoolExecutor, so the
gateway's I/O never competes with page requests for the default thread pool. Every
process that runs one (``python -m support_app.worker``, or each app process with
SUPPORT_EMBEDDED_WORKER) is safe beside the others: the claims keep an attempt with
one worker at a time.

Claims are not renewed: the lease must outlast the longest a worker can take with
one attempt — a gateway lookup and a send, each up to the client's timeout × tries
plus backoff, plus time for the database writes — which ``start`` checks. Stopping
stops claiming and waits (up to a timeout) for the attempts in flight; one still
running then keeps its claim until the lease expires and is taken over.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from support_app.db import SQLITE_BUSY_TIMEOUT_MS, get_engine, session_scope
from support_app.integrations.gateway_client import GatewayClient, get_gateway_client
from support_app.live.bus import Bus, Unsubscribe, get_bus
from support_app.live.channels import ATTEMPTS
from support_app.models.base import utcnow
from support_app.settings import get_settings
from support_app.worker.claims import any_due, claim_due
from support_app.worker.sender import handle

log = logging.getLogger(__name__)

# Database time one attempt may need besides the gateway: a handful of short
# transactions, each of which may wait for SQLite's write lock up to its busy timeout.
DATABASE_MARGIN_SECONDS = SQLITE_BUSY_TIMEOUT_MS / 1000


def new_owner_id() -> str:
    """host:pid:random — unique per Worker, readable in the claimed_by column."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def required_lease_seconds(client: GatewayClient) -> float:
    """Longest one attempt can stay with a worker: lookup + send + database margin."""
    return 2 * client.worst_call_seconds + DATABASE_MARGIN_SECONDS


def check_lease(lease_seconds: float, client: GatewayClient) -> None:
    need = required_lease_seconds(client)
    if lease_seconds < need:
        raise ValueError(
            f"SUPPORT_WORKER_LEASE_SECONDS={lease_seconds:g} is too short: one attempt can keep a worker busy for "
            f"{need:g} s (a gateway lookup and a send, each up to {client.timeout_seconds:g} s x {client.retries + 1} "
            f"tries + backoff = {client.worst_call_seconds:g} s, plus {DATABASE_MARGIN_SECONDS:g} s for the database), "
            f"and a claim that expires mid-call lets a second worker work the same attempt. "
            f"Set it to at least {need:g}, or lower SUPPORT_GATEWAY_TIMEOUT_SECONDS."
        )


@dataclass
class WorkerStats:
    rounds: int = 0  # claim rounds finished
    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # what handle() returned, by kind


class Worker:
    def __init__(
        self,
        *,
        engine: Engine | None = None,
        client: GatewayClient | None = None,
        bus: Bus | None = None,
        pool_size: int = 8,
        lease_seconds: float = 60.0,
        poll_seconds: float = 2.0,
        batch: int = 20,
        owner: str | None = None,
    ) -> None:
        """``bus=None`` means no wake-ups: the worker only polls."""
        if pool_size < 1 or batch < 1 or poll_seconds <= 0:
            raise ValueError("pool_size and batch must be >= 1 and poll_seconds > 0")
        self.engine = engine
        self.client = client
        self.bus = bus
        self.pool_size = pool_size
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.owner = (owner or new_owner_id())[:64]
        self.stats = WorkerStats()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Condition()
        self._in_flight: dict[int, Future] = {}
        self._more = False  # the last round may have left due attempts behind (no free slot)
        self._pool: ThreadPoolExecutor | None = None
        self._loop: threading.Thread | None = None
        self._unsubscribe: Unsubscribe | None = None

    @classmethod
    def from_settings(cls) -> "Worker":
        s = get_settings()
        return cls(client=get_gateway_client(), bus=get_bus(), pool_size=s.worker_pool_size,
                   lease_seconds=s.worker_lease_seconds, poll_seconds=s.worker_poll_seconds, batch=s.worker_batch)

    # -- life cycle -----------------------------------------------------------------

    def start(self) -> None:
        """Check the lease, subscribe to wake-ups and start claiming (at once: attempts
        left by a worker that stopped are due already)."""
        if self._loop is not None:
            raise RuntimeError("worker already started")
        self.engine = self.engine or get_engine()
        self.client = self.client or get_gateway_client()
        check_lease(self.lease_seconds, self.client)
        if self.bus is not None:
            self._unsubscribe = self.bus.subscribe(ATTEMPTS, lambda _message: self.wake())
        self._pool = ThreadPoolExecutor(self.pool_size, thread_name_prefix="worker-send")
        self._wake.set()
        self._loop = threading.Thread(target=self._claim_loop, name="worker-claims", daemon=True)
        self._loop.start()
        log.info("worker %s started: pool %d, lease %g s, poll %g s, batch %d, wake-ups %s", self.owner,
                 self.pool_size, self.lease_seconds, self.poll_seconds, self.batch, "on" if self.bus else "off")

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop claiming and wait up to ``timeout`` s for attempts in flight. True if
        none is left running (the others keep their claim until the lease expires)."""
        if self._loop is None:
            return True
        self._stopping.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._loop.join(timeout)
        with self._lock:
            running = list(self._in_flight.values())
        _, left = wait(running, timeout=timeout)
        assert self._pool is not None
        self._pool.shutdown(wait=False, cancel_futures=True)
        if left:
            log.warning("worker %s stopped with %d attempt(s) in flight; their claims expire after the lease",
                        self.owner, len(left))
        else:
            log.info("worker %s stopped", self.owner)
        return not left

    def wake(self) -> None:
        self._wake.set()

    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def wait_rounds(self, rounds: int, timeout: float) -> bool:
        """Block until at least ``rounds`` claim rounds have finished (for tests and tools)."""
        with self._lock:
            return self._lock.wait_for(lambda: self.stats.rounds >= rounds, timeout)

    # -- the loop -------------------------------------------------------------------

    def _claim_loop(self) -> None:
        while True:
            self._wake.wait(self.poll_seconds)
            self._wake.clear()  # before claiming: a wake-up during the claim runs another round
            if self._stopping.is_set():
                return
            try:
                self._claim_round()
            except Exception:  # noqa: BLE001 — e.g. the database is away: try again next round
                log.exception("worker %s: claim round failed", self.owner)
            with self._lock:
                self.stats.rounds += 1
                self._lock.notify_all()

    def _claim_round(self) -> None:
        with self._lock:
            free = self.pool_size - len(self._in_flight)
            self._more = free <= 0
        if free <= 0:
            return  # the next attempt to finish wakes the loop
        limit = min(free, self.batch)
        with session_scope(self.engine) as session:
            if not any_due(session, utcnow()):
                return
        with session_scope(self.engine, write=True) as session:
            ids = claim_due(session, self.owner, self.lease_seconds, limit, utcnow())
        if not ids:
            return
        assert self._pool is not None
        with self._lock:
            self._more = len(ids) == limit
            self.stats.claimed += len(ids)
            for attempt_id in ids:
                future = self._pool.submit(handle, attempt_id, self.owner, self.client, self.engine)
                self._in_flight[attempt_id] = future
                future.add_done_callback(lambda f, attempt_id=attempt_id: self._finished(attempt_id, f))

    def _finished(self, attempt_id: int, future: Future) -> None:
        outcome = "cancelled" if future.cancelled() else ("error" if future.exception() else future.result())
        with self._lock:
            self._in_flight.pop(attempt_id, None)
            self.stats.outcomes[outcome] = self.stats.outcomes.get(outcome, 0) + 1
            self._lock.notify_all()
            more = self._more
        if more:  # a slot is free and more may be due
            self._wake.set()
