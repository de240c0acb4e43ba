"""Text from a person or the payment gateway never meets a VARCHAR limit. On
PostgreSQL a value longer than its VARCHAR is a database error — the person gets no
message and the page stays busy — so every such column is TEXT or gets a value bounded
or validated before it is stored. The longest values go through the real paths here,
on PostgreSQL: 2,000-character settlement messages and notes, a 5,000-character decline
from the gateway sandbox through a worker, oversized webhook fields, a refund of 500
units. The audit below lists every VARCHAR column and why its values fit.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Text
from sqlmodel import SQLModel, select

import support_app.models  # noqa: F401  (registers every table)
from fixtures_db import PW, make_people, order_client, orders_server, orders_server_session, pg_engine, pg_url, run  # noqa: F401
from fixtures_gateway import gateway_server, gateway_server_session  # noqa: F401
from support_app.db import session_scope
from support_app.integrations.gateway_client import GatewayResult
from support_app.integrations.order_data import OrderData, OrderLineData
from support_app.models import CaseMessage, RefundAttempt, RefundCase, RefundItem, WebhookEvent
from support_app.models.encrypted import EncryptedText
from support_app.services import auth_service
from support_app.services import case_commands as cmd
from support_app.services import refund_commands as rc
from support_app.services import refund_review as rv
from support_app.services.gateway_events import apply_gateway_event
from support_app.services.refund_execution import record_outcome
from test_exactly_once import approve, ask, attempts_of, gateway, refund_row, send_due  # noqa: F401

CASE = dict(subject="Long words", description="Everything about this order is long.", category="damaged_item")

# Every VARCHAR column, and why nothing a person or the gateway sends can overflow it.
VARCHAR_COLUMNS = {
    ("users", "email_bidx"): "a blind index, 32 hex characters made here",
    ("users", "role"): "an enum",
    ("users", "password_hash"): "an argon2 hash made here",
    ("users", "order_customer_id"): "set by the seed and the admin command, not through a page",
    ("sign_ins", "id"): "made here", ("refresh_tokens", "jti"): "made here", ("refresh_tokens", "family_id"): "made here",
    ("order_snapshots", "order_id"): "fetch_order refuses ids over 64",
    ("order_snapshots", "currency"): "validated: 3 upper-case letters",
    ("order_snapshots", "status"): "validated: one of the order statuses",
    ("order_lines", "line_id"): "order_data refuses ids over 64",
    ("order_lines", "sku"): "order_data refuses ids over 64",
    ("order_lines", "name"): "order_data shortens names over 200",
    ("support_cases", "number"): "made here", ("support_cases", "category"): "an enum",
    ("support_cases", "priority"): "an enum", ("support_cases", "status"): "an enum",
    ("case_messages", "visibility"): "an enum",
    ("case_events", "kind"): "made here", ("case_events", "from_status"): "an enum", ("case_events", "to_status"): "an enum",
    ("refund_cases", "number"): "made here", ("refund_cases", "status"): "an enum", ("refund_cases", "reason"): "an enum",
    ("refund_cases", "currency"): "the snapshot's", ("refund_cases", "request_key"): "validated: 8..64 characters",
    ("refund_cases", "decision_code"): "an enum",
    ("refund_events", "kind"): "made here", ("refund_events", "from_status"): "an enum", ("refund_events", "to_status"): "an enum",
    ("refund_attempts", "idempotency_key"): "made here", ("refund_attempts", "status"): "made here",
    ("refund_attempts", "currency"): "the refund's",
    ("refund_attempts", "error_code"): "the gateway's code, cut to 64 (refund_execution.clip)",
    ("refund_attempts", "reported_currency"): "the gateway's, only when it is 3 letters (stated_money)",
    ("refund_attempts", "claimed_by"): "a worker id, cut to 64",
    ("webhook_events", "event_id"): "the gateway's, events with longer ids are ignored",
    ("webhook_events", "type"): "the gateway's, cut to 64",
    ("webhook_events", "idempotency_key"): "the gateway's, events with longer keys are ignored (not ours)",
    ("customer_name_terms", "term_bidx"): "a blind index made here", ("case_subject_terms", "term_bidx"): "a blind index made here",
}
# Free text from a person or the gateway: TEXT (ciphertext when it is customer or decision text).
TEXT_COLUMNS = {
    ("refund_cases", "note"), ("refund_cases", "decision_note"), ("refund_cases", "internal_note"),
    ("refund_cases", "gateway_reference"), ("refund_cases", "failure_reason"),
    ("refund_attempts", "gateway_reference"), ("refund_attempts", "error_message"),
    ("refund_items", "unit_amounts"), ("case_messages", "body"), ("case_events", "detail"), ("refund_events", "detail"),
    ("support_cases", "subject"), ("support_cases", "description"),
}


def test_every_varchar_column_is_accounted_for():
    varchar = {(t.name, c.name) for t in SQLModel.metadata.sorted_tables for c in t.columns
               if getattr(c.type, "length", None) and not isinstance(c.type, (Text, EncryptedText))}  # String, AutoString
    assert varchar == set(VARCHAR_COLUMNS)
    text = {(t.name, c.name) for t in SQLModel.metadata.sorted_tables for c in t.columns
            if isinstance(c.type, (Text, EncryptedText))}
    assert TEXT_COLUMNS <= text


# -- PostgreSQL: the longest values, through the real paths ----------------------------

LONG_2000 = ("A long settlement message. " * 80)[:1999] + "!"
NOTE_2000 = ("Internal: checked with the warehouse. " * 60)[:1999] + "!"


@pytest.fixture
def pg_people(pg_engine, monkeypatch):  # noqa: F811
    return make_people(pg_engine, monkeypatch)


@pytest.mark.postgres
def test_2000_character_messages_and_notes_are_stored_on_postgresql(pg_engine, pg_people, order_client):  # noqa: F811
    who = pg_people
    late = run(pg_engine, cmd.create_case, who.alice, "ORD-1001-3", client=order_client, **CASE)
    rid = run(pg_engine, rc.record_settlement, who.sam, late, {"L1": 1}, "damaged", "store_credit", 3808, LONG_2000,
              "long-key-0001", NOTE_2000)
    cid = run(pg_engine, cmd.create_case, who.alice, "ORD-1001-1", client=order_client, **CASE)
    asked = run(pg_engine, rc.request_refund, who.alice, cid, {"L2": 1}, "damaged", "n" * rc.NOTE_MAX, "long-key-0002")
    run(pg_engine, rv.settle_refund, who.sam, asked, "goodwill", 2975, LONG_2000, NOTE_2000)
    rejected = run(pg_engine, rc.request_refund, who.alice, cid, {"L3": 1}, "damaged", "", "long-key-0003")
    run(pg_engine, rv.reject_refund, who.sam, rejected, "other", LONG_2000)
    with session_scope(pg_engine) as s:
        rows = {r.id: r for r in s.exec(select(RefundCase))}
        bodies = [m.body for m in s.exec(select(CaseMessage))]
    assert (rows[rid].decision_note, rows[rid].internal_note) == (LONG_2000, NOTE_2000)
    assert (rows[asked].note, rows[asked].decision_note, rows[asked].internal_note) == ("n" * rc.NOTE_MAX, LONG_2000, NOTE_2000)
    assert rows[rejected].decision_note == LONG_2000
    assert sum(LONG_2000 in b for b in bodies) == 3 and sum(NOTE_2000 in b for b in bodies) == 2


@pytest.mark.postgres
def test_a_5000_character_decline_from_the_gateway_is_stored_cut_on_postgresql(pg_engine, pg_people, order_client,  # noqa: F811
                                                                               gateway_server, gateway):  # noqa: F811
    cid = run(pg_engine, cmd.create_case, pg_people.alice, "ORD-1001-1", client=order_client, **CASE)
    rid = ask(pg_engine, pg_people.alice, cid, {"L2": 1})
    ref = approve(pg_engine, pg_people.sam, rid)
    message = ("The issuer declined the refund because " + "of a very long reason " * 250)[:5000]
    code = "issuer_" + "x" * 93  # 100 characters
    gateway_server.set_faults("decline", decline_reason=code, decline_message=message)
    assert send_due(pg_engine, gateway) == {ref.attempt_id: "failed"}  # a worker round, as the Workers run it
    [attempt] = attempts_of(pg_engine, rid)
    cut = message[:1999] + "…"
    assert (attempt.status, attempt.error_message, attempt.error_code) == ("failed", cut, code[:63] + "…")
    assert (refund_row(pg_engine, rid).status, refund_row(pg_engine, rid).failure_reason) == ("failed", cut)


@pytest.mark.postgres
def test_oversized_webhook_fields_never_reach_a_varchar_on_postgresql(pg_engine, pg_people, order_client):  # noqa: F811
    cid = run(pg_engine, cmd.create_case, pg_people.alice, "ORD-1001-1", client=order_client, **CASE)
    rid = ask(pg_engine, pg_people.alice, cid, {"L2": 1})
    ref = approve(pg_engine, pg_people.sam, rid)

    def apply(event) -> str:
        with session_scope(pg_engine, write=True) as s:
            return apply_gateway_event(s, event)

    reference = "re_" + "r" * 4997
    data = {"id": reference, "idempotency_key": ref.idempotency_key, "status": "succeeded", "amount": 2975, "currency": "EUR"}
    assert apply({"id": "e" * 81, "type": "refund.succeeded", "data": data}) == "ignored"  # cannot be deduplicated
    assert apply({"id": "evt_long_type", "type": "refund." + "t" * 5000, "data": data}) == "ignored"
    assert apply({"id": "evt_long_key", "type": "refund.succeeded", "data": {**data, "idempotency_key": "k" * 65}}) == "ignored"
    assert apply({"id": "e" * 80, "type": "refund.succeeded", "data": data}) == "applied"
    assert (refund_row(pg_engine, rid).status, refund_row(pg_engine, rid).gateway_reference) == ("refunded", reference)
    assert attempts_of(pg_engine, rid)[0].gateway_reference == reference
    with session_scope(pg_engine) as s:
        stored = {e.event_id: (len(e.type), e.idempotency_key) for e in s.exec(select(WebhookEvent))}
    assert stored == {"evt_long_type": (64, ref.idempotency_key), "evt_long_key": (16, None),
                      "e" * 80: (16, ref.idempotency_key)}


@pytest.mark.postgres
def test_absurd_reported_amounts_are_unstated_not_a_database_error_on_postgresql(pg_engine, pg_people, order_client):  # noqa: F811
    cid = run(pg_engine, cmd.create_case, pg_people.alice, "ORD-1001-1", client=order_client, **CASE)
    for selection, said in (({"L2": 1}, 10**15), ({"L3": 1}, 10**30)):
        rid = ask(pg_engine, pg_people.alice, cid, selection)
        ref = approve(pg_engine, pg_people.sam, rid)
        event = {"id": f"evt_absurd_{said}", "type": "refund.succeeded",
                 "data": {"id": "re_x", "idempotency_key": ref.idempotency_key, "amount": said, "currency": "EURO"}}
        with session_scope(pg_engine, write=True) as s:
            assert apply_gateway_event(s, event) == "mismatch"
        [attempt] = attempts_of(pg_engine, rid)
        assert (attempt.reported_amount, attempt.reported_currency) == (said if said <= 10**15 else None, None)
        with session_scope(pg_engine, write=True) as s:  # and a replayed answer on a recorded mismatch: nothing
            assert record_outcome(s, ref.attempt_id, GatewayResult("succeeded", "re_y", amount=1, currency="EUR")) is None


@pytest.mark.postgres
def test_a_refund_of_500_units_stores_its_unit_amounts_on_postgresql(pg_engine, monkeypatch, orders_server, order_client):  # noqa: F811
    make_people(pg_engine, monkeypatch)
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(timezone.utc).replace(microsecond=0)
    line = OrderLineData("L1", "STRAW-BAMBOO", "Bamboo straw " + "with a very long name " * 20, 500, 1999, 77, 1901)
    orders_server.load([OrderData(f"ORD-U-{tag}", f"C-U-{tag}", now - timedelta(days=3), now - timedelta(days=1), "delivered",
                                  "EUR", (line,), 0, 0, line.paid_total, f"PAY-U-{tag}")])
    who = run(pg_engine, auth_service.create_user, f"u{tag}@example.com", "Uma Units", "customer", PW, f"C-U-{tag}")
    cid = run(pg_engine, cmd.create_case, who, f"ORD-U-{tag}", client=order_client, **CASE)
    rid = run(pg_engine, rc.request_refund, who, cid, {"L1": 500}, "damaged", "", f"units-key-{tag}")
    assert refund_row(pg_engine, rid).amount == line.paid_total
    with session_scope(pg_engine) as s:
        [item] = s.exec(select(RefundItem).where(RefundItem.refund_case_id == rid)).all()
    assert len(item.unit_amounts) > 2000 and sum(int(a) for a in item.unit_amounts.split(",")) == line.paid_total
