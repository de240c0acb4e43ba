"""Benchmark: refund approvals end to end (approve_refund, then a Worker sends them).

A temporary SQLite file migrated with Alembic, the sandbox process
(``python -m support_app.sandbox`` on a free port, its own temporary database) for the
order system and the gateway over loopback HTTP, a bench order loaded through its admin
endpoint, N one-unit refund requests on it, then every one approved by a small thread
pool while one Worker (support_app.worker, as embedded in the app) claims and sends
them on its own pool, woken by each approval's commit. Prints throughput,
approve→refunded latency percentiles, what the worker did and the money check (the
gateway must show exactly N refunds).

    .venv/bin/python bench/approvals.py [--n 200] [--workers 4] [--pool 8] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = tempfile.TemporaryDirectory(prefix="bench-approvals-")
DB_URL = f"sqlite:///{Path(TMP.name) / 'bench.db'}"
# Before anything reads the settings: no secrets or databases of a developer's are touched.
os.environ.update(SUPPORT_ENVIRONMENT="test", SUPPORT_DATABASE_URL=DB_URL, SUPPORT_REDIS_URL="",
                  SUPPORT_JWT_KEYS="b1:bench-secret-" + "x" * 40, SUPPORT_GATEWAY_WEBHOOK_SECRET="bench-" + "w" * 32)

import httpx  # noqa: E402
from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from sqlmodel import func, select  # noqa: E402

from support_app.db import make_engine, session_scope  # noqa: E402
from support_app.integrations.gateway_client import GatewayClient  # noqa: E402
from support_app.integrations.order_client import OrderClient  # noqa: E402
from support_app.integrations.order_data import OrderData, OrderLineData  # noqa: E402
from support_app.kv import MemoryKV  # noqa: E402
from support_app.models import RefundAttempt, RefundCase  # noqa: E402
from support_app.services import auth_service  # noqa: E402
from support_app.services import case_commands, refund_commands, refund_review  # noqa: E402
from support_app.live.bus import get_bus  # noqa: E402
from support_app.worker.runner import Worker  # noqa: E402

ORDER, PAYMENT, UNIT = "ORD-1001-9", "PAY-1001-9", 1000


@contextmanager
def sandbox_process() -> Iterator[str]:
    """``python -m support_app.sandbox`` on a free port with a temporary database; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(Path(TMP.name) / "sandbox.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "support_app.sandbox", "--port", str(port),
                             "--db", str(Path(TMP.name) / "sandbox.db")],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox did not start: {(Path(TMP.name) / 'sandbox.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def bench_order(now: datetime, n: int) -> OrderData:
    """Alice's order of n identical units, delivered yesterday: n one-unit refunds fit."""
    line = OrderLineData("L1", "BENCH-CUP", "Bench cup", n, UNIT, 0, 0)
    return OrderData(ORDER, "C-1001", now - timedelta(days=2), now - timedelta(days=1), "delivered", "EUR",
                     (line,), 0, 0, n * UNIT, PAYMENT)


def percentile(sorted_values: list[float], p: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="refunds to approve (default 200)")
    parser.add_argument("--workers", type=int, default=4, help="approval threads (default 4)")
    parser.add_argument("--pool", type=int, default=8, help="the worker's gateway threads (default 8)")
    parser.add_argument("--latency-ms", type=int, default=20, help="gateway latency per create (default 20)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.workers < 1 or args.pool < 1 or not 0 <= args.latency_ms <= 60_000:
        parser.error("--n, --workers and --pool must be >= 1, --latency-ms 0..60000")

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["url"] = DB_URL
    command.upgrade(cfg, "head")
    engine = make_engine(DB_URL)

    now = datetime.now(timezone.utc).replace(microsecond=0)
    with sandbox_process() as base, httpx.Client(timeout=10) as http:
        http.post(f"{base}/orders/_admin/orders", json=[bench_order(now, args.n).to_json()]).raise_for_status()
        gateway_url = f"{base}/gateway"
        orders = OrderClient(base_url=f"{base}/orders", timeout_seconds=5, kv=MemoryKV())
        gateway = GatewayClient(gateway_url, timeout_seconds=5, retries=2, backoff_seconds=0.01)
        try:
            with session_scope(engine, write=True) as s:
                alice = auth_service.create_user(s, "alice@example.com", "Alice Martin", "customer", "bench-pass-2026", "C-1001")
            with session_scope(engine, write=True) as s:
                sam = auth_service.create_user(s, "agent@example.com", "Sam Rivera", "agent", "bench-pass-2026")
            with session_scope(engine, write=True) as s:
                case_id = case_commands.create_case(s, alice, ORDER, "Bench", "Approvals benchmark order.", "other",
                                                    client=orders)
            t0 = time.perf_counter()
            refund_ids = []
            for i in range(args.n):
                with session_scope(engine, write=True) as s:
                    refund_ids.append(refund_commands.request_refund(s, alice, case_id, {"L1": 1}, "damaged",
                                                                     request_key=f"bench-req-{i:06d}", client=orders))
            setup_s = time.perf_counter() - t0
            faults = {"mode": "latency", "latency_ms": args.latency_ms} if args.latency_ms else {"mode": "none"}
            http.post(f"{gateway_url}/_faults", json=faults).raise_for_status()

            worker = Worker(engine=engine, client=gateway, bus=get_bus(), pool_size=args.pool)
            worker.start()
            started: dict[int, datetime] = {}

            def approve(refund_id: int) -> None:
                started[refund_id] = datetime.now(timezone.utc)
                with session_scope(engine, write=True) as s:
                    refund_review.approve_refund(s, sam, refund_id)

            def open_refunds() -> int:
                with session_scope(engine) as s:
                    return s.exec(select(func.count()).select_from(RefundCase)
                                  .where(RefundCase.status.in_(("requested", "processing")))).one()  # type: ignore[attr-defined]

            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                list(pool.map(approve, refund_ids))
            approve_s = time.perf_counter() - t0
            deadline = time.monotonic() + 120 + args.n * args.latency_ms / 1000
            while open_refunds() and time.monotonic() < deadline:
                time.sleep(0.01)
            wall = time.perf_counter() - t0
            worker.stop()
            with session_scope(engine) as s:
                finished = dict(s.exec(select(RefundCase.id, RefundCase.updated_at)
                                       .where(RefundCase.status != "processing")).all())
            latencies = sorted((finished[rid] - started[rid]).total_seconds() * 1000 for rid in refund_ids if rid in finished)

            payment = http.get(f"{gateway_url}/payments/{PAYMENT}").raise_for_status().json()
            create_requests = http.get(f"{gateway_url}/_faults").json()["create_requests"]
        finally:
            gateway.close()
            orders.close()

    with session_scope(engine) as s:
        refunded = s.exec(select(func.count()).select_from(RefundCase).where(RefundCase.status == "refunded")).one()
        attempts = s.exec(select(func.count()).select_from(RefundAttempt)).one()
    engine.dispose()

    latencies = latencies or [float("nan")]
    ok = payment["refund_count"] == args.n and payment["refunded"] == args.n * UNIT and refunded == attempts == args.n
    print(f"approvals benchmark: n={args.n} approval threads={args.workers} worker pool={args.pool} "
          f"gateway latency={args.latency_ms} ms (SQLite, loopback HTTP)")
    print(f"  setup: {args.n} refund requests in {setup_s:.2f} s")
    print(f"  approvals committed in {approve_s:.2f} s; all settled after {wall:.2f} s wall, {args.n / wall:.1f} refunds/s")
    print(f"  approve→refunded latency ms: p50 {percentile(latencies, 50):.1f}  p95 {percentile(latencies, 95):.1f}  "
          f"max {latencies[-1]:.1f}")
    print(f"  worker: {worker.stats.claimed} claimed in {worker.stats.rounds} rounds, outcomes {worker.stats.outcomes}; "
          f"gateway create requests: {create_requests}")
    print(f"  check: gateway refunds {payment['refund_count']} (refunded {payment['refunded']}) == n {args.n}; "
          f"db refunded {refunded}, attempts {attempts} -> {'OK' if ok else 'MISMATCH'}")
    TMP.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
