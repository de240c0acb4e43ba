"""Benchmark: refund approvals through the cluster, ONE vs TWO app processes behind nginx.

Per configuration, a fresh stack (tests/cluster/cluster_stack.py): a new PostgreSQL
database, Redis, the sandbox (gateway latency fault, 20 ms by default), N app processes
(``cli serve``, two Reflex workers each), one worker process and Debian's nginx from
deploy/nginx.conf.template. The frontend is built once and reused (same nginx port).

Data: one customer order of --refunds units and that many one-unit refund requests,
made through the services straight into the fresh database. Load: one agent signs in
through the sign-in page (Chromium), then --sessions browser-less agent tabs speaking
Reflex's websocket protocol (bench/load_wire.py) share the refunds: each tab opens a
refund's page (client-side navigation: its on_load handlers) and approves it (the
approve event, answered when its barrier comes back), then the next. A worker sends the
attempts to the gateway. "refunded" is the refund event's time in the database.

    .venv/bin/python bench/cluster.py [--refunds 300] [--sessions 24] [--latency-ms 20] [--apps 1,2]

Figures only: two cores run the apps, the worker, PostgreSQL, Redis, nginx and this
client together, so the numbers say how the topology behaves here, not what it can do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "cluster")]
# This process only makes the data (through the services) and reads the results.
os.environ.update(SUPPORT_ENVIRONMENT="test", SUPPORT_REDIS_URL="", SUPPORT_JWT_KEYS="b1:bench-secret-" + "x" * 40)

import httpx  # noqa: E402
from sqlmodel import func, select  # noqa: E402

from bench.load_wire import Outcome  # noqa: E402
from cluster_data import make_customer, payment_of  # noqa: E402
from cluster_sessions import REFUND_STATE, cookie_jar, full, open_tabs, protocol, ui_sign_in  # noqa: E402
from cluster_stack import Stack  # noqa: E402
from fixtures_browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from support_app.db import make_engine, session_scope  # noqa: E402
from support_app.models import RefundAttempt, RefundCase, RefundEvent  # noqa: E402

ORDER = "ORD-CLUSTER-BENCH"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def agent_cookies(base_url: str) -> dict[str, str]:
    """One agent sign-in through the sign-in page; the browser's cookies after it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=base_url)
            ui_sign_in(context, "agent@example.com")
            return cookie_jar(context)
        finally:
            browser.close()


async def approve_all(stack: Stack, jar: dict[str, str], refund_ids: list[int], sessions: int):
    """Tabs take refunds from one queue: open the refund's page, approve it. Returns
    {refund: (approve sent, approve answered)} in UTC, and errors."""
    proto = protocol(stack.web)
    approve = f"{full(proto, REFUND_STATE)}.approve"
    tabs = await open_tabs(proto, stack.nginx_port, jar, ["/refunds"] * sessions, timeout=60)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for rid in refund_ids:
        queue.put_nowait(rid)
    times: dict[int, tuple[datetime, datetime]] = {}
    errors: list[str] = []

    async def drain(tab) -> None:
        while not queue.empty():
            rid = queue.get_nowait()
            await tab.navigate(f"/refunds/{rid}")
            shown = tab.var(full(proto, REFUND_STATE), "refund") or {}
            if shown.get("id") != rid:
                errors.append(f"refund {rid} not shown")
                continue
            tab.outcome = Outcome()
            sent = datetime.now(timezone.utc)
            await tab.call((approve, {}))
            times[rid] = (sent, datetime.now(timezone.utc))
            errors.extend(tab.outcome.errors)
            tab.outcome = None

    try:
        await asyncio.gather(*(drain(tab) for tab in tabs))
    finally:
        await asyncio.gather(*(tab.close() for tab in tabs), return_exceptions=True)
    return times, errors


def run_config(apps: int, args, tmp: Path, nginx_port: int | None, build: bool) -> tuple[dict, int]:
    with Stack(tmp / f"apps{apps}", apps=apps, build=build, nginx_port=nginx_port) as stack:
        engine = make_engine(stack.db_url)
        t0 = time.perf_counter()
        customer = make_customer(stack.sandbox, engine, {ORDER: args.refunds})
        refund_ids = customer.requested_refunds(engine, ORDER, args.refunds)
        setup_s = time.perf_counter() - t0
        httpx.post(f"{stack.sandbox}/gateway/_faults", json={"mode": "latency", "latency_ms": args.latency_ms},
                   timeout=10).raise_for_status()
        jar = agent_cookies(stack.url)

        start = time.perf_counter()
        times, errors = asyncio.run(approve_all(stack, jar, refund_ids, args.sessions))
        approve_wall = time.perf_counter() - start

        def open_count() -> int:
            with session_scope(engine) as s:
                return s.exec(select(func.count()).select_from(RefundCase).where(
                    RefundCase.status.in_(("requested", "processing")))).one()  # type: ignore[attr-defined]

        deadline = time.monotonic() + 120
        while open_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        with session_scope(engine) as s:
            done = dict(s.exec(select(RefundEvent.refund_case_id, RefundEvent.created_at).where(
                RefundEvent.to_status == "refunded")).all())
            attempts = s.exec(select(func.count()).select_from(RefundAttempt)).one()
        money = httpx.get(f"{stack.sandbox}/gateway/payments/{payment_of(ORDER)}", timeout=10).json()
        engine.dispose()
        first_sent = min(sent for sent, _ in times.values())
        last_refunded = max(done.values()) if done else first_sent
        row = {
            "apps": apps,
            "workers": apps * 2,
            "setup_s": setup_s,
            "approved": len(times),
            "errors": len(errors),
            "approve_wall_s": approve_wall,
            "approvals_per_s": len(times) / approve_wall,
            "refunded": len(done),
            "refunded_per_s": len(done) / max(1e-9, (last_refunded - first_sent).total_seconds()),
            "ack": [(answered - sent).total_seconds() * 1000 for sent, answered in times.values()],
            "to_refunded": [(done[rid] - sent).total_seconds() * 1000 for rid, (sent, _) in times.items() if rid in done],
            "attempts": attempts,
            "ok": money["refund_count"] == len(refund_ids) == len(done) == attempts and not errors,
            "money": money,
            "build_s": stack.timings.get("build"),
            "start_s": stack.timings["start"],
        }
        return row, stack.nginx_port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refunds", type=int, default=300, help="refunds to approve per configuration (default 300)")
    parser.add_argument("--sessions", type=int, default=24, help="agent tabs approving at once (default 24)")
    parser.add_argument("--latency-ms", type=int, default=20, help="gateway latency per refund (default 20)")
    parser.add_argument("--apps", default="1,2", help="app processes per configuration, in order (default 1,2)")
    args = parser.parse_args(argv)
    configs = [int(n) for n in args.apps.split(",")]
    if args.refunds < 1 or args.sessions < 1 or not all(1 <= n <= 2 for n in configs):
        parser.error("--refunds and --sessions must be >= 1; --apps lists 1 or 2")

    rows, port = [], None
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        for i, apps in enumerate(configs):
            print(f"... {apps} app process(es): starting the stack", flush=True)
            row, port = run_config(apps, args, Path(tmp), port, build=i == 0)
            rows.append(row)

    print(f"\ncluster approvals: {args.refunds} refunds, {args.sessions} agent tabs (raw websocket), gateway "
          f"latency {args.latency_ms} ms, PostgreSQL, one worker process, nginx round robin; 2 CPU cores shared by all")
    header = ("apps", "Reflex workers", "approvals/s", "approve answer p50/p95 ms", "approve→refunded p50/p95 ms",
              "refunded/s", "check")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print(f"| {r['apps']} | {r['workers']} | {r['approvals_per_s']:.1f} | "
              f"{percentile(r['ack'], 50):.0f} / {percentile(r['ack'], 95):.0f} | "
              f"{percentile(r['to_refunded'], 50):.0f} / {percentile(r['to_refunded'], 95):.0f} | "
              f"{r['refunded_per_s']:.1f} | "
              f"{'OK' if r['ok'] else 'MISMATCH'} ({r['money']['refund_count']} gateway refunds, {r['refunded']} refunded, "
              f"{r['attempts']} attempts, {r['errors']} errors) |")
    for r in rows:
        build = f"build {r['build_s']:.0f} s, " if r["build_s"] else ""
        print(f"  {r['apps']} app(s): {build}stack up in {r['start_s']:.0f} s, {args.refunds} requests made in "
              f"{r['setup_s']:.1f} s, approvals took {r['approve_wall_s']:.1f} s")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
