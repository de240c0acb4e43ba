"""A gateway answer about another amount or currency than the attempt asked for.

The client reads the amount and currency every refund object states; recording
(refund_execution.record_outcome, shared by workers and webhooks) compares them with
the attempt. A mismatch is recorded with what the gateway said, the refund is never
marked refunded, never retried, and is put in front of the agents (refund page alert,
refund queue); the customer's view does not change.

Real SQLite file, order and gateway sandboxes over loopback HTTP; the webhook through
the app's real route; one run end to end through running Workers and the sandbox's
``mismatch`` fault.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from fixtures_db import code_of, count, order_client, orders_server, orders_server_session, people, run  # noqa: F401
from fixtures_gateway import GatewayServer, gateway_server, gateway_server_session, scripted  # noqa: F401
from support_app.db import session_scope
from support_app.domain.errors import ErrorCode
from support_app.integrations.gateway_client import GatewayClient, GatewayResult, stated_money
from support_app.models import CaseEvent, RefundAttempt, RefundEvent
from support_app.models.base import utcnow
from support_app.services import case_queries as cq
from support_app.services import refund_queries as rq
from support_app.services import refund_queue as rqueue
from support_app.services import refund_review as rv
from support_app.services.refund_execution import record_outcome
from test_exactly_once import (  # noqa: F401
    alice_case, approve, ask, attempts_of, gateway, refund_row, running_workers, send_due, wait_until,
)
from test_gateway_webhook_endpoint import client, post, rig  # noqa: F401

E = ErrorCode


def record(engine, attempt_id: int, result: GatewayResult) -> str | None:
    with session_scope(engine, write=True) as s:
        return record_outcome(s, attempt_id, result)


def processing_refund(engine, people, case_id, selection=None) -> tuple[int, int, str]:
    """A refund approved and waiting for the gateway: (refund id, attempt id, key)."""
    rid = ask(engine, people.alice, case_id, selection or {"L1": 2})  # €27.77
    ref = approve(engine, people.sam, rid)
    return rid, ref.attempt_id, ref.idempotency_key


# -- the client reads what the answer states -------------------------------------------


@pytest.mark.parametrize(("body", "expected"), [
    ({"amount": 2777, "currency": "EUR"}, (2777, "EUR")),
    ({"amount": 2777, "currency": "eur"}, (2777, "EUR")),
    ({"amount": 0, "currency": "USD"}, (0, "USD")),
    ({"amount": 10**15, "currency": "EUR"}, (10**15, "EUR")),
    ({"amount": 10**15 + 1, "currency": "EUR"}, (None, "EUR")),  # not a figure anyone can trust (nor a BIGINT)
    ({"amount": -1, "currency": "EUR"}, (None, "EUR")),
    ({"amount": 27.77, "currency": "EUR"}, (None, "EUR")),
    ({"amount": "2777", "currency": "EUR"}, (None, "EUR")),
    ({"amount": True, "currency": "EUR"}, (None, "EUR")),
    ({"amount": 2777, "currency": "EURO"}, (2777, None)),
    ({"amount": 2777, "currency": "E1R"}, (2777, None)),
    ({"amount": 2777, "currency": "ÉUR"}, (2777, None)),
    ({"amount": 2777, "currency": 978}, (2777, None)),
    ({}, (None, None)),
])
def test_the_money_an_answer_states(body, expected):
    assert stated_money(body) == expected


@pytest.mark.parametrize(("answer", "expected"), [
    (httpx.Response(201, json={"id": "re_1", "status": "succeeded", "amount": 100000, "currency": "EUR"}),
     GatewayResult("succeeded", "re_1", http_status=201, amount=100000, currency="EUR")),
    (httpx.Response(202, json={"id": "re_2", "status": "succeeded", "amount": 2777, "currency": "USD"}),
     GatewayResult("pending", "re_2", http_status=202, amount=2777, currency="USD")),
    (httpx.Response(402, json={"id": "re_3", "status": "failed", "failure_reason": "card_declined", "amount": 5,
                               "currency": "EUR"}),
     GatewayResult("failed", "re_3", "card_declined", None, 402, 5, "EUR")),
    (httpx.Response(402, json={"failure_reason": "card_declined"}),
     GatewayResult("failed", None, "card_declined", None, 402)),
    (httpx.Response(201, json={"id": "re_4", "status": "succeeded"}),
     GatewayResult("succeeded", "re_4", http_status=201)),
])
def test_the_client_passes_the_stated_amount_and_currency_on(answer, expected):
    transport, _ = scripted(answer)
    with GatewayClient("http://gw.test", transport=transport, backoff_seconds=0.01) as c:
        assert c.create_refund("PAY-1", 2777, "EUR", "key-mismatch-1", {}) == expected


def test_the_sandbox_can_answer_about_another_amount_or_currency(gateway_server: GatewayServer, gateway):  # noqa: F811
    gateway_server.set_faults("mismatch", answer_amount=100000, count=1)
    said = gateway.create_refund("PAY-1001-1", 2777, "EUR", "key-mismatch-sandbox-1", {})
    assert (said.outcome, said.amount, said.currency) == ("succeeded", 100000, "EUR")
    # The refund it made is the one asked for: its ledger and a lookup say so.
    assert gateway_server.payment("PAY-1001-1")["refunded"] == 2777
    found = gateway.find_refund("key-mismatch-sandbox-1")
    assert (found.amount, found.currency, found.reference) == (2777, "EUR", said.reference)
    gateway_server.set_faults("mismatch", answer_currency="USD", count=1)
    assert stated_money({"amount": 1, "currency": "USD"}) == (1, "USD")
    said = gateway.create_refund("PAY-1001-1", 536, "EUR", "key-mismatch-sandbox-2", {})
    assert (said.amount, said.currency) == (536, "USD")
    bad = gateway_server.http.post(f"{gateway_server.url}/_faults", json={"mode": "mismatch"})
    assert bad.status_code == 400 and "answer_amount or answer_currency" in bad.json()["detail"]


# -- recording: never refunded, never retried, in front of an agent --------------------


def test_an_answer_for_another_amount_is_recorded_and_put_in_front_of_an_agent(engine, people, alice_case, published):
    rid, attempt_id, key = processing_refund(engine, people, alice_case)
    published.clear()
    said = GatewayResult("succeeded", "re_wrong", http_status=201, amount=100000, currency="EUR")
    assert record(engine, attempt_id, said) == "mismatch"
    [attempt] = attempts_of(engine, rid)
    assert (attempt.status, attempt.reported_amount, attempt.reported_currency, attempt.gateway_reference, attempt.error_code) == (
        "mismatch", 100000, "EUR", "re_wrong", "answer_succeeded")
    assert attempt.error_message == "The payment gateway says it refunded €1,000.00 for this attempt of €27.77."
    r = refund_row(engine, rid)
    assert (r.status, r.gateway_reference) == ("processing", None)  # never marked refunded
    with session_scope(engine) as s:
        assert s.exec(select(RefundEvent).where(RefundEvent.refund_case_id == rid, RefundEvent.to_status == "refunded")).all() == []
        [note] = s.exec(select(CaseEvent).where(CaseEvent.case_id == alice_case, CaseEvent.internal == True)).all()  # noqa: E712
    assert note.detail.startswith(f"Refund {r.number} needs an agent: The payment gateway says it refunded €1,000.00")
    assert [c.internal for c in published] == [True] and rid in published[0].refunds

    agent = run(engine, rq.get_refund, people.sam, rid, write=False)
    assert agent.mismatch_alert.startswith("The payment gateway says it refunded €1,000.00 for this attempt of €27.77. "
                                           "This refund was not marked refunded and will not be sent again.")
    assert key in agent.mismatch_alert and "re_wrong" in agent.mismatch_alert
    assert agent.actions == []  # nothing to approve, retry or reconcile
    customer = run(engine, rq.get_refund, people.alice, rid, write=False)
    assert (customer.status, customer.mismatch_alert, customer.attempts) == ("processing", "", [])
    assert "1,000" not in repr(customer) and "1,000" not in repr(run(engine, cq.get_case, people.alice, alice_case, write=False))
    queue = run(engine, rqueue.refund_queue, people.sam, "requested", write=False)
    assert [row.id for row in queue.attention] == [rid] and rid not in [row.id for row in queue.rows]

    # Later answers about the same key change nothing, even a matching one.
    assert record(engine, attempt_id, GatewayResult("succeeded", "re_right", amount=2777, currency="EUR")) is None
    assert (refund_row(engine, rid).status, attempts_of(engine, rid)[0].status) == ("processing", "mismatch")
    # Nothing sends it again or makes a second attempt.
    assert send_due(engine, GatewayClient("http://127.0.0.1:9", retries=0), at=utcnow() + timedelta(days=1)) == {}
    assert code_of(engine, rv.check_with_gateway, people.sam, rid) is E.REFUND_ALREADY_PROCESSED
    assert code_of(engine, rv.approve_refund, people.sam, rid) is E.REFUND_ALREADY_PROCESSED
    assert code_of(engine, rv.retry_refund, people.sam, rid) is E.REFUND_ALREADY_PROCESSED
    with pytest.raises(IntegrityError):  # the database itself: a mismatch counts as the refund's live attempt
        with session_scope(engine, write=True) as s:
            s.add(RefundAttempt(refund_case_id=rid, idempotency_key="second-live-attempt", status="pending",
                                amount=2777, currency="EUR"))


@pytest.mark.parametrize(("said", "message"), [
    (GatewayResult("succeeded", "re_1", amount=2777, currency="USD"),
     "The payment gateway says it refunded $27.77 for this attempt of €27.77."),
    (GatewayResult("succeeded", "re_1"), "The payment gateway says it refunded an unstated amount for this attempt of €27.77."),
    (GatewayResult("pending", "re_1", amount=2776, currency="EUR"),
     "The payment gateway says it accepted a refund of €27.76 for this attempt of €27.77."),
    (GatewayResult("failed", "re_1", "card_declined", amount=99, currency="EUR"),
     "The payment gateway says it declined a refund of €0.99 for this attempt of €27.77."),
])
def test_other_currencies_unstated_amounts_pending_and_declines_about_other_money(engine, people, alice_case, said, message):
    rid, attempt_id, _ = processing_refund(engine, people, alice_case)
    assert record(engine, attempt_id, said) == "mismatch"
    [attempt] = attempts_of(engine, rid)
    assert (attempt.status, attempt.error_message, refund_row(engine, rid).status) == ("mismatch", message, "processing")
    assert (attempt.reported_amount, attempt.reported_currency) == (said.amount, said.currency)


def test_answers_that_agree_are_applied_as_before(engine, people, alice_case):
    rid, attempt_id, _ = processing_refund(engine, people, alice_case)
    assert record(engine, attempt_id, GatewayResult("pending", "re_ok", amount=2777, currency="EUR")) is None  # wait for it
    assert record(engine, attempt_id, GatewayResult("succeeded", "re_ok", amount=2777, currency="EUR")) == "succeeded"
    assert (refund_row(engine, rid).status, refund_row(engine, rid).gateway_reference) == ("refunded", "re_ok")
    other, attempt_id, _ = processing_refund(engine, people, alice_case, {"L2": 1})
    assert record(engine, attempt_id, GatewayResult("failed", "re_no", "card_declined", "Declined")) == "failed"  # names no money
    assert refund_row(engine, other).status == "failed"


# -- webhooks go through the same comparison -------------------------------------------


def test_a_webhook_about_another_amount_is_recorded_as_a_mismatch(engine, people, alice_case, rig, client):  # noqa: F811
    server, hook = rig
    rid, attempt_id, key = processing_refund(engine, people, alice_case)
    server.set_faults("async", webhook_delay_ms=60_000)  # the gateway stays quiet; we deliver by hand
    assert send_due(engine, client) == {attempt_id: "pending"}
    data = server.http.get(f"{server.url}/refunds", params={"idempotency_key": key}).json()
    assert (data["amount"], data["currency"]) == (2777, "EUR")
    event = {"id": "evt_other_amount_1", "type": "refund.succeeded", "created": 0,
             "data": {**data, "status": "succeeded", "amount": 277700}}
    assert post(hook, event).json() == {"result": "mismatch"}
    assert post(hook, event).json() == {"result": "duplicate"}
    [attempt] = attempts_of(engine, rid)
    assert (attempt.status, attempt.reported_amount, refund_row(engine, rid).status) == ("mismatch", 277700, "processing")
    right = {"id": "evt_right_amount_1", "type": "refund.succeeded", "created": 0, "data": {**data, "status": "succeeded"}}
    assert post(hook, right).json() == {"result": "duplicate"}  # the attempt already waits for an agent
    assert refund_row(engine, rid).status == "processing"


# -- end to end: Workers, the sandbox, its mismatch fault ------------------------------


def test_end_to_end_a_worker_meets_an_answer_for_another_amount(engine, people, alice_case, gateway_server, gateway):  # noqa: F811
    gateway_server.set_faults("mismatch", answer_amount=100000)
    with running_workers(engine, gateway, n=2):
        rid, attempt_id, key = processing_refund(engine, people, alice_case)
        wait_until(lambda: attempts_of(engine, rid)[0].status != "pending", "the workers' answer")
    [attempt] = attempts_of(engine, rid)
    assert (attempt.status, attempt.reported_amount, attempt.reported_currency, attempt.sends) == ("mismatch", 100000, "EUR", 1)
    assert refund_row(engine, rid).status == "processing"
    gateway_server.set_faults("none")
    assert send_due(engine, gateway, at=utcnow() + timedelta(days=1)) == {}  # never retried
    payment = gateway_server.payment("PAY-1001-1")
    assert (payment["refund_count"], payment["refunded"]) == (1, 2777)  # the money that moved, once
    alert = run(engine, rq.get_refund, people.sam, rid, write=False).mismatch_alert
    assert "refunded €1,000.00 for this attempt of €27.77" in alert and key in alert
    assert [r.id for r in run(engine, rqueue.refund_queue, people.sam, "", write=False).attention] == [rid]
