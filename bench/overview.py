"""Benchmark: the support-case and refund-case overviews on the large dataset.

Needs the file ``python -m support_app.devdata.large`` makes (default data/large.db).
For an agent caller, times the service calls exactly as a page load makes them
(one read transaction, parse excluded) — first pages, every filter and sort, and a
deep page reached by walking the ``next`` cursor page by page (once), then fetched
again and again — and, for comparison, the same first / deep page as hand-written
raw SQL through ``sqlite3`` (keyset, and OFFSET for the deep page). Prints p50 / p95
over ``--runs`` runs after ``--warmup`` runs, and the service / raw ratio.

    .venv/bin/python bench/overview.py [--path data/large.db] [--runs 200] [--deep-page 5000]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Caller:
    id: int
    role: str


@dataclass
class Result:
    name: str
    p50: float  # ms
    p95: float
    rows: int
    note: str = ""


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def measure(fn: Callable[[], Any], runs: int, warmup: int) -> tuple[float, float, Any]:
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000)
    return percentile(times, 50), percentile(times, 95), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--path", type=Path, default=ROOT / "data" / "large.db")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--deep-page", type=int, default=5000, help="page number the deep-page measurement walks to")
    ap.add_argument("--size", type=int, default=25, help="page size (one of 10, 25, 50, 100)")
    ap.add_argument("--agent-id", type=int, default=1, help="the agent the 'assignee=me' filter means")
    args = ap.parse_args()

    path = args.path.resolve()
    if not path.exists():
        print(f"{path} does not exist: run `python -m support_app.devdata.large` (make seed-large) first", file=sys.stderr)
        return 2
    url = f"sqlite:///{path}"
    os.environ["SUPPORT_DATABASE_URL"] = url  # before anything reads the settings

    try:
        from support_app.domain.overview_rules import parse_overview_query
        from support_app.services.overview_queries import refund_case_overview, support_case_overview
    except ImportError as err:
        print(
            "The overview services are not there yet: this benchmark needs\n"
            "  support_app.services.overview_queries.support_case_overview(session, caller, query)\n"
            "  support_app.services.overview_queries.refund_case_overview(session, caller, query)\n"
            "  support_app.domain.overview_rules.parse_overview_query(params, kind) -> OverviewQuery\n"
            f"({err})",
            file=sys.stderr,
        )
        return 3
    from support_app.db import make_engine, session_scope
    from support_app.security.crypto import get_keyring

    engine = make_engine(url)
    agent = Caller(args.agent_id, "agent")
    raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    # Real values from the data, so every filter finds something.
    q1 = lambda sql, *p: raw.execute(sql, p).fetchone()  # noqa: E731
    n_cases = q1("SELECT max(id) FROM support_cases")[0]
    n_refunds = q1("SELECT max(id) FROM refund_cases")[0] or 0
    busy_customer, busy_count = q1(
        "SELECT customer_id, count(*) n FROM support_cases GROUP BY customer_id ORDER BY n DESC LIMIT 1")
    busy_email, busy_name = q1("SELECT email, full_name FROM users WHERE id = ?", busy_customer)
    if busy_email.startswith("enc1:"):  # customer data is encrypted at rest: the bench holds the keys
        busy_email, busy_name = get_keyring().decrypt(busy_email, "users.email"), get_keyring().decrypt(busy_name, "users.full_name")
    mid_case = max(1, n_cases // 2)
    order_id = q1("SELECT o.order_id FROM support_cases c JOIN order_snapshots o ON o.id = c.order_snapshot_id WHERE c.id = ?", mid_case)[0]
    refund_mid = q1("SELECT r.number, o.order_id, u.email, c.number FROM refund_cases r JOIN order_snapshots o ON o.id = r.order_snapshot_id "
                    "JOIN users u ON u.id = r.customer_id JOIN support_cases c ON c.id = r.support_case_id WHERE r.id >= ? ORDER BY r.id LIMIT 1",
                    max(1, n_refunds // 2))
    if refund_mid[2].startswith("enc1:"):
        refund_mid = (refund_mid[0], refund_mid[1], get_keyring().decrypt(refund_mid[2], "users.email"), refund_mid[3])
    last_day = q1("SELECT substr(max(created_at), 1, 10) FROM support_cases")[0]
    from datetime import date, timedelta

    end = date.fromisoformat(last_day) - timedelta(days=180)
    month = {"date_from": (end - timedelta(days=30)).isoformat(), "date_to": end.isoformat()}
    week = {"date_from": (end - timedelta(days=6)).isoformat(), "date_to": end.isoformat()}
    name_prefix = busy_name.split()[0]  # a first name: hundreds of customers share it
    rare_name = f"{busy_name.split()[0]} {busy_name.split()[-1]}"  # first and last name: a handful of customers
    size = {"size": str(args.size)}
    print(f"{path} — {n_cases:,} support cases, {n_refunds:,} refund cases; agent caller id {agent.id}; page size {args.size}; "
          f"{args.runs} runs after {args.warmup} warm-up")
    print(f"busiest customer {busy_email} ({busy_count} cases); order {order_id}; refund {refund_mid[0]}; "
          f"date range {month['date_from']}..{month['date_to']}\n")

    def service(fn: Callable, kind: str, params: dict[str, str]) -> Callable[[], Any]:
        query = parse_overview_query({**size, **params}, kind)
        if query.problems:
            raise SystemExit(f"{kind} {params}: {query.problems}")

        def call():
            with session_scope(engine) as session:
                return fn(session, agent, query)

        return call

    results: list[Result] = []

    def run(name: str, fn: Callable, kind: str, params: dict[str, str]) -> Any:
        p50, p95, page = measure(service(fn, kind, params), args.runs, args.warmup)
        results.append(Result(f"{kind}: {name}", p50, p95, len(page.rows), page.count_text))
        print(f"  {name:58} p50 {p50:8.2f} ms   p95 {p95:8.2f} ms   rows {len(page.rows):3}  total {page.count_text}", flush=True)
        return page

    def walk(fn: Callable, kind: str, params: dict[str, str], pages: int) -> tuple[str, int]:
        """Follow next_cursor from page 1 to page ``pages``; the cursor of that page."""
        cursor, started = "", time.perf_counter()
        for n in range(1, pages):
            page = service(fn, kind, {**params, **({"cursor": cursor} if cursor else {})})()
            if not page.next_cursor:
                print(f"  (only {n} pages)")
                return cursor, n
            cursor = page.next_cursor
        took = time.perf_counter() - started
        print(f"  walked to page {pages:,} in {took:.1f}s ({took / max(1, pages - 1) * 1000:.2f} ms a page)", flush=True)
        return cursor, pages

    S, R = support_case_overview, refund_case_overview
    print("Support case overview (agent)")
    run("first page (created desc)", S, "support", {})
    run("sort created asc", S, "support", {"direction": "asc"})
    run("sort updated desc", S, "support", {"sort": "updated"})
    run("status open", S, "support", {"status": "open"})
    run("status open,in_progress,waiting_on_customer", S, "support", {"status": "open,in_progress,waiting_on_customer"})
    run("status resolved,closed", S, "support", {"status": "resolved,closed"})
    run("status in_progress,waiting + sort updated", S, "support", {"status": "in_progress,waiting_on_customer", "sort": "updated"})
    run("date range (31 days)", S, "support", month)
    run("date range (7 days) + status closed", S, "support", {**week, "status": "closed"})
    run("date range (31 days) + sort updated", S, "support", {**month, "sort": "updated"})
    run(f"customer = email ({busy_count} cases)", S, "support", {"customer": busy_email})
    run(f"customer = name word '{name_prefix}'", S, "support", {"customer": name_prefix})
    run(f"customer = name prefix '{name_prefix[:3]}'", S, "support", {"customer": name_prefix[:3]})
    run(f"customer = name words '{rare_name}'", S, "support", {"customer": rare_name})
    run("customer = name prefix 'And' (thousands of customers)", S, "support", {"customer": "And"})
    run("customer = initial 'U' (1/26 of all customers)", S, "support", {"customer": "U"})
    run(f"customer = name word '{name_prefix}' + status open", S, "support", {"customer": name_prefix, "status": "open"})
    run(f"customer = name word '{name_prefix}' + sort updated asc", S, "support",
        {"customer": name_prefix, "sort": "updated", "direction": "asc"})
    run("search subject word 'kettle'", S, "support", {"q": "kettle"})
    run("search subject words 'kettle scratched'", S, "support", {"q": "kettle scratched"})
    run("search subject word 'kettle' + status waiting_on_customer", S, "support", {"q": "kettle", "status": "waiting_on_customer"})
    run("search subject word 'kettle' + date range (7 days)", S, "support", {"q": "kettle", **week})
    run("search subject word 'arrived' (common)", S, "support", {"q": "arrived"})
    run("order id", S, "support", {"order_id": order_id})
    run("assignee me", S, "support", {"assignee": "me"})
    run("assignee me + status in_progress + sort updated", S, "support", {"assignee": "me", "status": "in_progress", "sort": "updated"})
    run("assignee none", S, "support", {"assignee": "none"})
    run("search case number", S, "support", {"q": f"SC-{mid_case:06d}"})
    run("search email", S, "support", {"q": busy_email})
    run("search order id", S, "support", {"q": order_id})
    s_cursor, s_pages = walk(S, "support", {}, args.deep_page)
    deep_support = run(f"deep page {s_pages:,} (created desc)", S, "support", {"cursor": s_cursor})

    print("\nRefund case overview (agent)")
    run("first page (requested desc)", R, "refund", {})
    run("sort updated desc", R, "refund", {"sort": "updated"})
    run("sort amount desc", R, "refund", {"sort": "amount"})
    run("sort amount asc", R, "refund", {"sort": "amount", "direction": "asc"})
    run("status requested", R, "refund", {"status": "requested"})
    run("status requested,approved,processing,failed", R, "refund", {"status": "requested,approved,processing,failed"})
    run("status refunded,settled", R, "refund", {"status": "refunded,settled"})
    run("status failed + sort amount", R, "refund", {"status": "failed", "sort": "amount"})
    run("date range (31 days)", R, "refund", month)
    run("date range (31 days) + sort amount", R, "refund", {**month, "sort": "amount"})
    run("reason damaged", R, "refund", {"reason": "damaged"})
    run("amount 100.00..150.00", R, "refund", {"amount_min": "100", "amount_max": "150"})
    run("customer = email", R, "refund", {"customer": busy_email})
    run(f"customer = name word '{name_prefix}'", R, "refund", {"customer": name_prefix})
    run(f"customer = name words '{rare_name}'", R, "refund", {"customer": rare_name})
    run("search subject word 'kettle'", R, "refund", {"q": "kettle"})
    run("search subject word 'kettle' + sort amount", R, "refund", {"q": "kettle", "sort": "amount"})
    run("order id", R, "refund", {"order_id": refund_mid[1]})
    run("search refund number", R, "refund", {"q": refund_mid[0]})
    run("search case number", R, "refund", {"q": refund_mid[3]})
    run("search email", R, "refund", {"q": refund_mid[2]})
    r_cursor, r_pages = walk(R, "refund", {}, args.deep_page)
    deep_refund = run(f"deep page {r_pages:,} (requested desc)", R, "refund", {"cursor": r_cursor})

    # ---- raw SQL: the same pages, hand-written, through sqlite3 (no ORM, no count)
    from support_app.domain.overview_rules import decode_cursor

    def when(cursor: str, sort: str = "created") -> tuple[str, int]:
        c = decode_cursor(cursor, sort)
        assert c is not None
        return c.value.strftime("%Y-%m-%d %H:%M:%S.%f"), c.id

    support_sql = (
        "SELECT c.id, c.number, c.status, c.subject, c.category, c.priority, c.created_at, c.updated_at, o.order_id, "
        "cu.full_name, cu.email, a.full_name FROM support_cases c JOIN order_snapshots o ON o.id = c.order_snapshot_id "
        "JOIN users cu ON cu.id = c.customer_id LEFT JOIN users a ON a.id = c.assignee_id {where} "
        "ORDER BY c.created_at DESC, c.id DESC LIMIT {limit}"
    )
    refund_sql = (
        "SELECT r.id, r.number, r.status, r.reason, r.amount, r.currency, r.requested_at, r.updated_at, r.support_case_id, "
        "c.number, o.order_id, cu.full_name, cu.email, a.full_name FROM refund_cases r "
        "JOIN support_cases c ON c.id = r.support_case_id JOIN order_snapshots o ON o.id = r.order_snapshot_id "
        "JOIN users cu ON cu.id = r.customer_id LEFT JOIN users a ON a.id = c.assignee_id {where} "
        "ORDER BY r.requested_at DESC, r.id DESC LIMIT {limit}"
    )
    keyset_s = "WHERE c.created_at <= ? AND (c.created_at < ? OR c.id < ?)"
    keyset_r = "WHERE r.requested_at <= ? AND (r.requested_at < ? OR r.id < ?)"
    n = args.size
    sv, sid = when(s_cursor)
    rv, rid = when(r_cursor)
    raw_cases = [
        ("support first page", "support first page", support_sql.format(where="", limit=n), ()),
        (f"support deep page {s_pages:,}", f"support deep page {s_pages:,} (keyset)", support_sql.format(where=keyset_s, limit=n), (sv, sv, sid)),
        (None, f"support deep page {s_pages:,} (OFFSET)", support_sql.format(where="", limit=f"{n} OFFSET {(s_pages - 1) * n}"), ()),
        ("refund first page", "refund first page", refund_sql.format(where="", limit=n), ()),
        (f"refund deep page {r_pages:,}", f"refund deep page {r_pages:,} (keyset)", refund_sql.format(where=keyset_r, limit=n), (rv, rv, rid)),
        (None, f"refund deep page {r_pages:,} (OFFSET)", refund_sql.format(where="", limit=f"{n} OFFSET {(r_pages - 1) * n}"), ()),
    ]
    by_name = {r.name: r.p50 for r in results}
    service_ms = {
        "support first page": by_name["support: first page (created desc)"],
        f"support deep page {s_pages:,}": by_name[f"support: deep page {s_pages:,} (created desc)"],
        "refund first page": by_name["refund: first page (requested desc)"],
        f"refund deep page {r_pages:,}": by_name[f"refund: deep page {r_pages:,} (requested desc)"],
    }
    print("\nRaw SQL through sqlite3 (same rows, no count query), compared with the service p50")
    expected = {
        f"support deep page {s_pages:,}": [r.id for r in deep_support.rows],
        f"refund deep page {r_pages:,}": [r.id for r in deep_refund.rows],
    }
    for key, name, sql, params in raw_cases:
        runs = args.runs if "OFFSET" not in name else max(10, args.runs // 10)
        p50, p95, rows = measure(lambda sql=sql, params=params: raw.execute(sql, params).fetchall(), runs, min(args.warmup, 3))
        if key in expected and [r[0] for r in rows] != expected[key]:
            print(f"  !! {name}: raw rows differ from the service's page")
        ratio = f"service / raw = {service_ms[key] / p50:5.1f}x" if key else f"(over {runs} runs)"
        print(f"  {name:58} p50 {p50:8.2f} ms   p95 {p95:8.2f} ms   rows {len(rows):3}  {ratio}", flush=True)

    slowest = max(results, key=lambda r: r.p95)
    print(f"\nslowest service call: {slowest.name} — p95 {slowest.p95:.2f} ms")
    engine.dispose()
    raw.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
