"""Load the generated orders into the order-system sandbox, so every seeded order is
known to the order system and refundable at the gateway (same payment references).

Orders are read back from the generated file (order snapshots, their lines, and the
customer's order-system id; the payment reference decrypted with the app's keyring, the
one the generator encrypted it with) and sent in the wire format to the sandbox's admin
endpoint ``POST <sandbox>/orders/_admin/orders``, a batch per request.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from support_app.security.crypto import get_keyring

SNAPSHOTS = (
    "SELECT s.id, s.order_id, u.order_customer_id, s.currency, s.placed_at, s.delivered_at, s.shipping_amount, "
    "s.shipping_tax, s.amount_paid, s.payment_reference FROM order_snapshots s JOIN users u ON u.id = s.customer_id "
    "WHERE s.id > ? ORDER BY s.id LIMIT ?"
)
LINES = (
    "SELECT snapshot_id, line_id, sku, name, quantity, unit_price, discount_total, tax_total FROM order_lines "
    "WHERE snapshot_id BETWEEN ? AND ? ORDER BY snapshot_id, id"
)


def _ts(value: str | None) -> str | None:
    """The app's SQLite text (naive UTC, 'YYYY-MM-DD HH:MM:SS.ffffff') in the wire format."""
    return None if value is None else value.replace(" ", "T") + "Z"


def order_batches(path: Path, batch: int) -> Iterator[list[dict[str, Any]]]:
    """The file's orders in the order system's wire format (OrderData.to_json), ``batch`` at a time."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    decrypt = get_keyring().decrypt
    try:
        last = 0
        while rows := conn.execute(SNAPSHOTS, (last, batch)).fetchall():
            last = rows[-1][0]
            lines: dict[int, list[dict[str, Any]]] = {}
            for sid, line_id, sku, name, qty, unit, discount, tax in conn.execute(LINES, (rows[0][0], last)):
                lines.setdefault(sid, []).append({"line_id": line_id, "sku": sku, "name": name, "quantity": qty,
                                                  "unit_price": unit, "discount_total": discount, "tax_total": tax})
            yield [{"order_id": order_id, "customer_id": customer, "placed_at": _ts(placed),
                    "delivered_at": _ts(delivered), "status": "delivered" if delivered else "shipped",
                    "currency": currency, "lines": lines[sid], "shipping_amount": shipping,
                    "shipping_tax": shipping_tax, "amount_paid": paid,
                    "payment_reference": decrypt(ref, "order_snapshots.payment_reference")}
                   for sid, order_id, customer, currency, placed, delivered, shipping, shipping_tax, paid, ref in rows]
    finally:
        conn.close()


def load_into_sandbox(path: Path, sandbox_url: str, batch: int = 2_000) -> int:
    """POST every order of ``path`` to the sandbox at ``sandbox_url``; returns how many."""
    url = f"{sandbox_url.rstrip('/')}/orders/_admin/orders"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        total = conn.execute("SELECT count(*) FROM order_snapshots").fetchone()[0]
    finally:
        conn.close()
    started, sent, report = time.monotonic(), 0, max(batch, total // 10)
    with httpx.Client(timeout=120) as http:
        for orders in order_batches(path, batch):
            response = http.post(url, json=orders)
            if response.status_code != 200:
                raise SystemExit(f"sandbox refused orders at {url}: {response.status_code} {response.text[:500]}")
            sent += len(orders)
            if sent % report < len(orders) or sent == total:
                print(f"[{time.monotonic() - started:7.1f}s] sandbox orders {sent:,}/{total:,}", flush=True)
    return sent
