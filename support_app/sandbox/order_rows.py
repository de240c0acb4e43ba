"""The orders table: orders kept in their wire format (OrderData.to_json) plus the
columns the order system and the gateway look them up by."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from support_app.integrations.order_data import OrderData


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _us(order: OrderData) -> int:
    """placed_at as integer microseconds since the epoch: sorts correctly, unlike ISO text."""
    return (order.placed_at - EPOCH) // timedelta(microseconds=1)


def upsert_orders(conn: sqlite3.Connection, orders: Iterable[OrderData]) -> int:
    """Insert or replace by order id; raises sqlite3.IntegrityError if a payment reference
    already belongs to another order. Runs inside the caller's transaction."""
    rows = [(o.order_id, o.customer_id, _us(o), o.payment_reference, o.amount_paid, o.currency,
             json.dumps(o.to_json(), separators=(",", ":"))) for o in orders]
    conn.executemany(
        "INSERT INTO orders (order_id, customer_id, placed_us, payment_reference, amount_paid, currency, body) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO UPDATE SET customer_id = excluded.customer_id, "
        "placed_us = excluded.placed_us, payment_reference = excluded.payment_reference, "
        "amount_paid = excluded.amount_paid, currency = excluded.currency, body = excluded.body",
        rows,
    )
    return len(rows)


def order_json(conn: sqlite3.Connection, order_id: str) -> dict | None:
    row = conn.execute("SELECT body FROM orders WHERE order_id = ?", (order_id,)).fetchone()
    return None if row is None else json.loads(row[0])


def customer_orders_json(conn: sqlite3.Connection, customer_id: str) -> list[dict]:
    """A customer's orders, newest placed first."""
    rows = conn.execute(
        "SELECT body FROM orders WHERE customer_id = ? ORDER BY placed_us DESC, order_id DESC", (customer_id,)
    ).fetchall()
    return [json.loads(body) for (body,) in rows]


def captured(conn: sqlite3.Connection, payment_reference: str) -> tuple[int, str] | None:
    """(amount paid, currency) of the order paid with ``payment_reference``."""
    row = conn.execute(
        "SELECT amount_paid, currency FROM orders WHERE payment_reference = ?", (payment_reference,)
    ).fetchone()
    return None if row is None else (row[0], row[1])
