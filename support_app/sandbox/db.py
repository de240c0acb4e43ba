"""The sandbox's own SQLite file: schema, one connection per thread, transactions.

Orders and the gateway ledger live in one file so the gateway can read captured
amounts from the orders table. WAL lets readers run beside the one writer; every
write is ``BEGIN IMMEDIATE`` (the write lock is taken before the first read), which
makes read-check-insert sequences atomic across threads and processes alike.
On first open of an empty file the demo catalogue (Alice, Bob and Carol's orders
and the generated customers' order history) is inserted relative to that moment,
and the moment is kept as the anchor of the demo data.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from support_app.sandbox.catalogue import demo_orders, history_orders
from support_app.sandbox.order_rows import upsert_orders

BUSY_TIMEOUT_MS = 30_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    placed_us INTEGER NOT NULL,
    payment_reference TEXT NOT NULL UNIQUE,
    amount_paid INTEGER NOT NULL,
    currency TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_orders_customer ON orders (customer_id, placed_us);
CREATE TABLE IF NOT EXISTS refunds (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    payment_reference TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    failure_reason TEXT,
    failure_message TEXT,
    metadata TEXT NOT NULL,
    created_at TEXT NOT NULL,
    settle_at_us INTEGER
);
CREATE INDEX IF NOT EXISTS ix_refunds_payment ON refunds (payment_reference, status);
CREATE INDEX IF NOT EXISTS ix_refunds_pending ON refunds (status, settle_at_us);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    refund_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    status_code INTEGER,
    error TEXT,
    delivered_at TEXT NOT NULL
);
"""


class SandboxDB:
    """Opens (creating and seeding if new) the sandbox file; hands out per-thread connections."""

    def __init__(self, path: str | Path, now: datetime | None = None) -> None:
        """``now`` anchors the demo catalogue on a new file only; an existing file keeps its anchor."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self.conn().executescript(SCHEMA)
        self.anchor = self._seed_once(now)

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit mode: transactions are explicit)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise sqlite3.ProgrammingError("sandbox database is closed")
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=BUSY_TIMEOUT_MS / 1000)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding the database's write lock from its first statement."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: its statements see one snapshot."""
        conn = self.conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _seed_once(self, now: datetime | None) -> datetime:
        with self.write() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'anchor'").fetchone()
            if row is not None:
                return datetime.fromisoformat(row[0])
            anchor = (now or datetime.now(timezone.utc).replace(microsecond=0)).astimezone(timezone.utc)
            upsert_orders(conn, demo_orders(anchor) + history_orders(anchor))
            conn.execute("INSERT INTO meta (key, value) VALUES ('anchor', ?)", (anchor.isoformat(),))
            return anchor

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
