"""The gateway client against the gateway sandbox over real loopback HTTP.

Why: refunds must happen exactly once. The client retries with the same Idempotency-Key
and turns "no answer" into ``unknown`` instead of guessing; the gateway replays instead
of refunding twice. Each failure mode ends by counting the money moved on the payment.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import httpx
import pytest

from fixtures_gateway import GATEWAY_WEBHOOK_SECRET, GatewayServer, WebhookReceiver, scripted
from fixtures_gateway import gateway_client_for as client_for, new_idempotency_key as new_key
from fixtures_gateway import gateway_server, gateway_server_session, webhook_receiver  # noqa: F401
from fixtures_http import refused_url, serve_asgi
from support_app.integrations.gateway_client import GatewayClient, GatewayResult, GatewayUnavailable, get_gateway_client
from support_app.integrations.gateway_webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookRejected, sign
from support_app.integrations.gateway_webhook import signed_headers, verify
from support_app.sandbox.catalogue import demo_orders
from support_app.sandbox.db import SandboxDB
from support_app.sandbox.gateway import create_gateway_app
from support_app.settings import get_settings

HUNG = 15  # seconds; only a guard against hanging, not a performance claim
PAY = "PAY-1001-1"  # a demo EUR payment
CAPTURED = {o.payment_reference: o.amount_paid for o in demo_orders(datetime.now(timezone.utc))}  # independent of now


def refund(client: GatewayClient, key: str, amount: int = 1000, ref: str = PAY, currency: str = "EUR") -> GatewayResult:
    return client.create_refund(ref, amount, currency, key, {"case": "CASE-1"})


def test_success_moves_money_once(gateway_server: GatewayServer) -> None:
    with client_for(gateway_server.url) as client:
        result = refund(client, new_key(), 1234)
    assert result.outcome == "succeeded" and result.http_status == 201
    assert result.reference and result.reference.startswith("re_") and result.failure_reason is None
    payment = gateway_server.payment(PAY)
    assert payment["refunded"] == 1234 and payment["refund_count"] == 1
    assert payment["captured"] == CAPTURED[PAY] and payment["currency"] == "EUR"


def test_same_key_replays_the_same_refund(gateway_server: GatewayServer) -> None:
    key = new_key()
    with client_for(gateway_server.url) as client:
        first, second = refund(client, key), refund(client, key)
        assert client.find_refund(key) == GatewayResult("succeeded", first.reference, http_status=200, amount=first.amount,
                                                        currency="EUR")
    assert second.outcome == "succeeded" and second.reference == first.reference
    assert gateway_server.payment(PAY)["refund_count"] == 1
    assert gateway_server.counters() == (2, 1)


def test_same_key_other_amount_is_refused_and_logged_as_our_bug(gateway_server: GatewayServer, caplog) -> None:
    key = new_key()
    with client_for(gateway_server.url) as client, caplog.at_level(logging.ERROR):
        assert refund(client, key, 1000).outcome == "succeeded"
        reused = refund(client, key, 2000)
    assert (reused.outcome, reused.failure_reason, reused.http_status) == ("failed", "idempotency_key_reused", 422)
    assert any(r.levelno == logging.ERROR and "idempotency_key_reused" in r.getMessage() for r in caplog.records)
    assert gateway_server.payment(PAY)["refunded"] == 1000


def test_exceeding_captured_fails_and_is_stored(gateway_server: GatewayServer) -> None:
    captured = gateway_server.payment(PAY)["captured"]
    key = new_key()
    with client_for(gateway_server.url) as client:
        result = refund(client, key, captured + 1)
        assert (result.outcome, result.failure_reason, result.http_status) == ("failed", "exceeds_captured", 402)
        assert result.failure_message == "Refund exceeds the amount captured" and result.reference
        assert refund(client, key, captured + 1).reference == result.reference  # stored decline replays
    assert gateway_server.payment(PAY)["refunded"] == 0


def test_two_keys_together_exceeding_captured(gateway_server: GatewayServer) -> None:
    captured = gateway_server.payment(PAY)["captured"]
    with client_for(gateway_server.url) as client:
        assert refund(client, new_key(), captured - 100).outcome == "succeeded"
        second = refund(client, new_key(), 101)
        assert refund(client, new_key(), 100).outcome == "succeeded"  # exactly the rest is fine
    assert (second.outcome, second.failure_reason) == ("failed", "exceeds_captured")
    assert gateway_server.payment(PAY)["refunded"] == captured


def test_unknown_payment_and_wrong_currency_are_definite_failures(gateway_server: GatewayServer) -> None:
    with client_for(gateway_server.url) as client:
        missing = refund(client, new_key(), ref="PAY-NOPE")
        wrong = refund(client, new_key(), currency="USD")
    assert (missing.outcome, missing.failure_reason, missing.http_status) == ("failed", "payment_not_found", 404)
    assert (wrong.outcome, wrong.failure_reason, wrong.http_status) == ("failed", "currency_mismatch", 400)


def test_5xx_once_then_success_is_one_refund(gateway_server: GatewayServer) -> None:
    gateway_server.set_faults("error", status=503, count=1)
    with client_for(gateway_server.url, retries=2) as client:
        result = refund(client, new_key())
    assert result.outcome == "succeeded" and gateway_server.payment(PAY)["refund_count"] == 1
    faults = gateway_server.faults()
    assert faults["create_requests"] == 2 and faults["mode"] == "none"  # count used up: back to normal


def test_5xx_always_is_unknown_and_nothing_stored(gateway_server: GatewayServer, caplog) -> None:
    gateway_server.set_faults("error", status=500)
    key = new_key()
    with client_for(gateway_server.url, retries=2) as client, caplog.at_level(logging.WARNING):
        result = refund(client, key)
        assert client.find_refund(key) is None  # lookups are not faulted: the gateway never committed it
    assert (result.outcome, result.reference, result.http_status) == ("unknown", None, 500)
    assert gateway_server.counters() == (3, 0) and gateway_server.payment(PAY)["refund_count"] == 0
    assert "outcome unknown" in caplog.text


def test_commit_then_timeout_is_unknown_but_found_and_replayed(gateway_server: GatewayServer) -> None:
    gateway_server.set_faults("commit_then_timeout", latency_ms=1000)
    key = new_key()
    started = time.monotonic()
    with client_for(gateway_server.url, timeout_seconds=0.3, retries=2) as client:
        result = refund(client, key)
    assert time.monotonic() - started < HUNG
    assert (result.outcome, result.reference) == ("unknown", None)
    gateway_server.set_faults("none")
    with client_for(gateway_server.url) as client:
        found = client.find_refund(key)
        assert found is not None and found.outcome == "succeeded"  # money moved although we timed out
        retry = refund(client, key)
    assert retry.outcome == "succeeded" and retry.reference == found.reference
    assert gateway_server.payment(PAY)["refund_count"] == 1
    assert gateway_server.counters() == (4, 1)  # four requests, one refund


def test_decline_is_failed_with_reason_and_stored(gateway_server: GatewayServer) -> None:
    gateway_server.set_faults("decline")
    key = new_key()
    with client_for(gateway_server.url) as client:
        result = refund(client, key)
        gateway_server.set_faults("none")
        replay = refund(client, key)  # a stored decline replays; it does not turn into a refund
    assert (result.outcome, result.failure_reason, result.http_status) == ("failed", "card_declined", 402)
    assert result.reference and result.failure_message
    assert (replay.outcome, replay.reference) == ("failed", result.reference)
    assert gateway_server.payment(PAY)["refund_count"] == 0


def test_async_refund_settles_by_webhook(gateway_server: GatewayServer, webhook_receiver: WebhookReceiver) -> None:
    gateway_server.set_faults("async", webhook_delay_ms=100)
    key = new_key()
    with client_for(gateway_server.url) as client:
        result = refund(client, key, 700)
        assert (result.outcome, result.http_status) == ("pending", 202) and result.reference
        [event] = webhook_receiver.wait_for(1)
        assert event["type"] == "refund.succeeded" and event["id"].startswith("evt_")
        assert event["data"]["id"] == result.reference and event["data"]["status"] == "succeeded"
        assert event["data"]["idempotency_key"] == key and isinstance(event["created"], int)
        found = client.find_refund(key)
        assert found is not None and (found.outcome, found.reference) == ("succeeded", result.reference)
        gateway_server.set_faults("none")
        assert refund(client, key, 700).outcome == "succeeded"  # replay reflects the settled state
    assert gateway_server.payment(PAY)["refund_count"] == 1 and webhook_receiver.rejected == []
    assert gateway_server.webhooks() == [event]


def test_redeliver_sends_the_same_event_again(gateway_server: GatewayServer, webhook_receiver: WebhookReceiver) -> None:
    gateway_server.set_faults("async", webhook_delay_ms=0)
    with client_for(gateway_server.url) as client:
        assert refund(client, new_key()).outcome == "pending"
    [event] = webhook_receiver.wait_for(1)
    delivery = gateway_server.redeliver(event["id"])
    assert delivery["status_code"] == 200 and delivery["error"] is None
    first, again = webhook_receiver.wait_for(2)
    assert again == first  # same event id and body: receivers must dedupe on the id
    assert gateway_server.payment(first["data"]["payment_reference"])["refund_count"] == 1


def test_concurrent_same_key_makes_one_refund(gateway_server: GatewayServer) -> None:
    key = new_key()
    gateway_server.set_faults("latency", latency_ms=50)  # overlap the requests inside the server

    def one(_: int) -> GatewayResult:
        with client_for(gateway_server.url) as client:
            return refund(client, key)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8), timeout=HUNG))
    assert len(results) == 8 and len({r.reference for r in results}) == 1
    assert {r.outcome for r in results} == {"succeeded"}
    assert gateway_server.payment(PAY)["refund_count"] == 1


def test_connection_refused_is_unknown_and_lookup_unavailable() -> None:
    started = time.monotonic()
    with refused_url() as url, client_for(url, retries=1) as client:
        assert refund(client, new_key()) == GatewayResult("unknown")
        pytest.raises(GatewayUnavailable, client.find_refund, new_key())
        assert time.monotonic() - started < HUNG


def test_lookup_404_from_a_wrong_url_is_not_none(gateway_server: GatewayServer) -> None:
    with client_for(gateway_server.url + "/wrong-prefix") as client:
        with pytest.raises(GatewayUnavailable):
            client.find_refund(new_key())  # a route 404 must not read as "never committed"
    with client_for(gateway_server.url) as client:
        assert client.find_refund(new_key()) is None


def test_every_retry_carries_the_same_key() -> None:
    ok = httpx.Response(201, json={"id": "re_1", "status": "succeeded"})
    transport, seen = scripted(httpx.Response(502), httpx.ReadTimeout("slow"), ok)
    with client_for("http://gw.test", retries=2, transport=transport) as client:
        assert refund(client, "the-one-key-123").outcome == "succeeded"
    assert [r.headers["Idempotency-Key"] for r in seen] == ["the-one-key-123"] * 3


@pytest.mark.parametrize(("answer", "expected"), [
        (httpx.Response(200, json={"id": "re_1", "status": "pending"}), ("pending", "re_1", None)),
        (httpx.Response(202, json={"id": "re_2", "status": "pending"}), ("pending", "re_2", None)),
        (httpx.Response(201, text="not json"), ("unknown", None, None)),
        (httpx.Response(409, json={"error": "request_in_progress"}), ("unknown", None, None)),
        (httpx.Response(402, json={"id": "re_3", "status": "failed"}), ("failed", "re_3", "declined")),
        (httpx.Response(401, text="no"), ("failed", None, "http_401")),
])
def test_answer_mapping(answer: httpx.Response, expected: tuple) -> None:
    transport, seen = scripted(answer)
    with client_for("http://gw.test", transport=transport) as client:
        result = refund(client, new_key())
    assert (result.outcome, result.reference, result.failure_reason) == expected and len(seen) == 1


def test_find_refund_retries_then_answers_or_gives_up() -> None:
    found = httpx.Response(200, json={"id": "re_9", "status": "failed", "failure_reason": "card_declined"})
    transport, seen = scripted(httpx.ConnectError("down"), httpx.Response(503), found)
    with client_for("http://gw.test", retries=2, transport=transport) as client:
        assert client.find_refund("key-12345678") == GatewayResult("failed", "re_9", "card_declined", None, 200)
    assert seen[0].url.params["idempotency_key"] == "key-12345678"
    transport, seen = scripted(httpx.Response(500), httpx.Response(500))
    with client_for("http://gw.test", retries=1, transport=transport) as client, pytest.raises(GatewayUnavailable):
        client.find_refund("key-12345678")
    assert len(seen) == 2


def test_sandbox_validates_requests_and_hides_faults_when_disabled(gateway_server: GatewayServer, tmp_path) -> None:
    http, url = gateway_server.http, f"{gateway_server.url}/refunds"
    body = {"payment_reference": PAY, "amount": 100, "currency": "EUR", "metadata": {}}
    assert http.post(url, json=body).json()["error"] == "invalid_idempotency_key"
    assert http.post(url, json=body, headers={"Idempotency-Key": "short"}).status_code == 400
    bad = http.post(url, json=body | {"amount": 0}, headers={"Idempotency-Key": new_key()})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    assert http.post(f"{gateway_server.url}/_faults", json={"mode": "explode"}).status_code == 400
    db = SandboxDB(tmp_path / "sandbox.db")
    try:
        with serve_asgi(create_gateway_app(db, enable_faults=False)) as base:
            for path in ("/_faults", "/_webhooks"):
                assert httpx.get(f"{base}{path}").status_code == 404
            assert httpx.post(f"{base}/_reset").status_code == 404
            assert httpx.get(f"{base}/payments/{PAY}").json()["refund_count"] == 0
            assert httpx.get(f"{base}/health").json()["status"] == "ok"
    finally:
        db.close()


def test_factory_reads_settings() -> None:
    get_gateway_client.cache_clear()
    client = get_gateway_client()
    assert client is get_gateway_client()  # one pool per process
    assert client.base_url == get_settings().payment_gateway_url.rstrip("/")
    get_gateway_client.cache_clear()


# -- webhook signatures ----------------------------------------------------------

NOW = 1_700_000_000
BODY = b'{"id":"evt_1","type":"refund.succeeded"}'


def check(**overrides: object) -> Callable[[], None]:
    args: dict = {"secret": GATEWAY_WEBHOOK_SECRET, "timestamp_header": str(NOW),
                  "signature_header": sign(GATEWAY_WEBHOOK_SECRET, NOW, BODY), "body": BODY, "now": NOW}
    args.update(overrides)
    return lambda: verify(**args)  # type: ignore[arg-type]


def test_webhook_good_signature_passes() -> None:
    check()()
    check(now=NOW + 299)()  # inside the tolerance either way
    headers = signed_headers(GATEWAY_WEBHOOK_SECRET, NOW, BODY)
    assert headers[TIMESTAMP_HEADER] == str(NOW)
    check(signature_header=headers[SIGNATURE_HEADER].upper())()  # hex case does not matter


@pytest.mark.parametrize(("overrides", "reason"), [
        ({"signature_header": sign("another-secret", NOW, BODY)}, "bad_signature"),
        ({"signature_header": "é" * 64}, "bad_signature"),
        ({"body": BODY.replace(b"succeeded", b"failed")}, "bad_signature"),
        ({"now": NOW + 301}, "stale"),
        ({"now": NOW - 301}, "stale"),  # timestamp in the future
        ({"timestamp_header": None}, "missing_headers"),
        ({"signature_header": ""}, "missing_headers"),
        ({"timestamp_header": "yesterday"}, "bad_timestamp"),
        ({"timestamp_header": "-5"}, "bad_timestamp"),
        ({"secret": ""}, "bad_signature"),
])
def test_webhook_rejections(overrides: dict, reason: str) -> None:
    with pytest.raises(WebhookRejected) as info:
        check(**overrides)()
    assert info.value.reason == reason
