"""The sandbox's persisted ledger and orders: what makes the gateway sandbox behave like
one external service however many app processes talk to it and however often it restarts.

Each test opens sandbox apps (create_sandbox_app, as the sandbox process serves it) on
its own SQLite file over real loopback HTTP; a "restart" is a server stopped (its
lifespan closes timers and the database) and a new app started on the same file.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from fixtures_gateway import GATEWAY_WEBHOOK_SECRET, WebhookReceiver, create_receiver_app
from fixtures_http import serve_asgi
from support_app.integrations.gateway_client import GatewayClient
from support_app.integrations.order_client import OrderClient
from support_app.integrations.order_data import OrderData, OrderLineData
from support_app.sandbox.app import create_sandbox_app
from support_app.sandbox.catalogue import demo_orders, history_orders
from support_app.sandbox.db import SandboxDB
from support_app.sandbox.ledger import Ledger

HUNG = 15.0  # seconds: a guard against hanging, not a performance claim
# Orders a new sandbox starts with: Alice, Bob and Carol's, and the generated history (its size does not depend on now).
CATALOGUE = len(demo_orders(datetime.now(timezone.utc))) + len(history_orders(datetime.now(timezone.utc)))


@contextmanager
def sandbox(path: Path, webhook_url: str | None = None, now: datetime | None = None) -> Iterator[str]:
    """One run of the sandbox on ``path``; yields its base URL."""
    with serve_asgi(create_sandbox_app(path, webhook_url, GATEWAY_WEBHOOK_SECRET, now=now)) as base:
        yield base


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hooks = WebhookReceiver(secret=GATEWAY_WEBHOOK_SECRET)
    with serve_asgi(create_receiver_app(hooks)) as base:
        hooks.url = f"{base}/webhooks"
        yield hooks


def key() -> str:
    return f"refund-attempt-{uuid.uuid4().hex}"


def create(base: str, idem: str, amount: int, ref: str = "PAY-1001-1", currency: str = "EUR") -> httpx.Response:
    return httpx.post(f"{base}/gateway/refunds", headers={"Idempotency-Key": idem}, timeout=HUNG,
                      json={"payment_reference": ref, "amount": amount, "currency": currency, "metadata": {}})


def payment(base: str, ref: str = "PAY-1001-1") -> dict:
    return httpx.get(f"{base}/gateway/payments/{ref}", timeout=HUNG).raise_for_status().json()


def shop_order(order_id: str, now: datetime, quantity: int = 2, unit: int = 2500) -> OrderData:
    """A delivered order of the kind the large-data generator loads (its own customer and payment)."""
    line = OrderLineData("L1", "LAMP-OAK", "Oak desk lamp", quantity, unit, 0, quantity * unit // 5)
    return OrderData(order_id, f"LC-{order_id}", now - timedelta(days=4), now - timedelta(days=1), "delivered", "EUR",
                     (line,), 495, 99, line.paid_total + 495 + 99, f"PAY-{order_id}")


def test_same_key_after_a_restart_replays_the_same_refund(tmp_path) -> None:
    db = tmp_path / "sandbox.db"
    idem = key()
    with sandbox(db) as base:
        first = create(base, idem, 1500)
        assert first.status_code == 201
    with sandbox(db) as base:
        again = create(base, idem, 1500)
        reused = create(base, idem, 1600)
        assert httpx.get(f"{base}/gateway/refunds", params={"idempotency_key": idem}).json()["id"] == first.json()["id"]
        money = payment(base)
    assert again.status_code == 201 and again.json() == first.json()
    assert (reused.status_code, reused.json()["error"]) == (422, "idempotency_key_reused")
    assert (money["refund_count"], money["refunded"]) == (1, 1500)


def in_threads(n: int, work) -> list[object]:
    """work(i) in n threads released together by a barrier; each result or exception."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def body(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 — reported to the test
            results[i] = exc

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results


def test_thirty_concurrent_creates_with_one_key_make_one_refund(tmp_path) -> None:
    """Thirty threads, each with its own connections to the file (as separate processes
    would have), create with one key at once: one refund, and every caller gets it.
    A deferred transaction instead of BEGIN IMMEDIATE fails this in most rounds."""
    dbs = [SandboxDB(tmp_path / "sandbox.db") for _ in range(30)]
    try:
        for _ in range(5):
            idem = key()
            answers = in_threads(30, lambda i: Ledger(dbs[i]).create(idem, "PAY-1001-1", 10, "EUR", {"i": i}))
            assert [a if isinstance(a, Exception) else a[0] for a in answers] == [201] * 30, answers
            assert len({a[1]["id"] for a in answers}) == 1 and sum(a[2] for a in answers) == 1
        money = Ledger(dbs[0]).payment("PAY-1001-1")
        assert (money["refund_count"], money["refunded"]) == (5, 50)
    finally:
        for db in dbs:
            db.close()


def test_thirty_concurrent_http_creates_with_one_key_make_one_refund(tmp_path) -> None:
    """The same over HTTP: thirty requests released together, spread over two servers on one file."""
    db, idem = tmp_path / "sandbox.db", key()
    with sandbox(db) as one, sandbox(db) as two:
        results = in_threads(30, lambda i: create(one if i % 2 else two, idem, 700))
        money = payment(one)
        committed = httpx.get(f"{two}/gateway/_faults").json()["refunds_committed"]
    assert all(isinstance(r, httpx.Response) and r.status_code == 201 for r in results), results
    assert len({r.json()["id"] for r in results}) == 1
    assert (money["refund_count"], money["refunded"], committed) == (1, 700, 1)


def test_admin_loaded_orders_are_seen_by_the_order_system_and_refundable(tmp_path) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    orders = [shop_order(f"ORD-LOAD-{n}", now, quantity=n) for n in (1, 2, 3)]
    with sandbox(tmp_path / "sandbox.db") as base:
        loaded = httpx.post(f"{base}/orders/_admin/orders", json=[o.to_json() for o in orders])
        assert loaded.status_code == 200 and loaded.json() == {"upserted": 3}
        with OrderClient(f"{base}/orders", timeout_seconds=5) as client:
            assert client.get_order("ORD-LOAD-2") == orders[1]
            assert client.list_customer_orders("LC-ORD-LOAD-3") == [orders[2]]
        with GatewayClient(f"{base}/gateway", timeout_seconds=5) as gateway:
            result = gateway.create_refund("PAY-ORD-LOAD-2", 3000, "EUR", key(), {})
        assert result.outcome == "succeeded"
        money = payment(base, "PAY-ORD-LOAD-2")
        assert (money["captured"], money["refunded"], money["refund_count"]) == (orders[1].amount_paid, 3000, 1)

        changed = shop_order("ORD-LOAD-2", now, quantity=5)  # an upsert replaces the order
        assert httpx.post(f"{base}/orders/_admin/orders", json=[changed.to_json()]).json() == {"upserted": 1}
        assert payment(base, "PAY-ORD-LOAD-2")["captured"] == changed.amount_paid
        assert httpx.get(f"{base}/health").json()["orders"] == CATALOGUE + 3


def test_admin_load_is_validated_and_all_or_nothing(tmp_path) -> None:
    now = datetime.now(timezone.utc)
    good = shop_order("ORD-LOAD-9", now).to_json()
    with sandbox(tmp_path / "sandbox.db") as base:
        url = f"{base}/orders/_admin/orders"
        broken = httpx.post(url, json=[good, dict(good, order_id="ORD-LOAD-10", amount_paid=1)])
        assert broken.status_code == 400 and broken.json()["detail"].startswith("orders[1]: amount_paid")
        assert httpx.post(url, json={"orders": [good]}).status_code == 400
        clash = dict(shop_order("ORD-LOAD-11", now).to_json(), payment_reference="PAY-1001-1")
        conflict = httpx.post(url, json=[good, clash])
        assert (conflict.status_code, conflict.json()["error"]) == (409, "payment_reference_conflict")
        assert httpx.get(f"{base}/orders/orders/ORD-LOAD-9").status_code == 404  # nothing of either batch
    with serve_asgi(create_sandbox_app(tmp_path / "sandbox.db", None, "", enable_faults=False)) as base:
        assert httpx.post(f"{base}/orders/_admin/orders", json=[good]).status_code == 404


def test_exceeding_what_is_captured_counts_refunds_from_before_a_restart(tmp_path) -> None:
    db = tmp_path / "sandbox.db"
    with sandbox(db) as base:
        captured = payment(base)["captured"]
        assert create(base, key(), captured - 100).status_code == 201
    with sandbox(db) as base:
        over = create(base, key(), 101)
        rest = create(base, key(), 100)
        money = payment(base)
    assert (over.status_code, over.json()["status"], over.json()["failure_reason"]) == (402, "failed", "exceeds_captured")
    assert rest.status_code == 201
    assert (money["refunded"], money["refund_count"]) == (captured, 2)


def test_a_refund_pending_at_shutdown_is_settled_after_the_restart(tmp_path, receiver: WebhookReceiver) -> None:
    db, idem = tmp_path / "sandbox.db", key()
    with sandbox(db, receiver.url) as base:
        httpx.post(f"{base}/gateway/_faults", json={"mode": "async", "webhook_delay_ms": 600}).raise_for_status()
        pending = create(base, idem, 900)
        assert pending.status_code == 202 and pending.json()["status"] == "pending"
    time.sleep(0.8)  # past its settle time: the stopped server's timer was cancelled, nothing was sent
    assert receiver.accepted == []
    with sandbox(db, receiver.url) as base:
        [event] = receiver.wait_for(1, timeout=HUNG)
        assert event["data"]["id"] == pending.json()["id"] and event["data"]["status"] == "succeeded"
        replay = create(base, idem, 900)
        hooks = httpx.get(f"{base}/gateway/_webhooks").json()
    assert replay.status_code == 201 and replay.json()["id"] == pending.json()["id"]
    assert hooks["events"] == [event] and [d["status_code"] for d in hooks["deliveries"]] == [200]
    assert receiver.rejected == []


def test_demo_catalogue_keeps_the_anchor_of_its_first_start(tmp_path) -> None:
    first = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    db = tmp_path / "sandbox.db"
    with sandbox(db, now=first) as base:
        assert httpx.get(f"{base}/health").json()["anchor"] == first.isoformat()
    with sandbox(db, now=first + timedelta(days=30)) as base:  # a later start changes nothing
        health = httpx.get(f"{base}/health").json()
        with OrderClient(f"{base}/orders", timeout_seconds=5) as client:
            orders = {cid: client.list_customer_orders(cid) for cid in ("C-1001", "C-1002", "C-1003")}
    assert health == {"status": "ok", "orders": CATALOGUE, "anchor": first.isoformat()}
    assert {o.order_id: o for group in orders.values() for o in group} == {o.order_id: o for o in demo_orders(first)}
