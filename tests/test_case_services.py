"""Support case use cases on a real SQLite file, with the order sandbox over real HTTP.

Every service call runs in its own ``session_scope`` unit of work (as the app's
runner does), so "nothing persisted" after an error really means rolled back.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import select

from fixtures_db import (  # noqa: F401
    PW, alembic_config, code_of, count, keep_logging, order_client, orders_server, orders_server_session, people,
    refused_order_url, run, run_counted, run_traced,
)
from support_app.db import make_engine, session_scope
from support_app.domain.errors import DomainError, ErrorCode
from support_app.live.shared_reads import SHARED
from support_app.integrations.order_client import OrderClient
from support_app.models import CaseEvent, CaseMessage, OrderLine, OrderSnapshot, SupportCase
from support_app.models.base import frozen_time
from support_app.services import auth_service
from support_app.services import case_commands as cmd
from support_app.services import case_queries as q
from support_app.settings import get_settings

E = ErrorCode
CASE = dict(subject="Cracked mug", description="The blue mug arrived cracked in two.", category="damaged_item")
ALL_TABLES = (SupportCase, OrderSnapshot, OrderLine, CaseEvent, CaseMessage)


def open_case(engine, who, client, order="ORD-1001-1", **overrides) -> int:
    return run(engine, cmd.create_case, who, order, client=client, **{**CASE, **overrides})


def row(engine, case_id) -> SupportCase:
    with session_scope(engine) as s:
        return s.get(SupportCase, case_id)


def events(engine, case_id) -> list[CaseEvent]:
    with session_scope(engine) as s:
        return list(s.exec(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))


def nothing_persisted(engine) -> None:
    assert [count(engine, t) for t in ALL_TABLES] == [0] * len(ALL_TABLES)


@pytest.fixture
def case_id(engine, people, order_client) -> int:
    return open_case(engine, people.alice, order_client)


# -- opening a case ------------------------------------------------------------


def test_customer_opens_a_case_on_own_order(engine, people, order_client, orders_server):
    cid = open_case(engine, people.alice, order_client, priority="high")
    case = row(engine, cid)
    assert re.fullmatch(r"SC-\d{6}", case.number) and case.number == "SC-000001"
    assert (case.customer_id, case.status, case.version, case.priority) == (people.alice.id, "open", 1, "high")
    assert case.subject == CASE["subject"] and case.category == "damaged_item" and case.assignee_id is None
    assert case.created_at.tzinfo is not None and case.first_response_at is None
    order = order_client.get_order("ORD-1001-1")
    with session_scope(engine) as s:
        snap = s.get(OrderSnapshot, case.order_snapshot_id)
        lines = list(s.exec(select(OrderLine).where(OrderLine.snapshot_id == snap.id).order_by(OrderLine.line_id)))
    assert (snap.order_id, snap.customer_id, snap.currency) == ("ORD-1001-1", people.alice.id, "EUR")
    assert (snap.amount_paid, snap.payment_reference) == (order.amount_paid, "PAY-1001-1")
    assert (snap.shipping_amount, snap.shipping_tax) == (495, 94)
    assert snap.placed_at == orders_server.now - timedelta(days=5)
    assert snap.delivered_at == orders_server.now - timedelta(days=2)
    assert [(ln.line_id, ln.sku, ln.quantity, ln.unit_price, ln.discount_total, ln.tax_total) for ln in lines] == [
        ("L1", "MUG-BLUE", 3, 1200, 100, 665), ("L2", "TEA-SAMPLER", 1, 2500, 0, 475), ("L3", "COASTER-4", 2, 450, 0, 171)
    ]
    [ev] = events(engine, cid)
    assert (ev.kind, ev.actor_id, ev.from_status, ev.to_status, ev.internal) == ("created", people.alice.id, None, "open", False)
    detail = run(engine, q.get_case, people.alice, cid, write=False)
    assert detail.number == "SC-000001" and detail.order.order_id == "ORD-1001-1" and len(detail.order.lines) == 3
    assert detail.order.total == "€88.00" and [e.text for e in detail.timeline] == ["Opened the case"]


def test_a_second_case_on_the_same_order_reuses_the_snapshot(engine, people, order_client):
    first = open_case(engine, people.alice, order_client)
    second = open_case(engine, people.alice, order_client, subject="Also the coasters")
    assert row(engine, second).number == "SC-000002"
    assert row(engine, first).order_snapshot_id == row(engine, second).order_snapshot_id
    assert (count(engine, OrderSnapshot), count(engine, OrderLine)) == (1, 3)


@pytest.mark.parametrize("order", ["ORD-1002-1", "ORD-1003-1", "ORD-9999-9", "", "   ", "x" * 65, "../orders/ORD-1001-1"])
def test_orders_that_are_not_yours_are_refused_alike(engine, people, order_client, order):
    with pytest.raises(DomainError) as err:
        open_case(engine, people.alice, order_client, order=order)
    assert err.value.code is E.NOT_ORDER_OWNER and "order_id" in err.value.fields
    nothing_persisted(engine)


def test_invalid_fields_fail_before_any_http(engine, people, order_client, orders_server):
    with pytest.raises(DomainError) as err:
        open_case(engine, people.alice, order_client, subject="ab", description="short", category="nope", priority="x")
    assert err.value.code is E.VALIDATION_FAILED
    assert set(err.value.fields) == {"subject", "description", "category", "priority"}
    assert orders_server.requests_seen() == 0
    nothing_persisted(engine)


def test_agents_cannot_open_cases(engine, people, order_client, orders_server):
    assert code_of(engine, cmd.create_case, people.sam, "ORD-1001-1", client=order_client, **CASE) is E.FORBIDDEN
    assert orders_server.requests_seen() == 0
    nothing_persisted(engine)


def test_order_system_refusing_connections(engine, people, refused_order_url):
    with OrderClient(refused_order_url, timeout_seconds=2, backoff_seconds=0.01) as client:
        assert code_of(engine, cmd.create_case, people.alice, "ORD-1001-1", client=client, **CASE) is E.ORDER_SYSTEM_UNAVAILABLE
    nothing_persisted(engine)


def test_order_system_answering_5xx(engine, people, order_client, orders_server):
    orders_server.set_faults("error", status=503)
    assert code_of(engine, cmd.create_case, people.alice, "ORD-1001-1", client=order_client, **CASE) is E.ORDER_SYSTEM_UNAVAILABLE
    assert orders_server.requests_seen() == 3  # one try and two retries, then a clear error
    nothing_persisted(engine)


# -- messages ------------------------------------------------------------------


def test_customer_reply(engine, people, case_id):
    run(engine, cmd.add_message, people.alice, case_id, "  Any news?  ")
    case = row(engine, case_id)
    assert (case.status, case.version, case.first_response_at) == ("open", 2, None)
    detail = run(engine, q.get_case, people.alice, case_id, write=False)
    [m] = detail.messages
    assert (m.body, m.internal, m.author_name, m.author_role) == ("Any news?", False, "Alice Martin", "customer")
    assert [e.kind for e in detail.timeline] == ["created", "reply"]


def test_agent_reply_sets_first_response_once(engine, people, case_id):
    run(engine, cmd.add_message, people.sam, case_id, "Sorry to hear that, looking into it.")
    first = row(engine, case_id).first_response_at
    assert first is not None and first.tzinfo is not None
    run(engine, cmd.add_message, people.riley, case_id, "A replacement is on its way.")
    assert row(engine, case_id).first_response_at == first
    assert row(engine, case_id).status == "open"


def test_internal_note_is_for_agents_only(engine, people, case_id):
    run(engine, cmd.add_message, people.alice, case_id, "Hello?")
    run(engine, cmd.add_message, people.sam, case_id, "Customer has 3 prior claims.", internal=True)
    assert row(engine, case_id).first_response_at is None  # a note is not a response
    mine = run(engine, q.get_case, people.alice, case_id, write=False)
    assert [m.body for m in mine.messages] == ["Hello?"]
    assert [e.kind for e in mine.timeline] == ["created", "reply"]
    assert not any(e.internal for e in mine.timeline) and "prior claims" not in repr(mine)
    agent = run(engine, q.get_case, people.sam, case_id, write=False)
    assert [(m.body, m.internal) for m in agent.messages] == [("Hello?", False), ("Customer has 3 prior claims.", True)]
    assert [(e.kind, e.internal) for e in agent.timeline] == [("created", False), ("reply", False), ("note", True)]
    assert agent.timeline[-1].text == "Added an internal note" and agent.timeline[-1].actor_name == "Sam Rivera"


def test_a_long_conversation_opens_on_its_newest_entries(engine, people, case_id, monkeypatch):
    """The page gets the newest RECENT messages and history entries, in order, and how
    many came before: counted among what this viewer may see (no internal notes for a
    customer). Asking for all gives all. Boundaries: exactly RECENT hides nothing."""
    monkeypatch.setattr(q, "RECENT", 3)
    alice, sam = people.alice, people.sam
    for who, body, internal in [(alice, "m1", False), (sam, "n1", True), (alice, "m2", False), (sam, "r1", False)]:
        run(engine, cmd.add_message, who, case_id, body, internal=internal)

    def seen(who, **whole):
        detail = run(engine, q.get_case, who, case_id, write=False, **whole)
        return [m.body for m in detail.messages], detail.earlier_messages, [e.kind for e in detail.timeline], detail.earlier_events

    assert seen(alice) == (["m1", "m2", "r1"], 0, ["reply", "reply", "reply"], 1)  # exactly 3 public messages
    assert seen(sam) == (["n1", "m2", "r1"], 1, ["note", "reply", "reply"], 2)
    run(engine, cmd.add_message, alice, case_id, "m3")
    assert seen(alice) == (["m2", "r1", "m3"], 1, ["reply", "reply", "reply"], 2)
    assert seen(sam) == (["m2", "r1", "m3"], 2, ["reply", "reply", "reply"], 3)
    assert seen(alice, all_messages=True) == (["m1", "m2", "r1", "m3"], 0, ["reply", "reply", "reply"], 2)
    assert seen(sam, all_history=True)[2:] == (["created", "reply", "note", "reply", "reply", "reply"], 0)


def test_customer_cannot_add_an_internal_note(engine, people, case_id):
    assert code_of(engine, cmd.add_message, people.alice, case_id, "sneaky", internal=True) is E.FORBIDDEN
    assert (count(engine, CaseMessage), count(engine, CaseEvent), row(engine, case_id).version) == (0, 1, 1)


@pytest.mark.parametrize("body", ["", "   ", "m" * 5001])
def test_invalid_message_is_refused(engine, people, case_id, body):
    assert code_of(engine, cmd.add_message, people.sam, case_id, body) is E.VALIDATION_FAILED
    assert count(engine, CaseMessage) == 0


# -- who may see what ----------------------------------------------------------


def test_customer_cannot_touch_another_customers_case(engine, people, case_id):
    bob = people.bob
    assert code_of(engine, q.get_case, bob, case_id) is E.NOT_CASE_OWNER
    assert code_of(engine, cmd.add_message, bob, case_id, "hi") is E.NOT_CASE_OWNER
    assert code_of(engine, cmd.change_status, bob, case_id, "closed") is E.NOT_CASE_OWNER
    assert code_of(engine, cmd.assign, bob, case_id, people.sam.id) is E.FORBIDDEN
    assert (count(engine, CaseMessage), count(engine, CaseEvent), row(engine, case_id).status) == (0, 1, "open")
    assert run(engine, q.list_cases, bob, write=False) == []


@pytest.mark.parametrize("bad", ["abc", None, "1 OR 1=1", "1; DROP TABLE support_cases", "", 999, "999", [1], {}, "²", "١"])
@pytest.mark.parametrize("who", ["alice", "sam"])
def test_garbage_or_unknown_ids_are_case_not_found(engine, people, case_id, bad, who):
    caller = getattr(people, who)
    for fn, args in [(q.get_case, ()), (cmd.add_message, ("hi",)), (cmd.change_status, ("closed",))]:
        assert code_of(engine, fn, caller, bad, *args) is E.CASE_NOT_FOUND
    assert count(engine, SupportCase) == 1 and count(engine, CaseEvent) == 1


# -- status workflow -----------------------------------------------------------


def test_status_workflow_records_who_from_to_and_why(engine, people, case_id):
    alice, sam = people.alice, people.sam
    run(engine, cmd.change_status, sam, case_id, "in_progress", reason="  Looking into it ")
    run(engine, cmd.change_status, sam, case_id, "waiting_on_customer", reason="Need a photo")
    run(engine, cmd.add_message, alice, case_id, "Photo attached.")
    assert row(engine, case_id).status == "in_progress"  # the customer's reply hands it back
    run(engine, cmd.change_status, sam, case_id, "resolved")
    assert row(engine, case_id).resolved_at is not None and row(engine, case_id).closed_at is None
    run(engine, cmd.change_status, alice, case_id, "closed", reason="Thanks!")
    case = row(engine, case_id)
    assert (case.status, case.version) == ("closed", 6) and case.closed_at >= case.resolved_at
    got = [(e.kind, e.actor_id, e.from_status, e.to_status, e.detail) for e in events(engine, case_id)]
    assert got == [
        ("created", alice.id, None, "open", None),
        ("status_changed", sam.id, "open", "in_progress", "Looking into it"),
        ("status_changed", sam.id, "in_progress", "waiting_on_customer", "Need a photo"),
        ("status_changed", alice.id, "waiting_on_customer", "in_progress", "customer replied"),
        ("reply", alice.id, None, None, None),
        ("status_changed", sam.id, "in_progress", "resolved", None),
        ("status_changed", alice.id, "resolved", "closed", "Thanks!"),
    ]
    texts = [e.text for e in run(engine, q.get_case, alice, case_id, write=False).timeline]
    assert texts[1] == "Changed status from Open to In progress: Looking into it"
    assert texts[-1] == "Changed status from Resolved to Closed: Thanks!"


def test_resolved_case_may_reopen(engine, people, case_id):
    for target in ("in_progress", "resolved", "in_progress"):
        run(engine, cmd.change_status, people.sam, case_id, target)
    assert row(engine, case_id).status == "in_progress"


@pytest.mark.parametrize(("who", "target"), [("sam", "resolved"), ("sam", "closed"), ("sam", "open"), ("alice", "in_progress"),
                                             ("alice", "resolved"), ("alice", "open"), ("sam", "bogus")])
def test_refused_transitions_change_nothing(engine, people, case_id, who, target):
    assert code_of(engine, cmd.change_status, getattr(people, who), case_id, target) is E.INVALID_STATUS_TRANSITION
    assert (row(engine, case_id).status, row(engine, case_id).version, count(engine, CaseEvent)) == ("open", 1, 1)


def test_too_long_reason_changes_nothing(engine, people, case_id):
    assert code_of(engine, cmd.change_status, people.sam, case_id, "in_progress", reason="r" * 501) is E.VALIDATION_FAILED
    assert (row(engine, case_id).status, count(engine, CaseEvent)) == ("open", 1)


def test_closed_case_refuses_replies_notes_and_assignment(engine, people, case_id):
    run(engine, cmd.change_status, people.alice, case_id, "closed")
    assert code_of(engine, cmd.add_message, people.alice, case_id, "wait") is E.CASE_CLOSED
    assert code_of(engine, cmd.add_message, people.sam, case_id, "reply") is E.CASE_CLOSED
    assert code_of(engine, cmd.add_message, people.sam, case_id, "note", internal=True) is E.CASE_CLOSED
    assert code_of(engine, cmd.assign, people.sam, case_id, people.sam.id) is E.CASE_CLOSED
    for who in (people.alice, people.sam):
        assert code_of(engine, cmd.change_status, who, case_id, "in_progress") is E.INVALID_STATUS_TRANSITION
    assert (count(engine, CaseMessage), row(engine, case_id).version) == (0, 2)


# -- assignment ----------------------------------------------------------------


def test_assign_to_self_colleague_and_back_to_nobody(engine, people, case_id):
    sam, riley = people.sam, people.riley
    run(engine, cmd.assign, sam, case_id, sam.id)
    assert row(engine, case_id).assignee_id == sam.id and row(engine, case_id).version == 2
    run(engine, cmd.assign, sam, case_id, sam.id)  # already so: a no-op
    assert row(engine, case_id).version == 2
    assert run(engine, q.get_case, sam, case_id, write=False).assigned_to_viewer  # no "Assign to me" for Sam now
    assert not run(engine, q.get_case, riley, case_id, write=False).assigned_to_viewer
    run(engine, cmd.assign, sam, case_id, riley.id)
    detail = run(engine, q.get_case, sam, case_id, write=False)
    assert (detail.assignee_id, detail.assignee_name, detail.assigned_to_viewer) == (riley.id, "Riley Park", False)
    assert run(engine, q.get_case, riley, case_id, write=False).assigned_to_viewer
    run(engine, cmd.assign, riley, case_id, None)
    assert row(engine, case_id).assignee_id is None
    got = [(e.kind, e.actor_id, e.detail) for e in events(engine, case_id)][1:]
    assert got == [("assigned", sam.id, "Sam Rivera"), ("assigned", sam.id, "Riley Park"), ("assigned", riley.id, None)]
    assert run(engine, q.get_case, sam, case_id, write=False).timeline[-1].text == "Unassigned the case"


def test_assign_refusals(engine, people, case_id):
    assert code_of(engine, cmd.assign, people.sam, case_id, people.alice.id) is E.USER_NOT_FOUND
    assert code_of(engine, cmd.assign, people.sam, case_id, 424242) is E.USER_NOT_FOUND
    assert code_of(engine, cmd.assign, people.alice, case_id, people.sam.id) is E.FORBIDDEN
    assert code_of(engine, cmd.assign, people.alice, case_id, people.alice.id) is E.FORBIDDEN
    assert (row(engine, case_id).assignee_id, row(engine, case_id).version, count(engine, CaseEvent)) == (None, 1, 1)


# -- optimistic concurrency ----------------------------------------------------


def test_stale_expected_version_changes_nothing(engine, people, case_id):
    run(engine, cmd.add_message, people.sam, case_id, "First answer", expected_version=1)
    assert row(engine, case_id).version == 2
    stale = [
        (cmd.change_status, (people.sam, case_id, "in_progress")),
        (cmd.add_message, (people.alice, case_id, "late reply")),
        (cmd.add_message, (people.sam, case_id, "late note", True)),
        (cmd.assign, (people.sam, case_id, people.sam.id)),
    ]
    for fn, args in stale:
        assert code_of(engine, fn, *args, expected_version=1) is E.CONCURRENT_UPDATE
    case = row(engine, case_id)
    assert (case.version, case.status, case.assignee_id) == (2, "open", None)
    assert (count(engine, CaseMessage), count(engine, CaseEvent)) == (1, 2)
    run(engine, cmd.change_status, people.sam, case_id, "in_progress", expected_version=2)
    assert row(engine, case_id).version == 3


# -- lists, markers, offered next statuses -------------------------------------


def test_list_cases_scoping_filters_and_order(engine, people, order_client):
    a1 = open_case(engine, people.alice, order_client, subject="First")
    b1 = open_case(engine, people.bob, order_client, order="ORD-1002-1", subject="Bob's")
    a2 = open_case(engine, people.alice, order_client, order="ORD-1001-2", subject="Second")
    run(engine, cmd.change_status, people.sam, a1, "in_progress")
    run(engine, cmd.assign, people.sam, b1, people.sam.id)
    run(engine, cmd.assign, people.riley, a2, people.riley.id)

    def ids(who, **kw):
        return [r.id for r in run(engine, q.list_cases, who, write=False, **kw)]

    assert ids(people.alice) == [a2, a1]  # a customer's own: newest first
    assert ids(people.bob) == [b1]
    assert ids(people.sam) == [a1, b1, a2]  # the queue: one priority, so the oldest first
    assert ids(people.sam, statuses=["open"]) == [b1, a2]
    assert ids(people.sam, statuses=["in_progress", "resolved"]) == [a1]
    assert ids(people.sam, statuses=["bogus"]) == [a1, b1, a2]  # unknown statuses are ignored
    assert ids(people.sam, assigned_to_me=True) == [b1]
    assert ids(people.riley, assigned_to_me=True, statuses=["open"]) == [a2]
    assert ids(people.riley, assigned_to_me=True, statuses=["closed"]) == []
    assert ids(people.alice, assigned_to_me=True) == [a2, a1]  # means nothing for a customer
    assert ids(people.alice, statuses=["in_progress"]) == [a1]
    [r] = [r for r in run(engine, q.list_cases, people.sam, write=False) if r.id == b1]
    assert (r.number, r.order_id, r.customer_name, r.assignee_name) == (row(engine, b1).number, "ORD-1002-1", "Bob Chen", "Sam Rivera")
    assert (r.status_label, r.category_label) == ("Open", "Damaged item")


def test_agents_share_one_case_list_read_until_a_change_commits(engine, people, order_client):
    """Every agent's case list is read again on every change: once for all of them (each
    gets rows of its own), and of the database again as soon as a change commits."""
    def rows(who, **kw) -> tuple:
        return run_counted(engine, q.list_cases, who, write=False, **kw)

    first = open_case(engine, people.alice, order_client, subject="First")
    sams, read = rows(people.sam)
    rileys, shared = rows(people.riley)
    assert read > 0 and shared == 0 and rileys == sams
    rileys[0].subject = "changed in Riley's tab"
    assert rows(people.sam)[0][0].subject == "First"  # her rows are her own
    run(engine, cmd.add_message, people.alice, first, "Any news?")  # a change commits
    second = open_case(engine, people.bob, order_client, "ORD-1002-1", subject="Second")
    assert [r.id for r in rows(people.riley)[0]] == [first, second]
    run(engine, cmd.assign, people.sam, second, people.sam.id)
    assert [r.id for r in rows(people.sam, assigned_to_me=True)[0]] == [second]
    assert rows(people.riley, assigned_to_me=True)[0] == []  # "assigned to me" is each agent's own


def test_the_queue_works_the_most_urgent_first_then_the_oldest(engine, people, order_client, monkeypatch):
    made = [open_case(engine, people.alice, order_client, priority=p, subject=f"Case {n}")
            for n, p in enumerate(["low", "normal", "urgent", "high", "urgent", "normal"])]
    low, normal1, urgent1, high, urgent2, normal2 = made
    queue = [r.id for r in run(engine, q.list_cases, people.sam, write=False)]
    assert queue == [urgent1, urgent2, high, normal1, normal2, low]
    assert [r.id for r in run(engine, q.list_cases, people.alice, write=False)] == made[::-1]  # hers: newest first
    monkeypatch.setattr(q, "LIST_LIMIT", 3)  # a full list stops inside a priority, oldest first
    SHARED.forget_all()  # nothing changed in the database: the list read just now would still be kept
    assert [r.id for r in run(engine, q.list_cases, people.sam, write=False)] == [urgent1, urgent2, high]


def test_every_command_announces_its_case_after_commit(engine, people, order_client, published):
    cid = open_case(engine, people.alice, order_client)
    commands = [
        (cmd.add_message, (people.alice, cid, "hello")),
        (cmd.add_message, (people.sam, cid, "hi there")),
        (cmd.assign, (people.sam, cid, people.sam.id)),
        (cmd.change_status, (people.sam, cid, "in_progress")),
        (cmd.change_status, (people.alice, cid, "closed")),
    ]
    for fn, args in commands:
        run(engine, fn, *args)
    assert len(published) == 1 + len(commands)
    for change in published:
        assert (change.cases, change.customers, change.internal) == ({cid}, {people.alice.id}, False)
        assert {"cases", f"case:{cid}", f"customer:{people.alice.id}"} <= change.topics()
    assert code_of(engine, cmd.add_message, people.alice, cid, "after closing") is E.CASE_CLOSED
    assert len(published) == 1 + len(commands)  # a refused command announces nothing


def test_an_internal_note_is_announced_as_internal(engine, people, order_client, published):
    """Customers' pages ignore internal changes, so they cannot even tell a note was written."""
    cid = open_case(engine, people.alice, order_client)
    run(engine, cmd.add_message, people.sam, cid, "customer sounds upset", True)
    assert published[-1].internal is True and published[-1].cases == {cid}
    assert run(engine, q.get_case, people.alice, cid, write=False).version == 0  # no hint of internal changes


@pytest.mark.parametrize(
    ("path", "agent_next", "customer_next"),
    [
        ([], ["in_progress"], ["closed"]),
        (["in_progress"], ["waiting_on_customer", "resolved"], ["closed"]),
        (["in_progress", "waiting_on_customer"], ["in_progress"], ["closed"]),
        (["in_progress", "resolved"], ["in_progress", "closed"], ["closed"]),
        (["in_progress", "resolved", "closed"], [], []),
    ],
)
def test_next_statuses_offered_per_role(engine, people, case_id, path, agent_next, customer_next):
    for target in path:
        run(engine, cmd.change_status, people.sam, case_id, target)
    agent = run(engine, q.get_case, people.sam, case_id, write=False).next_statuses
    customer = run(engine, q.get_case, people.alice, case_id, write=False).next_statuses
    assert [o.value for o in agent] == agent_next and [o.value for o in customer] == customer_next
    assert all(o.label for o in agent + customer)


# -- the history is append-only in the migrated database -----------------------


def test_case_events_refuse_update_and_delete_after_alembic(tmp_path, order_client, keep_logging):
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    command.upgrade(alembic_config(url), "head")
    eng = make_engine(url)
    try:
        alice = run(eng, auth_service.create_user, "alice@example.com", "Alice Martin", "customer", PW, "C-1001")
        cid = open_case(eng, alice, order_client)
        run(eng, cmd.add_message, alice, cid, "appending still works")
        for sql in ("UPDATE case_events SET kind = 'tampered'", "DELETE FROM case_events",
                    f"UPDATE case_events SET detail = 'x' WHERE case_id = {cid}"):
            with pytest.raises(DatabaseError, match="append-only"):
                with session_scope(eng, write=True) as s:
                    s.execute(text(sql))
        assert [(e.kind, e.detail) for e in events(eng, cid)] == [("created", None), ("reply", None)]
    finally:
        eng.dispose()


def test_case_creation_is_rate_limited_per_customer(engine, people, order_client, monkeypatch):
    from support_app.settings import get_settings

    monkeypatch.setattr(get_settings(), "case_create_max", 2)
    open_case(engine, people.alice, order_client)
    open_case(engine, people.alice, order_client)
    assert code_of(engine, cmd.create_case, people.alice, "ORD-1001-1", client=order_client, subject="Third one",
                   description="Yet another case about the mugs.", category="other") is E.RATE_LIMITED
    open_case(engine, people.bob, order_client, "ORD-1002-1")  # bob has his own budget


def test_a_case_change_keeps_the_loaded_case_in_step_without_reading_it_again(engine, people, order_client):
    """bump_case's conditional UPDATE brings the case loaded in the session up to date
    (SQLAlchemy applies its SET to it): nothing reads the case again after it."""
    cid = open_case(engine, people.alice, order_client)
    now = datetime.now(UTC)

    def assign(session):
        case = session.get(SupportCase, cid)
        cmd.bump_case(session, case, case.version, now, due=None, assignee_id=people.sam.id)
        return case.version, case.assignee_id, case.updated_at, case.due_at

    seen, sent = run_traced(engine, assign)
    assert seen == (2, people.sam.id, now, None)
    assert [s.split()[0] for s in sent if "support_cases" in s] == ["SELECT", "UPDATE"]
    with session_scope(engine) as s:
        stored = s.get(SupportCase, cid)
        assert (stored.version, stored.assignee_id, stored.updated_at, stored.due_at) == seen


def test_a_case_page_is_read_in_a_fixed_number_of_statements(engine, people, order_client):
    """One query per part of the page, never one per message, event or name: the
    count stays the same however long the conversation grows."""
    cid = open_case(engine, people.alice, order_client)

    def statements() -> int:
        return run_counted(engine, q.get_case, people.sam, cid, write=False)[1]

    short = statements()
    for n in range(6):
        run(engine, cmd.add_message, people.alice if n % 2 else people.sam, cid, f"message {n}")
        run(engine, cmd.add_message, people.riley, cid, f"note {n}", True)
    run(engine, cmd.assign, people.riley, cid, people.sam.id)
    assert statements() == short <= 8


# -- reopening -------------------------------------------------------------------




@pytest.fixture
def reopen_days(monkeypatch):
    def set_days(days: int) -> None:
        monkeypatch.setenv("SUPPORT_REOPEN_DAYS", str(days))
        get_settings.cache_clear()
    yield set_days
    monkeypatch.delenv("SUPPORT_REOPEN_DAYS", raising=False)
    get_settings.cache_clear()


def _closed_at(engine, people, case_id, at: datetime, *, by_customer: bool = True) -> None:
    with frozen_time(at):
        run(engine, cmd.change_status, people.sam, case_id, "in_progress")
        run(engine, cmd.change_status, people.sam, case_id, "resolved")
        if by_customer:
            run(engine, cmd.change_status, people.alice, case_id, "closed")


def test_the_customer_reopens_her_closed_case_on_the_last_day(engine, people, case_id, reopen_days):
    reopen_days(3)
    closed = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    _closed_at(engine, people, case_id, closed)
    last = closed + timedelta(days=3)
    with frozen_time(last):
        seen = run(engine, q.get_case, people.alice, case_id, write=False)
        assert (seen.can_reopen, seen.reopen_until, seen.reopen_text, seen.reopen_days) == (True, "2026-11-04T10:00:00Z", "", 3)
        run(engine, cmd.reopen_case, people.alice, case_id, "The replacement is broken too.")
    case = row(engine, case_id)
    assert (case.status, case.updated_at) == ("in_progress", last)
    assert [(e.kind, e.actor_id, e.from_status, e.to_status, e.detail) for e in events(engine, case_id)][-1] == (
        "reopened", people.alice.id, "closed", "in_progress", "The replacement is broken too.")
    detail = run(engine, q.get_case, people.sam, case_id, write=False)
    assert [(e.actor_name, e.text) for e in detail.timeline if e.kind == "reopened"] == [
        ("Alice Martin", "Reopened the case (Closed to In progress): The replacement is broken too.")]
    assert (detail.can_reopen, detail.reopen_until) == (False, "")  # open again: nothing to reopen
    run(engine, cmd.add_message, people.alice, case_id, "Photos attached.")  # replies work again


def test_a_microsecond_after_the_period_nobody_reopens_and_nothing_changes(engine, people, case_id, reopen_days):
    reopen_days(3)
    closed = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    _closed_at(engine, people, case_id, closed)
    before = (row(engine, case_id).version, len(events(engine, case_id)))
    with frozen_time(closed + timedelta(days=3, microseconds=1)):
        seen = run(engine, q.get_case, people.alice, case_id, write=False)
        assert (seen.can_reopen, seen.reopen_until) == (False, "2026-11-04T10:00:00Z")
        assert seen.reopen_text.startswith("A case can be reopened for 3 days after it was closed; that time has passed.")
        assert code_of(engine, cmd.reopen_case, people.alice, case_id) is E.REOPEN_PERIOD_ENDED
        assert code_of(engine, cmd.reopen_case, people.sam, case_id) is E.REOPEN_PERIOD_ENDED  # agents too
    assert (row(engine, case_id).status, row(engine, case_id).version, len(events(engine, case_id))) == ("closed", *before)


def test_an_agent_reopens_a_resolved_case_within_the_default_14_days(engine, people, case_id):
    resolved = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    _closed_at(engine, people, case_id, resolved, by_customer=False)
    with frozen_time(resolved + timedelta(days=14)):
        run(engine, cmd.reopen_case, people.riley, case_id)
    assert row(engine, case_id).status == "in_progress"
    assert events(engine, case_id)[-1].detail is None


def test_who_may_reopen(engine, people, case_id):
    _closed_at(engine, people, case_id, datetime.now(UTC))
    version = row(engine, case_id).version
    assert code_of(engine, cmd.reopen_case, people.bob, case_id) is E.NOT_CASE_OWNER  # someone else's case reads as missing
    assert code_of(engine, cmd.reopen_case, people.alice, case_id, "x" * 501) is E.VALIDATION_FAILED
    assert code_of(engine, cmd.reopen_case, people.alice, case_id, expected_version=version - 1) is E.CONCURRENT_UPDATE
    assert row(engine, case_id).status == "closed"
    run(engine, cmd.reopen_case, people.alice, case_id, expected_version=version)
    assert code_of(engine, cmd.reopen_case, people.alice, case_id) is E.INVALID_STATUS_TRANSITION  # already open again
