"""Asynchronous settlement: the gateway sandbox delivers signed webhooks to the app's
real Starlette route (support_app.api.gateway_webhook) over loopback HTTP.

The route applies events through the app's default engine, so SUPPORT_DATABASE_URL
points at this test's SQLite file (cached settings and engine cleared around the
test, as in test_cli.py). This gateway is our own instance: its webhook URL and
secret are fixed at construction and must be the route's.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select
from starlette.applications import Starlette

from fixtures_db import (  # noqa: F401
    count, order_client, orders_server, orders_server_session, people, reset_app_caches, run,
)
from fixtures_gateway import GatewayServer, WebhookReceiver, gateway_server, gateway_server_session  # noqa: F401
from fixtures_http import refused_url, serve_asgi
from support_app.api import gateway_webhook
from support_app.db import session_scope
from support_app.integrations.gateway_client import GatewayClient
from support_app.integrations.gateway_webhook import signed_headers
from support_app.models import RefundAttempt, RefundEvent, WebhookEvent
from support_app.sandbox.db import SandboxDB
from support_app.sandbox.gateway import create_gateway_app
from support_app.services import refund_queries as rq
from support_app.services.gateway_events import apply_gateway_event
from support_app.models.base import utcnow
from support_app.worker.sender import process
from test_exactly_once import alice_case, approve, ask, attempts_of, gateway, in_threads, refund_row, send_due  # noqa: F401

SECRET = "whsec_endpoint_" + "e" * 32
HUNG = 15.0  # seconds: a guard against hanging, not a performance claim


@pytest.fixture
def rig(engine, monkeypatch, tmp_path) -> Iterator[tuple[GatewayServer, str]]:
    """(our gateway, the app's webhook URL); the route writes into this test's database."""
    monkeypatch.setenv("SUPPORT_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("SUPPORT_GATEWAY_WEBHOOK_SECRET", SECRET)
    reset_app_caches()
    db = SandboxDB(tmp_path / "sandbox.db")
    try:
        with serve_asgi(Starlette(routes=gateway_webhook.routes)) as app_url:
            hook = f"{app_url}/api/gateway/webhook"
            with serve_asgi(create_gateway_app(db, webhook_url=hook, webhook_secret=SECRET)) as url:
                server = GatewayServer(url=url, receiver=WebhookReceiver(secret=SECRET))
                try:
                    yield server, hook
                finally:
                    server.reset()  # cancels settlement timers still waiting
                    server.http.close()
    finally:
        db.close()
        reset_app_caches()


@pytest.fixture
def client(rig) -> Iterator[GatewayClient]:
    with GatewayClient(rig[0].url, timeout_seconds=5, retries=2, backoff_seconds=0.01) as c:
        yield c


def wait_until(predicate, what: str) -> None:
    deadline = time.monotonic() + HUNG
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def state(engine, rid: int) -> tuple:
    r = refund_row(engine, rid)
    with session_scope(engine) as s:
        events = len(list(s.exec(select(RefundEvent.id).where(RefundEvent.refund_case_id == rid))))
    return (r.status, r.version, r.gateway_reference, events,
            [(a.status, a.gateway_reference) for a in attempts_of(engine, rid)])


def event_ids(engine) -> list[str]:
    with session_scope(engine) as s:
        return sorted(s.exec(select(WebhookEvent.event_id)))


def post(hook: str, event: object, *, secret: str = SECRET, ts: int | None = None, body: bytes | None = None,
         headers: dict | None = None) -> httpx.Response:
    raw = json.dumps(event, separators=(",", ":")).encode()
    signed = signed_headers(secret, int(time.time()) if ts is None else ts, raw)
    return httpx.post(hook, content=raw if body is None else body, timeout=10,
                      headers={"Content-Type": "application/json", **(signed if headers is None else headers)})


# -- the gateway settles asynchronously and tells us ----------------------------


def test_async_refunds_are_settled_by_the_webhook_and_replays_change_nothing(engine, people, alice_case, rig, client):
    server, hook = rig
    rids = [ask(engine, people.alice, alice_case, {"L1": 1}), ask(engine, people.alice, alice_case, {"L2": 1})]
    refs = [approve(engine, people.sam, rid) for rid in rids]
    server.set_faults("async", webhook_delay_ms=100)
    assert send_due(engine, client) == {ref.attempt_id: "pending" for ref in refs}
    wait_until(lambda: all(refund_row(engine, rid).status == "refunded" for rid in rids), "both refunds settled")

    events = {e["data"]["idempotency_key"]: e for e in server.webhooks()}
    assert set(events) == {ref.idempotency_key for ref in refs}
    for rid, ref in zip(rids, refs):
        event = events[ref.idempotency_key]
        assert event["type"] == "refund.succeeded"
        assert refund_row(engine, rid).gateway_reference == event["data"]["id"]
        assert [(a.status, a.gateway_reference) for a in attempts_of(engine, rid)] == [("succeeded", event["data"]["id"])]
    assert event_ids(engine) == sorted(e["id"] for e in events.values())
    # The sandbox records a delivery when our answer reaches it, which can be just after the row changed.
    deliveries = lambda: server.http.get(f"{server.url}/_webhooks").json()["deliveries"]  # noqa: E731
    wait_until(lambda: len(deliveries()) == 2, "the sandbox recorded both deliveries")
    assert [d["status_code"] for d in deliveries()] == [200, 200]
    customer_view = run(engine, rq.get_refund, people.alice, rids[0], write=False)
    assert customer_view.status == "refunded" and customer_view.gateway_reference == events[refs[0].idempotency_key]["data"]["id"]

    before = [state(engine, rid) for rid in rids]
    first, other = (events[ref.idempotency_key]["id"] for ref in refs)
    replays = [first] * 3 + [other]
    random.Random(20260101).shuffle(replays)
    for event_id in replays:
        assert server.redeliver(event_id)["status_code"] == 200
    assert post(hook, events[refs[0].idempotency_key]).json() == {"result": "duplicate"}
    assert [state(engine, rid) for rid in rids] == before
    assert len(event_ids(engine)) == count(engine, WebhookEvent) == 2
    payment = server.payment("PAY-1001-1")
    assert (payment["refund_count"], payment["refunded"]) == (2, sum(refund_row(engine, r).amount for r in rids))
    # Settled: nothing is due any more, and a stray late pass over the attempt sends nothing.
    assert send_due(engine, client, at=utcnow() + timedelta(days=1)) == {}
    assert process(refs[0].attempt_id, "test-worker", client, engine) == "skipped"
    assert server.payment("PAY-1001-1")["refund_count"] == 2


# -- forged, stale or malformed deliveries ----------------------------------------


def test_bad_signature_or_stale_timestamp_is_rejected_and_nothing_applied(engine, people, alice_case, rig, client):
    server, hook = rig
    rid = ask(engine, people.alice, alice_case, {"L3": 1})
    ref = approve(engine, people.sam, rid)
    server.set_faults("async", webhook_delay_ms=60_000)  # the gateway stays quiet; we deliver by hand
    assert send_due(engine, client) == {ref.attempt_id: "pending"}
    data = server.http.get(f"{server.url}/refunds", params={"idempotency_key": ref.idempotency_key}).json()
    event = {"id": "evt_by_hand_0001", "type": "refund.succeeded", "created": int(time.time()),
             "data": {**data, "status": "succeeded"}}
    before = state(engine, rid)
    now = int(time.time())
    forged = dict(event, data={**event["data"], "idempotency_key": "refund-1-attempt-9"})
    rejected = [
        post(hook, event, secret="whsec_wrong_" + "w" * 32),
        post(hook, event, ts=now - 3600),
        post(hook, event, ts=now + 3600),
        post(hook, event, headers={}),
        post(hook, event, body=json.dumps(forged).encode()),  # signed over other bytes
    ]
    assert [(r.status_code, r.json()["error"]) for r in rejected] == [
        (400, "webhook rejected: bad_signature"), (400, "webhook rejected: stale"), (400, "webhook rejected: stale"),
        (400, "webhook rejected: missing_headers"), (400, "webhook rejected: bad_signature")]
    garbage = b"not json at all"
    assert httpx.post(hook, content=garbage, headers=signed_headers(SECRET, now, garbage)).status_code == 400
    assert (state(engine, rid), count(engine, WebhookEvent)) == (before, 0)
    assert before[0] == "processing" and before[4] == [("pending", None)]

    assert post(hook, event).json() == {"result": "applied"}
    assert post(hook, event).json() == {"result": "duplicate"}
    assert refund_row(engine, rid).status == "refunded" and event_ids(engine) == ["evt_by_hand_0001"]


# -- apply_gateway_event directly: duplicates, shuffles, concurrency ---------------


def apply(engine, event) -> str:
    with session_scope(engine, write=True) as s:
        return apply_gateway_event(s, event)


def succeeded_event(event_id: str, key: str, reference: str, amount: int, currency: str = "EUR") -> dict:
    """As the gateway sends it: the refund object states its amount and currency."""
    return {"id": event_id, "type": "refund.succeeded",
            "data": {"id": reference, "idempotency_key": key, "status": "succeeded", "amount": amount, "currency": currency}}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_duplicates_in_any_order_apply_once(engine, people, alice_case, seed):
    rid = ask(engine, people.alice, alice_case, {"L1": 1})
    ref = approve(engine, people.sam, rid)
    main = succeeded_event(f"evt_main_{seed}", ref.idempotency_key, f"re_main_{seed}", 1389)
    others = [
        {"id": f"evt_other_type_{seed}", "type": "refund.updated", "data": {"idempotency_key": ref.idempotency_key}},
        succeeded_event(f"evt_stranger_{seed}", "refund-999-attempt-1", "re_stranger", 1389),
        {"type": "refund.succeeded", "data": {"idempotency_key": ref.idempotency_key}},  # no id: not trusted
    ]
    batch = [main] * 3 + others
    random.Random(seed).shuffle(batch)
    got = Counter((e.get("id"), apply(engine, e)) for e in batch)
    assert got == Counter({(main["id"], "applied"): 1, (main["id"], "duplicate"): 2, (f"evt_other_type_{seed}", "ignored"): 1,
                           (f"evt_stranger_{seed}", "unknown_refund"): 1, (None, "ignored"): 1})
    r = refund_row(engine, rid)
    assert (r.status, r.gateway_reference) == ("refunded", f"re_main_{seed}")
    assert [(a.status, a.gateway_reference) for a in attempts_of(engine, rid)] == [("succeeded", f"re_main_{seed}")]
    assert sorted(event_ids(engine)) == sorted([main["id"], f"evt_other_type_{seed}", f"evt_stranger_{seed}"])
    before = state(engine, rid)
    assert [apply(engine, e) for e in batch if e.get("id")].count("applied") == 0
    assert state(engine, rid) == before


def test_the_same_event_delivered_concurrently_applies_once(engine, people, alice_case):
    rid = ask(engine, people.alice, alice_case, {"L2": 1})
    ref = approve(engine, people.sam, rid)
    event = succeeded_event("evt_concurrent", ref.idempotency_key, "re_concurrent", 2975)
    results = in_threads(12, lambda i: apply(engine, event))
    assert Counter(results) == {"applied": 1, "duplicate": 11}, results
    assert count(engine, WebhookEvent) == 1 and state(engine, rid)[0] == "refunded"
    with session_scope(engine) as s:
        assert len(list(s.exec(select(RefundEvent).where(RefundEvent.refund_case_id == rid,
                                                         RefundEvent.to_status == "refunded")))) == 1


def test_a_failed_event_fails_the_refund_with_the_gateways_reason(engine, people, alice_case):
    rid = ask(engine, people.alice, alice_case, {"L3": 2})
    ref = approve(engine, people.sam, rid)
    event = {"id": "evt_failed", "type": "refund.failed",
             "data": {"id": "re_failed", "idempotency_key": ref.idempotency_key, "status": "failed",
                      "failure_reason": "expired_card", "failure_message": "The card has expired"}}
    assert [apply(engine, event) for _ in range(3)] == ["applied", "duplicate", "duplicate"]
    r = refund_row(engine, rid)
    assert (r.status, r.failure_reason) == ("failed", "The card has expired")
    with session_scope(engine) as s:
        attempt = s.exec(select(RefundAttempt).where(RefundAttempt.refund_case_id == rid)).one()
    assert (attempt.status, attempt.error_code, attempt.error_message) == ("failed", "expired_card", "The card has expired")
    assert run(engine, rq.get_refund, people.alice, rid, write=False).outcome_text == (
        "The payment provider could not refund this: The card has expired.")


# -- when no webhook reaches us, the next try asks ---------------------------------


def test_a_lost_webhook_is_made_up_for_by_the_next_try(engine, people, alice_case, gateway_server, gateway):  # noqa: F811
    """The shared gateway sends its webhooks to a test receiver, never to the app."""
    rid = ask(engine, people.alice, alice_case, {"L1": 2})
    ref = approve(engine, people.sam, rid)
    gateway_server.set_faults("async", webhook_delay_ms=50)
    assert send_due(engine, gateway) == {ref.attempt_id: "pending"}
    [event] = gateway_server.receiver.wait_for(1)  # settled at the gateway; the app heard nothing
    assert (refund_row(engine, rid).status, count(engine, WebhookEvent)) == ("processing", 0)
    [attempt] = attempts_of(engine, rid)
    assert attempt.status == "pending" and attempt.next_try_at > attempt.updated_at  # asked again after the backoff
    assert send_due(engine, gateway, at=attempt.next_try_at) == {ref.attempt_id: "succeeded"}
    r = refund_row(engine, rid)
    assert (r.status, r.gateway_reference) == ("refunded", event["data"]["id"])
    assert apply(engine, event) == "duplicate"  # the webhook arriving after all changes nothing
    assert gateway_server.payment("PAY-1001-1")["refund_count"] == 1 and gateway_server.counters() == (1, 1)


def test_an_unreachable_gateway_leaves_the_attempt_for_a_later_try(engine, people, alice_case, gateway_server, gateway):  # noqa: F811
    rid = ask(engine, people.alice, alice_case, {"L3": 1})
    ref = approve(engine, people.sam, rid)
    with refused_url() as url, GatewayClient(url, timeout_seconds=1, retries=1, backoff_seconds=0.01) as down:
        assert send_due(engine, down) == {ref.attempt_id: "unknown"}
        [attempt] = attempts_of(engine, rid)
        assert send_due(engine, down, at=attempt.next_try_at) == {ref.attempt_id: "unreachable"}  # the lookup failed
    [attempt] = attempts_of(engine, rid)
    assert [(a.status, a.idempotency_key, a.sends, a.tries) for a in attempts_of(engine, rid)] == [
        ("unknown", ref.idempotency_key, 1, 2)]
    assert send_due(engine, gateway, at=attempt.next_try_at) == {ref.attempt_id: "succeeded"}  # never seen: same key again
    assert refund_row(engine, rid).status == "refunded" and gateway_server.payment("PAY-1001-1")["refund_count"] == 1
