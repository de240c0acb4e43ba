"""Stale order facts: a case keeps a snapshot of its order, but the refund form and a
refund request first ask the order system again for the delivery facts (delivered_at,
status — never lines or amounts), so an order delivered after the case was opened
becomes refundable, judged at request time against the refreshed date.

Real SQLite file (and PostgreSQL), the order and gateway sandboxes over loopback HTTP.
Each test loads its own order for a customer of its own into the session's sandbox
(the demo customers' orders stay as other tests expect them).
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fixtures_db import PW, code_of, make_people, order_client, orders_server, orders_server_session, people, pg_engine, pg_url, run, run_traced  # noqa: F401
from fixtures_gateway import gateway_server, gateway_server_session  # noqa: F401
from fixtures_http import OrdersServer, serve_asgi
from support_app.db import session_scope
from support_app.domain.errors import DomainError, ErrorCode
from support_app.integrations.order_client import OrderClient
from support_app.integrations.order_data import OrderData, OrderLineData
from support_app.models import OrderLine, OrderSnapshot, RefundCase
from support_app.services import auth_service
from support_app.services import case_commands as cmd
from support_app.services import refund_commands as rc
from support_app.services import refund_queries as rq
from support_app.services.views import iso
from test_exactly_once import approve, gateway, refund_row, send_due  # noqa: F401

E = ErrorCode
CASE = dict(subject="Lamp flickers", description="The desk lamp flickers after a minute.", category="damaged_item")
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def lamp_order(order_id: str, customer: str, delivered_at: datetime | None, status: str, *, unit: int = 2500) -> OrderData:
    line = OrderLineData("L1", "LAMP-DESK", "Desk lamp", 2, unit, 0, 0)
    return OrderData(order_id, customer, NOW - timedelta(days=30), delivered_at, status, "EUR", (line,), 0, 0, 2 * unit,
                     f"PAY-{order_id}")


class Shop:
    """A customer of this test's own, their order in the order sandbox, their case."""

    def __init__(self, engine, orders: OrdersServer, client: OrderClient, delivered_at=None, status="shipped"):
        self.engine, self.orders = engine, orders
        tag = uuid.uuid4().hex[:8]
        self.ref, self.order_id = f"C-R-{tag}", f"ORD-R-{tag}"
        self.user = run(engine, auth_service.create_user, f"r{tag}@example.com", "Rita Refresh", "customer", PW, self.ref)
        self.report(delivered_at, status)
        self.case_id = run(engine, cmd.create_case, self.user, self.order_id, client=client, **CASE)
        self._keys = iter(range(10**6))

    def report(self, delivered_at, status, **kw) -> None:
        """What the order system says about the order from now on."""
        self.orders.load([lamp_order(self.order_id, self.ref, delivered_at, status, **kw)])

    def form(self):
        return run(self.engine, rq.refund_form, self.user, self.case_id, write=False)[0]

    def ask(self, qty: int = 1, **kw):
        return run(self.engine, rc.request_refund, self.user, self.case_id, {"L1": qty}, "damaged", "",
                   f"refresh-{next(self._keys):06d}", **kw)

    def snapshot(self) -> tuple:
        with session_scope(self.engine) as s:
            snap = s.exec(select(OrderSnapshot).where(OrderSnapshot.order_id == self.order_id)).one()
            lines = s.exec(select(OrderLine).where(OrderLine.snapshot_id == snap.id)).all()
            return (snap.delivered_at, snap.status, snap.amount_paid, [(ln.quantity, ln.unit_price) for ln in lines])


@pytest.fixture
def shop(engine, people, orders_server, order_client) -> Shop:  # noqa: F811
    return Shop(engine, orders_server, order_client)


def test_an_order_delivered_after_the_case_was_opened_becomes_refundable(engine, people, shop, gateway_server, gateway):  # noqa: F811
    assert [(ln.eligible, ln.refundable_now, ln.window_text) for ln in shop.form().lines] == [
        (False, 0, "not delivered yet — no refund window")]
    assert code_of(engine, rc.request_refund, shop.user, shop.case_id, {"L1": 1}, "damaged", "", "early-key-0001") \
        is E.ORDER_NOT_DELIVERED
    assert shop.snapshot()[:2] == (None, "shipped")

    delivered = NOW - timedelta(days=1)
    shop.report(delivered, "delivered")  # the courier delivered it; the case is still open
    [line] = shop.form().lines
    assert (line.eligible, line.refundable_now, line.deadline) == (True, 2, iso(delivered + timedelta(days=14)))
    assert shop.snapshot() == (delivered, "delivered", 5000, [(2, 2500)])
    rid = shop.ask(2)
    assert (refund_row(engine, rid).status, refund_row(engine, rid).amount) == ("requested", 5000)
    ref = approve(engine, people.sam, rid)  # the window, judged at request time, lets it through the gateway
    assert send_due(engine, gateway) == {ref.attempt_id: "succeeded"}
    assert refund_row(engine, rid).status == "refunded"
    assert gateway_server.payment(f"PAY-{shop.order_id}")["refund_count"] == 1


def test_a_request_refreshes_too_even_without_the_form(shop):
    delivered = NOW - timedelta(hours=3)
    shop.report(delivered, "delivered")
    assert refund_row(shop.engine, shop.ask()).amount == 2500
    assert shop.snapshot()[:2] == (delivered, "delivered")


def test_the_refresh_never_touches_lines_or_amounts(shop):
    shop.report(NOW - timedelta(days=1), "delivered", unit=9999)  # the order system now prices it differently
    [line] = shop.form().lines
    assert line.unit_price == "€25.00 per unit"
    assert refund_row(shop.engine, shop.ask()).amount == 2500
    assert shop.snapshot() == (NOW - timedelta(days=1), "delivered", 5000, [(2, 2500)])


def test_the_window_is_judged_at_request_time_against_the_refreshed_date(shop):
    shop.report(NOW - timedelta(days=15), "delivered")  # delivered long ago, we just did not know
    [line] = shop.form().lines
    assert not line.eligible and "window ended on" in line.window_text
    assert code_of(shop.engine, rc.request_refund, shop.user, shop.case_id, {"L1": 1}, "damaged", "", "late-key-0001") \
        is E.REFUND_WINDOW_EXPIRED
    shop.report(NOW - timedelta(days=13), "delivered")  # the order system corrects the date: taken as reported
    assert shop.form().lines[0].eligible
    assert refund_row(shop.engine, shop.ask()).status == "requested"


def test_a_delivery_once_recorded_is_never_undone(shop):
    delivered = NOW - timedelta(days=2)
    shop.report(delivered, "delivered")
    assert shop.form().lines[0].eligible
    shop.report(None, "shipped")  # the order system stops reporting it (a glitch, a data fix)
    assert shop.form().lines[0].eligible
    assert shop.snapshot()[:2] == (delivered, "delivered")
    assert refund_row(shop.engine, shop.ask()).status == "requested"


def test_without_the_order_system_the_snapshot_stands(shop, caplog):
    shop.orders.set_faults("error", status=503)
    assert [(ln.eligible, ln.refundable_now) for ln in shop.form().lines] == [(False, 0)]  # the form still opens
    assert "delivery facts not refreshed" in caplog.text
    # Not "not delivered": we could not ask, so the customer is told to try again.
    assert code_of(shop.engine, rc.request_refund, shop.user, shop.case_id, {"L1": 1}, "damaged", "", "down-key-0001") \
        is E.ORDER_SYSTEM_UNAVAILABLE
    shop.orders.set_faults("none")
    shop.report(NOW - timedelta(days=1), "delivered")
    assert shop.form().lines[0].eligible
    shop.orders.set_faults("error", status=503)  # a delivery already known is enough to judge
    assert refund_row(shop.engine, shop.ask()).status == "requested"


def test_a_changed_delivery_updates_the_open_case_pages(shop, published):
    shop.form()
    assert published == []  # nothing changed: nothing to tell
    shop.report(NOW - timedelta(days=1), "delivered")
    shop.form()
    assert any(shop.case_id in c.cases and shop.user.id in c.customers and not c.internal for c in published)


def test_a_processing_order_shows_its_status_from_the_order_system(engine, people, orders_server, order_client):  # noqa: F811
    shop = Shop(engine, orders_server, order_client, status="processing")
    assert shop.snapshot()[:2] == (None, "processing")
    shop.report(None, "shipped")
    shop.form()
    assert shop.snapshot()[:2] == (None, "shipped")


# -- no transaction is open while the order system answers ---------------------------


@contextmanager
def held_order_system(sandbox_url: str) -> Iterator[tuple[str, threading.Event, threading.Event]]:
    """An order system in front of the sandbox that holds each order lookup until the
    test releases it: (url, arrived, release)."""
    arrived, release = threading.Event(), threading.Event()

    async def order(request: Request) -> Response:
        arrived.set()
        await run_in_threadpool(release.wait, 60)
        upstream = await run_in_threadpool(httpx.get, f"{sandbox_url}/orders/{request.path_params['order_id']}")
        return Response(upstream.content, status_code=upstream.status_code, media_type="application/json")

    with serve_asgi(Starlette(routes=[Route("/orders/{order_id}", order)])) as url:
        try:
            yield url, arrived, release
        finally:
            release.set()


def request_while_held(shop: Shop, probe) -> object:
    """Ask for a refund through the held order system; run ``probe()`` while the order
    lookup is in flight; then let the answer through. Returns the request's result."""
    out: dict = {}
    with held_order_system(shop.orders.url) as (url, arrived, release), OrderClient(url, timeout_seconds=30) as client:
        worker = threading.Thread(target=lambda: out.update(r=_catch(lambda: shop.ask(client=client))))
        worker.start()
        assert arrived.wait(30), "the request never asked the order system"
        try:
            probe()
        finally:
            release.set()
            worker.join(60)
    assert not worker.is_alive()
    return out["r"]


def _catch(fn):
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 — reported to the test
        return exc


def test_the_order_system_is_asked_with_no_write_lock_held_on_sqlite(engine, people, orders_server, order_client):  # noqa: F811
    shop = Shop(engine, orders_server, order_client, delivered_at=NOW - timedelta(days=1), status="delivered")

    def probe() -> None:  # would fail at once with "database is locked" if the request held the write lock
        raw = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)
        try:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("COMMIT")
        finally:
            raw.close()

    rid = request_while_held(shop, probe)
    assert isinstance(rid, int) and refund_row(engine, rid).status == "requested"


def test_a_case_closed_while_the_order_system_answers_refuses_the_request(engine, people, orders_server, order_client):  # noqa: F811
    """The customer withdraws the case in another tab while a refund request asks the order
    system: the request judges the case as it is when it decides, not as it was read
    before that wait, so it is refused and stores nothing."""
    shop = Shop(engine, orders_server, order_client, delivered_at=NOW - timedelta(days=1), status="delivered")
    result = request_while_held(shop, lambda: run(engine, cmd.change_status, shop.user, shop.case_id, "closed"))
    assert isinstance(result, DomainError) and result.code is E.CASE_CLOSED
    with session_scope(engine) as s:
        assert s.exec(select(RefundCase).where(RefundCase.support_case_id == shop.case_id)).first() is None


def test_a_request_looks_its_order_up_in_a_read_then_decides_in_a_write_transaction(engine, people, orders_server, order_client):  # noqa: F811
    shop = Shop(engine, orders_server, order_client, delivered_at=NOW - timedelta(days=1), status="delivered")
    rid, sent = run_traced(engine, rc.request_refund, shop.user, shop.case_id, {"L1": 1}, "damaged", "", "traced-0001")
    assert isinstance(rid, int)
    assert [s for s in sent if s.startswith("BEGIN")] == ["BEGIN", "BEGIN IMMEDIATE"]
    assert sent[0] == "BEGIN"
    assert sent[2] == "BEGIN IMMEDIATE"  # the lookup is one statement: who may see the case, its order's facts, the owner


def test_other_writers_of_the_process_go_on_while_a_request_waits_for_the_order_system(engine, people, orders_server, order_client):  # noqa: F811
    """The process's queue for SQLite's write lock (db.py) is held by a write transaction,
    not by a whole unit of work: a request asking the order system lets the others write."""
    shop = Shop(engine, orders_server, order_client, delivered_at=NOW - timedelta(days=1), status="delivered")

    def probe() -> None:
        done = threading.Event()
        writer = threading.Thread(target=lambda: (run(engine, cmd.add_message, shop.user, shop.case_id, "Any news?"),
                                                  done.set()))
        writer.start()
        try:
            assert done.wait(10), "another writer of this process waited for the order system"
        finally:
            writer.join(60)  # a broken queue lets it through once the order system answers

    rid = request_while_held(shop, probe)
    assert isinstance(rid, int) and refund_row(engine, rid).status == "requested"


@pytest.mark.postgres
def test_the_order_system_is_asked_with_no_transaction_open_on_postgresql(pg_engine, monkeypatch, orders_server, order_client):  # noqa: F811
    make_people(pg_engine, monkeypatch)
    shop = Shop(pg_engine, orders_server, order_client, delivered_at=NOW - timedelta(days=1), status="delivered")

    def probe() -> None:
        """No other session holds any lock on this test's tables: a transaction that had
        read the case or the snapshot would still hold its AccessShareLock on them."""
        with pg_engine.connect() as conn:
            held = conn.execute(text(
                "SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relnamespace = current_schema()::regnamespace AND l.pid <> pg_backend_pid()")).all()
            locked = conn.execute(text("SELECT id FROM order_snapshots FOR UPDATE NOWAIT")).all()
        assert held == [] and len(locked) == 1

    rid = request_while_held(shop, probe)
    assert isinstance(rid, int) and refund_row(pg_engine, rid).status == "requested"
    with session_scope(pg_engine) as s:
        assert s.exec(select(RefundCase)).one().amount == 2500


@pytest.mark.postgres
def test_the_form_stores_a_new_delivery_on_postgresql_though_it_only_reads(pg_engine, monkeypatch, orders_server, order_client):  # noqa: F811
    """The form's unit of work reads outside a transaction (db.py); the refresh it starts
    with writes the new delivery in a transaction of its own."""
    make_people(pg_engine, monkeypatch)
    shop = Shop(pg_engine, orders_server, order_client)
    delivered = NOW - timedelta(days=1)
    shop.report(delivered, "delivered")
    [line] = shop.form().lines
    assert (line.eligible, line.refundable_now) == (True, 2)
    assert shop.snapshot()[:2] == (delivered, "delivered")
