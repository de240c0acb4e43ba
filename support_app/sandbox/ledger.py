"""The gateway's ledger in the sandbox database: refunds by idempotency key, events, deliveries.

``create`` is one ``BEGIN IMMEDIATE`` transaction — look up the key, check what is
still captured, insert — so a retry with the same key replays the first answer
whichever thread, request or process it lands on, and after any restart.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from support_app.sandbox.db import SandboxDB
from support_app.sandbox.order_rows import captured

HTTP_FOR_STATUS = {"succeeded": 201, "pending": 202, "failed": 402}
REFUND_COLUMNS = ("id, idempotency_key, payment_reference, amount, currency, status, failure_reason, "
                  "failure_message, metadata, created_at")


def _refund(row: tuple) -> dict[str, Any]:
    """A refunds row as the gateway's JSON body."""
    (rid, key, ref, amount, currency, status, reason, message, metadata, created_at) = row
    return {"id": rid, "status": status, "amount": amount, "currency": currency, "payment_reference": ref,
            "idempotency_key": key, "metadata": json.loads(metadata), "created_at": created_at,
            "failure_reason": reason, "failure_message": message}


def _by_key(conn: sqlite3.Connection, key: str) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {REFUND_COLUMNS} FROM refunds WHERE idempotency_key = ?", (key,)).fetchone()
    return None if row is None else _refund(row)


def _refunded(conn: sqlite3.Connection, ref: str, statuses: tuple[str, ...]) -> tuple[int, int]:
    """(sum of amounts, number) of the payment's refunds in ``statuses``."""
    marks = ",".join("?" * len(statuses))
    total, count = conn.execute(
        f"SELECT coalesce(sum(amount), 0), count(*) FROM refunds WHERE payment_reference = ? AND status IN ({marks})",
        (ref, *statuses),
    ).fetchone()
    return total, count


class Ledger:
    """Every operation is one transaction on the shared file; safe from any thread."""

    def __init__(self, db: SandboxDB) -> None:
        self.db = db

    def create(self, key: str, ref: str, amount: int, currency: str, metadata: dict[str, Any], *,
               decline_reason: str | None = None, decline_message: str | None = None,
               settle_after_ms: int | None = None) -> tuple[int, dict[str, Any], bool]:
        """Replay the key's refund or make one; returns (http status, body, made now).

        A replay answers with the refund's *current* state (a settled async refund
        replays as 201 succeeded): same id, never a second refund. ``decline_reason``
        declines a new refund (with ``decline_message``, or the sandbox's own words);
        ``settle_after_ms`` leaves it pending until then.
        """
        with self.db.write() as conn:
            found = _by_key(conn, key)
            if found is not None:
                if (found["payment_reference"], found["amount"], found["currency"]) != (ref, amount, currency):
                    return 422, {"error": "idempotency_key_reused"}, False
                return HTTP_FOR_STATUS[found["status"]], found, False
            payment = captured(conn, ref)
            if payment is None:
                return 404, {"error": "payment_not_found"}, False
            if currency != payment[1]:
                return 400, {"error": "currency_mismatch"}, False
            status, reason, message, settle_at = "succeeded", None, None, None
            if amount > payment[0] - _refunded(conn, ref, ("succeeded", "pending"))[0]:
                status, reason, message = "failed", "exceeds_captured", "Refund exceeds the amount captured"
            elif decline_reason is not None:
                status, reason, message = "failed", decline_reason, decline_message or "The refund was declined by the card issuer"
            elif settle_after_ms is not None:
                status, settle_at = "pending", int(time.time() * 1_000_000) + settle_after_ms * 1000
            row = (f"re_{uuid.uuid4().hex}", key, ref, amount, currency, status, reason, message,
                   json.dumps(metadata, separators=(",", ":")), datetime.now(timezone.utc).isoformat())
            conn.execute(f"INSERT INTO refunds ({REFUND_COLUMNS}, settle_at_us) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                         (*row, settle_at))
            return HTTP_FOR_STATUS[status], _refund(row), True

    def find(self, key: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            return _by_key(conn, key)

    def payment(self, ref: str) -> dict[str, Any] | None:
        """Money view of one payment; tests use refund_count to prove money moved once."""
        with self.db.read() as conn:
            payment = captured(conn, ref)
            if payment is None:
                return None
            refunded, count = _refunded(conn, ref, ("succeeded",))
        return {"payment_reference": ref, "captured": payment[0], "refunded": refunded, "currency": payment[1],
                "refund_count": count}

    def committed(self) -> int:
        """Refunds that moved (or will move) money: succeeded or pending."""
        with self.db.read() as conn:
            return conn.execute("SELECT count(*) FROM refunds WHERE status IN ('succeeded', 'pending')").fetchone()[0]

    def pending(self) -> list[tuple[str, int]]:
        """(refund id, settle at in unix microseconds) of every refund still pending."""
        with self.db.read() as conn:
            return conn.execute(
                "SELECT id, coalesce(settle_at_us, 0) FROM refunds WHERE status = 'pending' ORDER BY settle_at_us"
            ).fetchall()

    def settle(self, refund_id: str) -> dict[str, Any] | None:
        """Mark a pending refund succeeded and record its event; None if it is not pending
        (settled by someone else, or reset). The event is committed before it is sent,
        so a receiver that looks the refund up sees the truth."""
        with self.db.write() as conn:
            if conn.execute("UPDATE refunds SET status = 'succeeded' WHERE id = ? AND status = 'pending'",
                            (refund_id,)).rowcount != 1:
                return None
            row = conn.execute(f"SELECT {REFUND_COLUMNS} FROM refunds WHERE id = ?", (refund_id,)).fetchone()
            event = {"id": f"evt_{uuid.uuid4().hex}", "type": "refund.succeeded", "created": int(time.time()),
                     "data": _refund(row)}
            conn.execute("INSERT INTO events (id, refund_id, body) VALUES (?, ?, ?)",
                         (event["id"], refund_id, json.dumps(event, separators=(",", ":"))))
            return event

    def event(self, event_id: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT body FROM events WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    def events(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [json.loads(body) for (body,) in conn.execute("SELECT body FROM events ORDER BY seq")]

    def record_delivery(self, result: dict[str, Any]) -> None:
        with self.db.write() as conn:
            conn.execute("INSERT INTO deliveries (event_id, status_code, error, delivered_at) VALUES (?, ?, ?, ?)",
                         (result["event_id"], result["status_code"], result["error"],
                          datetime.now(timezone.utc).isoformat()))

    def deliveries(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT event_id, status_code, error FROM deliveries ORDER BY seq").fetchall()
        return [{"event_id": e, "status_code": s, "error": err} for e, s, err in rows]

    def reset(self) -> None:
        """Forget every refund, event and delivery (orders stay)."""
        with self.db.write() as conn:
            for table in ("refunds", "events", "deliveries"):
                conn.execute(f"DELETE FROM {table}")
