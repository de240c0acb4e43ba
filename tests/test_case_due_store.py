"""Each case's stored due time (services/case_due_store.py) on a real SQLite file: every
write that can move it stores it in the same transaction, so the queue can sort by it.

After each step of a case's life through the services, the stored ``due_at`` of every
case is compared with the due rule worked out afresh from the case's messages in Python.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from fixtures_db import (  # noqa: F401
    make_people, order_client, orders_server, orders_server_session, people, pg_engine, pg_url, run,
)
from support_app.db import session_scope
from support_app.domain.case_due import due_at
from support_app.models import CaseMessage, SupportCase
from support_app.models.base import utcnow
from support_app.security.crypto import get_keyring
from support_app.services import case_commands as cmd
from support_app.services import refund_commands as rc
from support_app.services import refund_review as rv
from support_app.services import workspace_commands as wc
from support_app.services.case_due_store import backfill_due

encrypt = lambda plain, aad: get_keyring().encrypt(plain, aad)  # noqa: E731  (the body as the app stores it)
CASE = dict(description="Something is wrong with this order.", category="damaged_item")


def stored_and_expected(engine) -> tuple[dict, dict]:
    with session_scope(engine) as s:
        cases = list(s.exec(select(SupportCase)))
        messages = list(s.exec(select(CaseMessage)))
    expected = {}
    for c in cases:
        mine = [m for m in messages if m.case_id == c.id]
        customer = max((m.created_at for m in mine if m.author_id == c.customer_id), default=None)
        agents = max((m.created_at for m in mine if m.author_id != c.customer_id and m.visibility == "public"), default=None)
        expected[c.id] = due_at(c.status, c.priority, c.created_at, customer, agents)
    return {c.id: c.due_at for c in cases}, expected


def assert_stored(engine, step: str) -> dict:
    stored, expected = stored_and_expected(engine)
    assert stored == expected, step
    return stored


def test_every_write_that_moves_a_case_s_due_time_stores_it(engine, people, order_client):
    a = run(engine, cmd.create_case, people.alice, "ORD-1001-1", subject="Cracked mug", priority="normal",
            client=order_client, **CASE)
    b = run(engine, cmd.create_case, people.bob, "ORD-1002-1", subject="Late parcel", priority="urgent",
            client=order_client, **CASE)
    due = assert_stored(engine, "opened")
    assert due[a] is not None and due[b] is not None

    steps = [
        ("customer writes again", cmd.add_message, people.alice, a, "Any news?"),
        ("an agent answers", cmd.add_message, people.sam, a, "We are on it."),
        ("an internal note is no answer", cmd.add_message, people.sam, b, "Checking the warehouse.", True),
        ("assigned", cmd.assign, people.sam, b, people.riley.id),
        ("in progress", cmd.change_status, people.sam, b, "in_progress"),
        ("waiting on the customer", cmd.change_status, people.sam, b, "waiting_on_customer"),
        ("the customer answers: back to the agents", cmd.add_message, people.bob, b, "Here are the photos."),
        ("resolved in one go", wc.resolve, people.sam, a),
        ("reopened by the customer", cmd.reopen_case, people.alice, a, "It broke again."),
        ("the customer writes on the reopened case", cmd.add_message, people.alice, a, "Photos attached."),
    ]
    seen = [due]
    for step, fn, who, *args in steps:
        run(engine, fn, who, *args)
        seen.append(assert_stored(engine, step))
    assert seen[2][a] is None and seen[-1][a] is not None  # answered; due again from the customer's message
    assert (seen[5][b] is not None, seen[6][b], seen[7][b] is not None) == (True, None, True)  # waiting on the customer: none

    # Refund decisions and settlements write a message from support: an answer, stored
    # through touch_case; a request or an approval writes none and leaves it.
    refund = run(engine, rc.request_refund, people.bob, b, {"L1": 1}, "damaged", request_key="due-key-1")
    assert_stored(engine, "refund requested")
    run(engine, rv.reject_refund, people.sam, refund, "no_evidence", "Please send a photo of the damage.")
    assert assert_stored(engine, "refund rejected")[b] is None
    run(engine, cmd.add_message, people.bob, b, "I did send one!")
    assert assert_stored(engine, "the customer writes again")[b] is not None
    settled = run(engine, rc.request_refund, people.bob, b, {"L1": 1}, "damaged", request_key="due-key-2")
    run(engine, rv.settle_refund, people.sam, settled, "goodwill", 500, "We sent you a voucher.")
    assert assert_stored(engine, "refund settled")[b] is None
    run(engine, cmd.add_message, people.bob, b, "And the other mug?")
    assert assert_stored(engine, "the customer asks again")[b] is not None
    run(engine, rc.record_settlement, people.sam, b, {"L2": 1}, "damaged", "goodwill", 300, "Another voucher is on its way.",
        "due-key-3")
    assert assert_stored(engine, "an agent records a settlement")[b] is None


def test_the_backfill_works_out_what_raw_rows_lack(engine, people, order_client):
    """Rows written raw (the large dataset, the migration's existing cases) get their
    due time from their messages; cases the agents owe nothing keep none."""
    a = run(engine, cmd.create_case, people.alice, "ORD-1001-1", subject="Cracked mug", priority="high",
            client=order_client, **CASE)
    b = run(engine, cmd.create_case, people.bob, "ORD-1002-1", subject="Late parcel", priority="low",
            client=order_client, **CASE)
    run(engine, cmd.add_message, people.alice, a, "Any news?")
    run(engine, cmd.add_message, people.sam, b, "On its way.")
    before = assert_stored(engine, "through the services")
    with session_scope(engine, write=True) as s:
        s.execute(text("UPDATE support_cases SET due_at = NULL"))
        assert backfill_due(s.connection()) == 1  # a: bob's case is answered
    assert assert_stored(engine, "backfilled") == before


@pytest.mark.postgres
def test_a_reply_committed_while_a_refund_decision_waits_is_counted_on_postgresql(pg_engine, monkeypatch, order_client):
    """On PostgreSQL a refund decision's message and a customer's reply can be written at
    the same time. The reply holds the case's row; the decision's message waits for it
    (its foreign key locks the row), so the due time it stores counts the reply: the
    customer wrote last, the case is due, not "owes nothing"."""
    who = make_people(pg_engine, monkeypatch)
    case_id = run(pg_engine, cmd.create_case, who.bob, "ORD-1002-1", subject="Late parcel", priority="high",
                  client=order_client, **CASE)
    refund = run(pg_engine, rc.request_refund, who.bob, case_id, {"L1": 1}, "damaged", request_key="due-race-1")
    with pg_engine.connect() as replying:  # the customer's reply, holding the case's row until it commits
        replying.execute(text("SELECT id FROM support_cases WHERE id = :id FOR UPDATE"), {"id": case_id})
        decision = threading.Thread(target=run, args=(pg_engine, rv.reject_refund, who.sam, refund, "no_evidence",
                                                      "Please send a photo of the damage."))
        decision.start()
        time.sleep(0.5)  # the decision waits for the case's row
        assert decision.is_alive()
        later = utcnow() + timedelta(seconds=1)  # written after the decision's message
        replying.execute(text("INSERT INTO case_messages (case_id, author_id, visibility, body, created_at) "
                              "VALUES (:case, :bob, 'public', :body, :at)"),
                         {"case": case_id, "bob": who.bob.id, "body": encrypt("Here it is.", "case_messages.body"), "at": later})
        replying.commit()
        decision.join(10)
    stored, expected = stored_and_expected(pg_engine)
    assert expected[case_id] == later + timedelta(hours=4)  # high: 4 h from the customer's last message
    assert stored == expected
