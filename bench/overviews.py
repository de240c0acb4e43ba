"""Benchmark: the support-case and refund-case overviews at scale (SQLite).

Builds (once, then reuses) a SQLite file migrated with Alembic and filled with N
support cases (default 1,000,000), a refund on every third (~333,000) and N/5
customers, then times the service call — count, keys, rows — for the first page and
for the deepest page of each scenario, in a fresh unit of work per call as the app
makes them. Prints p50/p95 in ms and deepest/first.

    .venv/bin/python bench/overviews.py [--n 1000000] [--db data/bench-overviews.db] [--reps 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("SUPPORT_JWT_SECRET", "bench-secret-" + "x" * 40)

from alembic import command  # noqa: E402

from fixtures_db import alembic_config  # noqa: E402
from fixtures_overview import BASE, Data, Who, add_cases, make_users  # noqa: E402
from support_app.db import make_engine, session_scope  # noqa: E402
from support_app.domain.overview_rules import encode_cursor, parse_overview_query  # noqa: E402
from support_app.services import overview_queries as oq  # noqa: E402

FN = {"support": oq.support_case_overview, "refund": oq.refund_case_overview}
CHUNK = 50_000
SCENARIOS = [
    ("support", "agent", {}), ("support", "agent", {"sort": "updated"}), ("support", "agent", {"direction": "asc"}),
    ("support", "agent", {"status": "waiting_on_customer"}), ("support", "agent", {"status": "open,in_progress"}),
    ("support", "agent", {"assignee": "me", "status": "open,in_progress,waiting_on_customer"}),
    ("support", "agent", {"assignee": "none", "sort": "updated"}), ("support", "agent", {"customer": "cust0001"}),
    ("support", "agent", {"customer": "alice"}), ("support", "agent", {"customer": "cust001"}),
    ("support", "agent", {"customer": "cust0012", "status": "closed"}), ("support", "agent", {"q": "SC-000123"}),
    ("support", "agent", {"q": "cust00042@example.com"}), ("support", "agent", {"date_from": "2026-04-01", "date_to": "2026-04-03"}),
    ("support", "agent", {"date_from": "2026-04-01", "sort": "updated"}),
    ("support", "agent", {"date_from": "2026-04-01", "date_to": "2026-04-03", "sort": "updated"}), ("support", "customer", {}),
    ("refund", "agent", {}), ("refund", "agent", {"sort": "amount"}), ("refund", "agent", {"status": "requested"}),
    ("refund", "agent", {"status": "requested,approved,failed", "sort": "updated"}), ("refund", "agent", {"reason": "damaged"}),
    ("refund", "agent", {"amount_min": "100", "sort": "created"}), ("refund", "agent", {"amount_min": "12", "amount_max": "13"}),
    ("refund", "customer", {"sort": "amount"}),
]


def build(url: str, n: int) -> None:
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    customers, agents = make_users(engine, max(25, n // 5))
    data = Data(customers, agents, [], [], 1, 1)
    for chunk in range(0, n, CHUNK):
        add_cases(engine, data, min(CHUNK, n - chunk), seed=chunk, start=BASE + timedelta(days=chunk // CHUNK * 7), refund_every=3)
        data.case_ids.clear()
        data.refund_ids.clear()
        print(f"  {chunk + CHUNK:,} cases", flush=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def timed(engine, kind, who, params, reps) -> tuple[list[float], object]:
    query, times, page = parse_overview_query(params, kind), [], None
    for _ in range(reps):
        start = time.perf_counter()
        with session_scope(engine) as s:
            page = FN[kind](s, who, query)
        times.append((time.perf_counter() - start) * 1000)
    return times, page


def deepest_cursor(engine, kind, who, params) -> str:
    """A "next" cursor whose page is the last one: the 26th row from the end."""
    flipped = {**params, "direction": "asc" if params.get("direction", "desc") == "desc" else "desc", "size": "25"}
    with session_scope(engine) as s:
        rows = FN[kind](s, who, parse_overview_query(flipped, kind)).rows
    if len(rows) < 25:
        return ""
    row = rows[-1]
    sort = params.get("sort", "created")
    value = {"amount": row.__dict__.get("amount_minor"), "updated": row.updated_at}.get(
        sort, row.__dict__.get("created_at") or row.__dict__.get("requested_at"))
    if isinstance(value, str):
        from datetime import datetime

        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return encode_cursor(value, row.id, "next")


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--db", default=str(ROOT / "data" / "bench-overviews.db"))
    ap.add_argument("--reps", type=int, default=40)
    args = ap.parse_args()
    url = f"sqlite:///{args.db}"
    if not Path(args.db).exists():
        print(f"building {args.db} with {args.n:,} support cases …", flush=True)
        build(url, args.n)
    engine = make_engine(url)
    agent = Who(max(25, args.n // 5) + 1, "agent")
    customer = Who(42, "customer")
    print(f"{'scenario':78} {'count':>8} {'p50':>6} {'p95':>6} {'deep p95':>8} {'ratio':>5}")
    for kind, who_name, params in SCENARIOS:
        who = agent if who_name == "agent" else customer
        timed(engine, kind, who, params, 2)  # warm the statement cache
        first, page = timed(engine, kind, who, params, args.reps)
        cursor = deepest_cursor(engine, kind, who, params)
        deep = timed(engine, kind, who, {**params, "cursor": cursor}, args.reps)[0] if cursor else first
        label = f"{kind} {who_name} {params}"
        print(f"{label[:78]:78} {page.count_text:>8} {statistics.median(first):6.1f} {p95(first):6.1f} "
              f"{p95(deep):8.1f} {p95(deep) / p95(first):5.2f}", flush=True)
    engine.dispose()


if __name__ == "__main__":
    main()
