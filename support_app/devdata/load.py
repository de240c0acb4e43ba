"""Writing the generated dataset into a fresh SQLite file, fast.

The file (default ``data/large.db``) is created from scratch: Alembic migrates it to
head, then the rows from generate.py are bulk-inserted with the plain ``sqlite3``
module in large transactions (journal off and no fsync while loading; WAL is restored
at the end). The non-unique secondary indexes the migrations made are dropped before
the load and recreated afterwards with exactly the SQL recorded in ``sqlite_master``
(sorting once is much cheaper than millions of random B-tree inserts); unique indexes
stay, so the constraints are checked during the load. ``ANALYZE`` runs at the end.
Cases are generated in chunks by worker processes while this process inserts.
"""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import time
from collections import deque
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.pool import StaticPool

from support_app.devdata.generate import N_AGENTS, PASSWORD, Generator, init_worker, make_chunk
from support_app.devdata.generate_rows import TABLES, US
from support_app.services.case_due_store import backfill_due

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PATH = ROOT / "data" / "large.db"
CHUNK = 25_000  # cases per transaction


def migrate(path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["url"] = f"sqlite:///{path}"
    command.upgrade(cfg, "head")


def secondary_indexes(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(name, CREATE INDEX sql) of every explicit non-unique index (kept verbatim)."""
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name"
    ).fetchall()
    return [(name, sql) for name, sql in rows if not sql.upper().startswith("CREATE UNIQUE")]


INSERT = {
    "users": "INSERT INTO users (id, email, email_bidx, full_name, role, password_hash, order_customer_id, is_active, "
             "created_at) VALUES (?,?,?,?,?,?,?,1,?)",
    "customer_name_terms": "INSERT INTO customer_name_terms (term_bidx, user_id) VALUES (?,?)",
    "case_subject_terms": "INSERT INTO case_subject_terms (term_bidx, case_id) VALUES (?,?)",
    "order_snapshots": "INSERT INTO order_snapshots (id, order_id, customer_id, currency, placed_at, delivered_at, "
                       "shipping_amount, shipping_tax, amount_paid, payment_reference, fetched_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    "order_lines": "INSERT INTO order_lines (id, snapshot_id, line_id, sku, name, quantity, unit_price, discount_total, tax_total) "
                   "VALUES (?,?,?,?,?,?,?,?,?)",
    "support_cases": "INSERT INTO support_cases (id, number, customer_id, order_snapshot_id, subject, description, category, "
                     "priority, status, assignee_id, version, created_at, updated_at, first_response_at, resolved_at, closed_at) "
                     "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "case_messages": "INSERT INTO case_messages (case_id, author_id, visibility, body, created_at) VALUES (?,?,?,?,?)",
    "case_events": "INSERT INTO case_events (case_id, actor_id, kind, from_status, to_status, detail, internal, created_at) "
                   "VALUES (?,?,?,?,?,?,?,?)",
    "refund_cases": "INSERT INTO refund_cases (id, number, support_case_id, order_snapshot_id, customer_id, status, reason, note, "
                    "amount, shipping_amount, currency, request_key, abandoned, gateway_reference, failure_reason, decided_by, "
                    "decision_code, decision_note, settled_amount, version, requested_at, created_at, updated_at) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "refund_items": "INSERT INTO refund_items (refund_case_id, order_line_id, quantity, unit_amounts, amount) VALUES (?,?,?,?,?)",
    "refund_events": "INSERT INTO refund_events (refund_case_id, actor_id, kind, from_status, to_status, detail, created_at) "
                     "VALUES (?,?,?,?,?,?,?)",
    "refund_attempts": "INSERT INTO refund_attempts (refund_case_id, idempotency_key, status, amount, currency, gateway_reference, "
                       "error_code, error_message, sends, tries, next_try_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
}


def flush(conn: sqlite3.Connection, tables: dict[str, list], counts: dict[str, int]) -> None:
    """Insert ``tables`` in one transaction, count the rows and empty the lists."""
    conn.execute("BEGIN")
    for name, rows in tables.items():
        if rows:
            conn.executemany(INSERT[name], rows)
            counts[name] += len(rows)
            rows.clear()
    conn.execute("COMMIT")


# ------------------------------------------------------------------ load

def _sqlalchemy(conn: sqlite3.Connection) -> Connection:
    """The loader's own connection (it holds the file exclusively) seen through SQLAlchemy."""
    return create_engine("sqlite://", creator=lambda: conn, poolclass=StaticPool).connect()


def load_large(path: Path, customers: int, cases: int, refunds: int, seed: int, keep_indexes: bool = False,
               workers: int = 2) -> dict:
    started = time.monotonic()
    path = path.resolve()
    from support_app.settings import get_settings

    app_db = get_settings().database_url
    if app_db.startswith("sqlite:///") and Path(app_db[len("sqlite:///"):]).resolve() == path:
        raise SystemExit(f"{path} is the app's own database (SUPPORT_DATABASE_URL); choose another --path")
    if refunds > cases:
        raise SystemExit("--refunds cannot exceed --cases (one refund per case)")
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)

    def step(msg: str) -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {msg}", flush=True)

    step(f"migrating {path} (alembic upgrade head)")
    migrate(path)

    from support_app.security.passwords import hash_password

    password_hash = hash_password(PASSWORD)  # one real argon2id hash, reused by every account
    now_us = int(time.time() // 60 * 60) * US
    gen = Generator(customers, cases, refunds, seed, now_us, password_hash)

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-1000000")  # 1 GB page cache while loading
    dropped = [] if keep_indexes else secondary_indexes(conn)
    for name, _sql in dropped:
        conn.execute(f'DROP INDEX "{name}"')
    if dropped:
        step(f"dropped {len(dropped)} non-unique indexes for the load (recreated after)")

    counts: dict[str, int] = dict.fromkeys(TABLES, 0)
    gen.users()
    flush(conn, gen.tables, counts)
    step(f"users: {customers} customers + {N_AGENTS} agents")

    # Cases in chunks: made by `workers` processes (in order, a few ahead), inserted here.
    chunks = [(k, first, min(cases, first + CHUNK - 1)) for k, first in enumerate(range(1, cases + 1, CHUNK))]
    report_every = max(1, len(chunks) // 10)
    init = (customers, cases, refunds, seed, now_us, password_hash)
    pool = mp.get_context("fork").Pool(workers, init_worker, init) if workers > 0 else None
    if pool is None:
        init_worker(*init)
    pending: deque = deque()
    todo = iter(chunks)
    try:
        for done in range(1, len(chunks) + 1):
            while len(pending) < (2 * workers if pool else 1):
                spec = next(todo, None)
                if spec is None:
                    break
                pending.append(pool.apply_async(make_chunk, spec) if pool else spec)
            item = pending.popleft()
            tables, by_status, by_refund_status = item.get() if pool else make_chunk(*item)
            flush(conn, tables, counts)
            for total, part in ((gen.status_counts, by_status), (gen.refund_status_counts, by_refund_status)):
                for key, value in part.items():
                    total[key] = total.get(key, 0) + value
            if done % report_every == 0 or done == len(chunks):
                c = counts
                step(f"cases {c['support_cases']:,}/{cases:,}  refunds {c['refund_cases']:,}  "
                     f"messages {c['case_messages']:,}  events {c['case_events']:,}")
    except BaseException:
        if pool is not None:
            pool.terminate()  # the chunks still being made are not wanted
        raise
    finally:
        if pool is not None:
            # After the last chunk the workers are told to finish and exit on their own: a
            # worker stopped by SIGTERM mid-way loses what it would write on the way out
            # (coverage's data file, half-written, could not be combined).
            pool.close()
            pool.join()
    step(f"loaded {sum(counts.values()):,} rows")

    slow = []
    for name, sql in dropped:
        t = time.monotonic()
        conn.execute(sql)
        slow.append((time.monotonic() - t, name))
    if dropped:
        top = ", ".join(f"{n} {t:.1f}s" for t, n in sorted(slow, reverse=True)[:5])
        step(f"recreated {len(dropped)} indexes (slowest: {top})")
    raw_rows = _sqlalchemy(conn)  # connected first: SQLAlchemy rolls back once on a new connection
    conn.execute("BEGIN")
    due = backfill_due(raw_rows)  # the rows above were written raw: the app's writes keep due_at themselves
    conn.execute("COMMIT")
    step(f"due times stored: {due:,} cases due")
    conn.execute("PRAGMA optimize")
    conn.execute("ANALYZE")
    step("analyzed")
    conn.execute("PRAGMA locking_mode=NORMAL")
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    conn.close()
    elapsed = time.monotonic() - started
    size = path.stat().st_size
    print()
    for name, count in counts.items():
        print(f"  {name:18} {count:>12,}")
    print(f"  case statuses      {dict(sorted(gen.status_counts.items()))}")
    print(f"  refund statuses    {dict(sorted(gen.refund_status_counts.items()))}")
    print(f"\n{path}: {size / 2**20:,.0f} MiB, journal_mode={mode}, total {elapsed:.1f}s")
    print(f"Every account's password is {PASSWORD!r}; agents: agent@example.com, agent2@example.com, agent03..agent{N_AGENTS}@example.com")
    return {"seconds": elapsed, "bytes": size, "counts": counts}
