"""The order client against the real sandbox over loopback HTTP, with real Redis.

Why: refunds are computed from what the order system says, so the client must
either return a trustworthy order or fail with one stable error — never hang,
never hammer a sick service, never cache a failure.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from fixtures_http import OrdersServer, orders_server, orders_server_session, refused_order_url, serve_asgi  # noqa: F401
from support_app.domain.errors import DomainError, ErrorCode
from support_app.integrations.order_client import OrderClient, get_order_client
from support_app.integrations.order_data import OrderData
from support_app.kv import MemoryKV, RedisKV
from support_app.sandbox.app import create_sandbox_app
from support_app.sandbox.catalogue import DEMO_CUSTOMERS, demo_orders

HUNG = 15  # seconds; only a guard against hanging, not a performance claim


def demo_order(now: datetime, order_id: str) -> OrderData:
    return next(o for o in demo_orders(now) if o.order_id == order_id)


def client_for(url: str, **kw) -> OrderClient:
    kw.setdefault("timeout_seconds", 2.0)
    kw.setdefault("backoff_seconds", 0.01)
    return OrderClient(url, **kw)


def test_list_and_get(orders_server: OrdersServer) -> None:
    with client_for(orders_server.url) as client:
        orders = client.list_customer_orders("C-1001")
        assert [o.order_id for o in orders] == [
            "ORD-1001-5", "ORD-1001-4", "ORD-1001-1", "ORD-1001-2", "ORD-1001-3"
        ]
        assert all(o.customer_id == "C-1001" for o in orders)
        one = client.get_order("ORD-1001-1")
        assert one == orders[2]
        assert one.placed_at.tzinfo is not None and one.lines[0].quantity == 3


def test_unknown_order_is_none_and_unknown_customer_has_none(orders_server: OrdersServer) -> None:
    with client_for(orders_server.url) as client:
        assert client.get_order("ORD-NOPE") is None
        assert client.get_order("../customers/C-1001/orders") is None  # ids are path-escaped
        assert client.list_customer_orders("C-9999") == []


def test_5xx_once_then_ok_is_retried(orders_server: OrdersServer) -> None:
    orders_server.set_faults("error", status=503, count=1)
    with client_for(orders_server.url, retries=2) as client:
        assert client.get_order("ORD-1002-1") is not None
    assert orders_server.requests_seen() == 2


def test_5xx_always_fails_after_retries_plus_one(orders_server: OrdersServer, caplog) -> None:
    orders_server.set_faults("error", status=500)
    with client_for(orders_server.url, retries=2) as client, caplog.at_level(logging.WARNING):
        with pytest.raises(DomainError) as info:
            client.list_customer_orders("C-1002")
    assert info.value.code == ErrorCode.ORDER_SYSTEM_UNAVAILABLE
    assert isinstance(info.value.__cause__, httpx.HTTPStatusError)
    assert orders_server.requests_seen() == 3
    assert "order system unavailable" in caplog.text


def test_4xx_is_not_retried(orders_server: OrdersServer) -> None:
    orders_server.set_faults("error", status=429)
    with client_for(orders_server.url, retries=2) as client:
        with pytest.raises(DomainError) as info:
            client.get_order("ORD-1001-1")
    assert info.value.code == ErrorCode.ORDER_SYSTEM_UNAVAILABLE
    assert orders_server.requests_seen() == 1


def test_slow_order_system_times_out(orders_server: OrdersServer) -> None:
    orders_server.set_faults("latency", latency_ms=3000)
    started = time.monotonic()
    with client_for(orders_server.url, timeout_seconds=0.2, retries=1) as client:
        with pytest.raises(DomainError) as info:
            client.get_order("ORD-1001-1")
    assert time.monotonic() - started < HUNG
    assert info.value.code == ErrorCode.ORDER_SYSTEM_UNAVAILABLE
    assert isinstance(info.value.__cause__, httpx.TimeoutException)
    assert orders_server.requests_seen() == 2


def test_connection_refused(refused_order_url: str) -> None:
    started = time.monotonic()
    with client_for(refused_order_url, retries=2) as client:
        with pytest.raises(DomainError) as info:
            client.list_customer_orders("C-1001")
    assert time.monotonic() - started < HUNG
    assert info.value.code == ErrorCode.ORDER_SYSTEM_UNAVAILABLE
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_malformed_json_is_unavailable_and_not_retried(orders_server: OrdersServer, caplog) -> None:
    orders_server.set_faults("malformed")
    with client_for(orders_server.url) as client, caplog.at_level(logging.WARNING):
        with pytest.raises(DomainError) as info:
            client.list_customer_orders("C-1001")
    assert info.value.code == ErrorCode.ORDER_SYSTEM_UNAVAILABLE
    assert "malformed payload" in caplog.text
    assert orders_server.requests_seen() == 1


def test_inconsistent_payload_is_rejected() -> None:
    """Valid JSON whose money does not add up must not reach the refund rules."""
    now = datetime(2025, 3, 1, 12, tzinfo=timezone.utc)
    good = demo_order(now, "ORD-1001-1").to_json()
    bad = dict(good, amount_paid=good["amount_paid"] + 1)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=bad))
    with OrderClient("http://orders.test", 1.0, transport=transport) as client:
        with pytest.raises(DomainError) as info:
            client.get_order("ORD-1001-1")
    assert info.value.code == ErrorCode.ORDER_SYSTEM_UNAVAILABLE
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize("kv_kind", ["redis", "memory"])
def test_cache_avoids_http_and_never_caches_errors(orders_server: OrdersServer, redis_url, kv_kind: str) -> None:
    url, prefix = redis_url
    kv = RedisKV(url, prefix=prefix) if kv_kind == "redis" else MemoryKV()
    with client_for(orders_server.url, kv=kv, cache_seconds=60, retries=0) as client:
        orders_server.set_faults("error", status=503)  # a failure first: must not be cached
        with pytest.raises(DomainError):
            client.get_order("ORD-1003-1")
        orders_server.set_faults("none")
        first = client.get_order("ORD-1003-1")
        assert orders_server.requests_seen() == 1
        orders_server.set_faults("error", status=503)  # cache hits make no HTTP call at all
        assert client.get_order("ORD-1003-1") == first
        assert orders_server.requests_seen() == 0
        orders_server.set_faults("none")
        listed = client.list_customer_orders("C-1002")
        assert [o.order_id for o in listed] == ["ORD-1002-1", "ORD-1002-2"]
        assert client.list_customer_orders("C-1002") == listed
        assert client.get_order("ORD-1002-2") == listed[1]  # the list warms per-order entries
        assert orders_server.requests_seen() == 1
    if kv_kind == "redis":
        assert kv.get("orders:order:ORD-1003-1") is not None


def test_a_fresh_lookup_asks_the_order_system_and_caches_its_answer(orders_server: OrdersServer) -> None:
    """Facts that decide money (delivered yet?) never come from the cache: ``fresh``
    skips the cached copy, and the answer replaces it for later plain lookups."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    shipped = OrderData("ORD-FRESH-1", "C-FRESH", now - timedelta(days=3), None, "shipped", "EUR",
                        demo_order(now, "ORD-1001-4").lines, 0, 0, 10591, "PAY-FRESH-1")  # not a demo customer
    delivered = OrderData(**{**shipped.__dict__, "delivered_at": now - timedelta(hours=1), "status": "delivered"})
    orders_server.load([shipped])
    with client_for(orders_server.url, kv=MemoryKV(), cache_seconds=60) as client:
        assert client.get_order("ORD-FRESH-1") == shipped
        orders_server.load([delivered])
        orders_server.set_faults("none")  # resets the request counter
        assert client.get_order("ORD-FRESH-1") == shipped  # a plain lookup: the cache, no HTTP
        assert orders_server.requests_seen() == 0
        assert client.get_order("ORD-FRESH-1", fresh=True) == delivered
        assert orders_server.requests_seen() == 1
        assert client.get_order("ORD-FRESH-1") == delivered  # cached again
        assert orders_server.requests_seen() == 1


def test_order_lines_fit_the_snapshot_or_are_refused() -> None:
    """A snapshot's line holds ids of up to 64 characters and a name of up to 200 (a
    longer value would be a database error on PostgreSQL): longer ids are refused as a
    malformed order, a longer name (only ever shown) is shortened."""
    data = demo_order(datetime(2025, 1, 31, tzinfo=timezone.utc), "ORD-1001-1").to_json()
    line, rest = data["lines"][0], data["lines"][1:]

    def first_line(**changed):
        return OrderData.from_json(dict(data, lines=[dict(line, **changed), *rest])).lines[0]

    for field in ("line_id", "sku"):
        assert getattr(first_line(**{field: "x" * 64}), field) == "x" * 64
        with pytest.raises(ValueError, match=f"{field}: longer than 64"):
            first_line(**{field: "x" * 65})
    assert first_line(name="n" * 200).name == "n" * 200
    assert first_line(name="n" * 5000).name == "n" * 199 + "…"


def test_cached_orders_are_encrypted_in_redis(orders_server: OrdersServer, redis_url) -> None:
    """Redis never holds an order (with its payment reference) in the clear; a value under
    a key that left the keyring, or one tampered with, is a cache miss, not an error."""
    import redis

    from support_app.security.crypto import Keyring

    url, prefix = redis_url
    old, new = Keyring.parse("old:" + "A" * 43 + "="), Keyring.parse("new:" + "B" * 43 + "=")
    with client_for(orders_server.url, kv=RedisKV(url, prefix=prefix), cache_seconds=60, keyring=old) as client:
        order = client.get_order("ORD-1001-1")
        client.list_customer_orders("C-1001")
    raw = redis.Redis.from_url(url)
    stored = {k.decode(): raw.get(k).decode() for k in raw.scan_iter(prefix + "orders:*")}
    assert prefix + "orders:order:ORD-1001-1" in stored and prefix + "orders:customer:C-1001" in stored
    for value in stored.values():
        assert value.startswith("enc1:old:")
        assert order.payment_reference not in value and "C-1001" not in value and "PAY-" not in value
    assert json.loads(old.decrypt(stored[prefix + "orders:order:ORD-1001-1"], "cache:orders"))["payment_reference"] \
        == order.payment_reference
    orders_server.set_faults("none")  # counts requests from here
    with client_for(orders_server.url, kv=RedisKV(url, prefix=prefix), cache_seconds=60, keyring=old) as client:
        assert client.get_order("ORD-1001-1") == order and orders_server.requests_seen() == 0  # a hit
    with client_for(orders_server.url, kv=RedisKV(url, prefix=prefix), cache_seconds=60, keyring=new) as client:
        assert client.get_order("ORD-1001-1") == order and orders_server.requests_seen() == 1  # old key gone: a miss
        assert raw.get(prefix + "orders:order:ORD-1001-1").decode().startswith("enc1:new:")  # refilled under the new key
        raw.set(prefix + "orders:order:ORD-1001-1", "enc1:new:" + "A" * 60)  # tampered: a miss too
        assert client.get_order("ORD-1001-1") == order and orders_server.requests_seen() == 2


def test_works_when_mounted_under_a_prefix(tmp_path) -> None:
    """The sandbox process serves the order system under /orders (a base URL with a path)."""
    app = create_sandbox_app(tmp_path / "sandbox.db", webhook_url=None, webhook_secret="")
    with serve_asgi(app) as base, client_for(f"{base}/orders/") as client:
        assert client.get_order("ORD-1003-1") is not None
        assert len(client.list_customer_orders("C-1003")) == 1


def test_demo_data_invariants(orders_server: OrdersServer) -> None:
    now = orders_server.now
    with client_for(orders_server.url) as client:
        by_customer = {cid: client.list_customer_orders(cid) for cid, _, _ in DEMO_CUSTOMERS}
    orders = {o.order_id: o for group in by_customer.values() for o in group}
    assert len(orders) == 8
    for order in orders.values():
        assert order.amount_paid == order.expected_amount_paid
        assert order.placed_at <= now and (order.delivered_at is None or order.delivered_at >= order.placed_at)
    assert orders["ORD-1001-1"].delivered_at == now - timedelta(days=2)
    assert orders["ORD-1001-2"].delivered_at == now - timedelta(days=13)
    assert orders["ORD-1001-3"].delivered_at == now - timedelta(days=15)
    assert (orders["ORD-1001-4"].status, orders["ORD-1001-4"].delivered_at) == ("shipped", None)
    assert (orders["ORD-1001-5"].status, orders["ORD-1001-5"].delivered_at) == ("processing", None)
    mugs = orders["ORD-1001-1"].lines[0]
    assert mugs.quantity == 3 and mugs.discount_total % mugs.quantity != 0
    assert all(line.tax_total > 0 for line in orders["ORD-1001-1"].lines)
    assert {o.currency for o in by_customer["C-1002"]} == {"EUR", "USD"}
    assert any(o.delivered_at and now - o.delivered_at <= timedelta(days=3) for o in by_customer["C-1002"])
    assert len(by_customer["C-1003"]) == 1


def test_order_json_round_trip_and_validation() -> None:
    order = demo_order(datetime(2025, 1, 31, tzinfo=timezone.utc), "ORD-1001-1")
    data = order.to_json()
    assert data["delivered_at"] == "2025-01-29T00:00:00Z"
    assert OrderData.from_json(data) == order
    broken = [
        dict(data, placed_at="2025-01-01T00:00:00"),  # naive
        dict(data, status="delivered", delivered_at=None),
        dict(data, status="lost"),
        dict(data, currency="eur"),
        dict(data, lines=[]),
        dict(data, lines=[dict(data["lines"][0], quantity=True)]),
        dict(data, shipping_amount=-1),
        "not an object",
    ]
    for payload in broken:
        with pytest.raises(ValueError):
            OrderData.from_json(payload)


def test_fault_switch_validates_and_spares_health(orders_server: OrdersServer) -> None:
    assert orders_server.http.post(f"{orders_server.url}/_faults", json={"mode": "explode"}).status_code == 400
    orders_server.set_faults("error", status=503)
    assert orders_server.http.get(f"{orders_server.url}/health").status_code == 200
    assert orders_server.http.get(f"{orders_server.url}/orders/ORD-1001-1").status_code == 503


def test_get_order_client_uses_settings() -> None:
    from support_app.settings import get_settings

    # Other tests rebuild the settings (get_settings.cache_clear with their own env): a
    # client cached under those would name their URL; this test is about building one.
    get_order_client.cache_clear()
    client = get_order_client()
    assert client is get_order_client()
    assert client.base_url == get_settings().order_system_url.rstrip("/")
