"""The agents' workspace services on a real SQLite file, order sandbox over HTTP:
the queue (filters, due order, marks), one case with its sidebar, resolve in one go,
and assigning through the existing command (agents only)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from fixtures_db import (  # noqa: F401
    code_of, make_people, order_client, orders_server, orders_server_session, people, pg_engine, pg_url, run, run_counted,
)
from support_app.db import session_scope
from support_app.domain.errors import ErrorCode
from support_app.live.shared_reads import SHARED
from support_app.models import CaseEvent, CaseSeen, SupportCase
from support_app.models.base import utcnow
from support_app.services import case_commands as cmd
from support_app.services import case_queries
from support_app.services.case_due_store import backfill_due
from support_app.services import refund_commands as rc
from support_app.services import refund_review as rv
from support_app.services import workspace_commands as wc
from support_app.services import workspace_queries as wq

E = ErrorCode
CASE = dict(description="Something is wrong with this order.", category="damaged_item")
_keys = iter(range(10**6))


def open_case(engine, who, client, subject, order="ORD-1001-1", priority="normal") -> int:
    return run(engine, cmd.create_case, who, order, subject=subject, priority=priority, client=client, **CASE)


def set_case(engine, case_id, **values) -> None:
    """Age a case by rewriting its columns, as no service does; its due time is worked
    out again from them, as for data written as raw rows."""
    with session_scope(engine, write=True) as s:
        s.execute(update(SupportCase).where(SupportCase.id == case_id).values(**values))
        backfill_due(s.connection())


def ids(engine, who, **filters) -> list[int]:
    return [row.id for row in run(engine, wq.queue, who, write=False, **filters)]


@pytest.fixture
def cases(engine, people, order_client):
    """Four of alice's and bob's cases with known ages and priorities (oldest first)."""
    now = utcnow()
    made = {}
    for name, who, order, prio, age_h in [("low_old", people.alice, "ORD-1001-1", "low", 50),
                                          ("urgent_new", people.bob, "ORD-1002-1", "urgent", 2),
                                          ("normal_mid", people.alice, "ORD-1001-2", "normal", 10),
                                          ("high_new", people.bob, "ORD-1002-1", "high", 1)]:
        cid = open_case(engine, who, order_client, name, order, prio)
        set_case(engine, cid, created_at=now - timedelta(hours=age_h), updated_at=now - timedelta(hours=age_h))
        made[name] = cid
    return made


def test_queue_is_sorted_by_what_is_due_then_age(engine, people, cases):
    # urgent opened 2 h ago: due 1 h ago (overdue); high 1 h ago: due in 3 h; normal 10 h: in 14 h; low 50 h: in 22 h.
    rows = run(engine, wq.queue, people.sam, write=False)
    assert [r.id for r in rows] == [cases[n] for n in ("urgent_new", "high_new", "normal_mid", "low_old")]
    assert [r.overdue for r in rows] == [True, False, False, False]
    assert rows[0].subject == "urgent_new" and rows[0].customer_name == "Bob Chen" and rows[0].due_at.endswith("Z")
    assert [r.priority_label for r in rows] == ["Urgent", "High", "Normal", "Low"]


def test_a_case_waiting_on_the_customer_or_answered_sorts_after_the_due_ones_oldest_first(engine, people, cases):
    run(engine, cmd.change_status, people.sam, cases["urgent_new"], "in_progress")
    run(engine, cmd.change_status, people.sam, cases["urgent_new"], "waiting_on_customer")
    run(engine, cmd.add_message, people.sam, cases["high_new"], "We are looking into it.")  # answered: owes nothing now
    order = ids(engine, people.sam)
    assert order == [cases["normal_mid"], cases["low_old"], cases["urgent_new"], cases["high_new"]]
    row = {r.id: r for r in run(engine, wq.queue, people.sam, write=False)}[cases["high_new"]]
    assert row.due_at == "" and not row.overdue
    # The customer writes again: due again, from that message (high: 4 h from now).
    run(engine, cmd.add_message, people.bob, cases["high_new"], "Any news?")
    assert ids(engine, people.sam)[:2] == [cases["high_new"], cases["normal_mid"]]


def test_an_internal_note_is_not_an_answer(engine, people, cases):
    run(engine, cmd.add_message, people.sam, cases["urgent_new"], "Checking the warehouse.", True)
    assert ids(engine, people.sam)[0] == cases["urgent_new"]


def test_filters_mine_unassigned_status_priority(engine, people, cases):
    run(engine, cmd.assign, people.sam, cases["low_old"], people.sam.id)
    run(engine, cmd.assign, people.sam, cases["normal_mid"], people.riley.id)
    assert ids(engine, people.sam, scope="mine") == [cases["low_old"]]
    assert ids(engine, people.riley, scope="mine") == [cases["normal_mid"]]
    assert set(ids(engine, people.sam, scope="unassigned")) == {cases["urgent_new"], cases["high_new"]}
    assert ids(engine, people.sam, priority="high") == [cases["high_new"]]
    run(engine, cmd.change_status, people.sam, cases["high_new"], "in_progress")
    assert ids(engine, people.sam, status="in_progress") == [cases["high_new"]]
    assert ids(engine, people.sam, status="open", priority="high") == []
    run(engine, wc.resolve, people.sam, cases["high_new"])
    assert cases["high_new"] not in ids(engine, people.sam)  # active: open, in progress, waiting on customer
    assert cases["high_new"] in ids(engine, people.sam, status="all")
    assert ids(engine, people.sam, status="resolved") == [cases["high_new"]]
    # Values from the URL that are not filters fall back to the defaults.
    assert ids(engine, people.sam, scope="nobody'; --", status="<x>", priority="9" * 50) == ids(engine, people.sam)


def test_the_queue_is_for_agents_only(engine, people, cases):
    assert code_of(engine, wq.queue, people.alice) is E.FORBIDDEN
    assert code_of(engine, wq.workspace_case, people.alice, cases["low_old"], write=False) is E.FORBIDDEN
    assert code_of(engine, wq.mark_seen, people.alice, cases["low_old"]) is E.FORBIDDEN
    assert code_of(engine, wq.workspace_case, people.bob, cases["urgent_new"]) is E.FORBIDDEN


def unread(engine, who) -> dict[int, bool]:
    return {r.id: r.unread for r in run(engine, wq.queue, who, write=False)}


def test_marks_a_case_updated_since_this_agent_last_opened_it(engine, people, cases):
    assert all(unread(engine, people.sam).values())  # never opened
    run(engine, wq.mark_seen, people.sam, cases["low_old"])
    assert not unread(engine, people.sam)[cases["low_old"]]
    assert unread(engine, people.riley)[cases["low_old"]]  # marks are per agent
    run(engine, wq.mark_seen, people.sam, cases["low_old"])  # opening again moves the mark, one row
    with session_scope(engine) as s:
        assert len(list(s.exec(select(CaseSeen).where(CaseSeen.agent_id == people.sam.id)))) == 1
    run(engine, cmd.add_message, people.alice, cases["low_old"], "Hello? Anyone?")
    assert unread(engine, people.sam)[cases["low_old"]]
    run(engine, wq.workspace_case, people.sam, cases["low_old"], write=False)  # a live update's reread marks nothing
    assert unread(engine, people.sam)[cases["low_old"]]
    run(engine, wq.mark_seen, people.sam, cases["low_old"])
    assert not unread(engine, people.sam)[cases["low_old"]]


def test_leaving_a_case_marks_it_too_so_the_agents_own_changes_are_not_unread(engine, people, cases):
    run(engine, wq.mark_seen, people.sam, cases["low_old"])
    run(engine, cmd.add_message, people.sam, cases["low_old"], "We are on it.")  # the agent's own reply, seen live
    assert unread(engine, people.sam)[cases["low_old"]]
    run(engine, wq.mark_seen, people.sam, cases["normal_mid"], str(cases["low_old"]))
    marks = unread(engine, people.sam)
    assert not marks[cases["low_old"]] and not marks[cases["normal_mid"]]
    assert marks[cases["urgent_new"]] and unread(engine, people.riley)[cases["low_old"]]
    # A case left behind that is not there (any more): the opened one is still marked.
    assert run(engine, wq.mark_seen, people.sam, cases["urgent_new"], "999999") == cases["urgent_new"]
    assert not unread(engine, people.sam)[cases["urgent_new"]]


def test_only_the_marks_are_written_under_the_write_lock(engine, people, cases):
    """Picking a case writes only the marks (a short transaction the click does not wait
    for): it reads the two cases and upserts the marks, nothing else."""
    from sqlalchemy import event

    seen: list[str] = []
    listener = lambda conn, cursor, statement, *rest: seen.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        run(engine, wq.mark_seen, people.sam, cases["low_old"], str(cases["high_new"]))
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    under_lock = [re.match(r"\w+", sql).group(0) + " " + re.search(r"(?:FROM|INTO|BEGIN|COMMIT) ?(\w*)", sql).group(1)
                  for sql in seen]
    assert under_lock == ["BEGIN IMMEDIATE", "SELECT support_cases", "INSERT case_seen_marks", "COMMIT "]
    with session_scope(engine) as s:
        marked = {(m.agent_id, m.case_id) for m in s.exec(select(CaseSeen))}
    assert marked == {(people.sam.id, cases["low_old"]), (people.sam.id, cases["high_new"])}


def test_reading_the_open_case_does_not_wait_for_the_write_lock(engine, people, cases):
    """Live updates reread the case while other tabs write: a plain read goes through
    while another transaction holds the write lock (it would wait, then fail, if it wrote)."""
    with session_scope(engine, write=True) as holder:
        holder.execute(update(SupportCase).where(SupportCase.id == cases["high_new"]).values(subject="high_new"))
        view = run(engine, wq.workspace_case, people.sam, cases["low_old"], write=False)
    assert view.case.subject == "low_old"


def test_the_open_case_shows_its_newest_messages_until_all_are_asked_for(engine, people, cases, monkeypatch):
    monkeypatch.setattr(case_queries, "RECENT", 2)
    case_id = cases["low_old"]
    for body in ("one", "two", "three"):
        run(engine, cmd.add_message, people.alice, case_id, body)
    opened = run(engine, wq.workspace_case, people.sam, case_id, write=False).case
    assert ([m.body for m in opened.messages], opened.earlier_messages) == (["two", "three"], 1)
    whole = run(engine, wq.workspace_case, people.sam, case_id, True, write=False).case
    assert ([m.body for m in whole.messages], whole.earlier_messages) == (["one", "two", "three"], 0)


def test_a_pick_of_an_unknown_id_is_refused_and_marks_nothing(engine, people, cases):
    for bad in ("999999", "abc", "", -1, True):
        assert code_of(engine, wq.workspace_case, people.sam, bad, write=False) is E.CASE_NOT_FOUND
        assert code_of(engine, wq.mark_seen, people.sam, bad, str(cases["low_old"])) is E.CASE_NOT_FOUND
    with session_scope(engine) as s:
        assert list(s.exec(select(CaseSeen))) == []


def test_the_sidebar_customer_order_lines_and_refunds(engine, people, order_client):
    first = open_case(engine, people.alice, order_client, "Cracked mug")
    other = open_case(engine, people.alice, order_client, "Late parcel", "ORD-1001-2")
    bobs = open_case(engine, people.bob, order_client, "Bob's", "ORD-1002-1")
    rid = run(engine, rc.request_refund, people.alice, first, {"L1": 2}, "damaged", request_key="form-key-1")
    settled = run(engine, rc.request_refund, people.alice, first, {"L2": 1}, "damaged", request_key="form-key-2")
    run(engine, rv.settle_refund, people.sam, settled, "goodwill", 1000, "We sent you a voucher for it.")
    view = run(engine, wq.workspace_case, people.sam, first, write=False)
    assert view.case.id == first and view.case.subject == "Cracked mug"
    assert (view.case.priority_label, view.case.order_id, view.case.customer_email) == ("Normal", "ORD-1001-1", "alice@example.com")
    assert [c.id for c in view.customer_cases] == [other] and bobs not in [c.id for c in view.customer_cases]
    assert {r.id for r in view.customer_refunds} == {rid, settled}
    assert [(t.value, t.label) for t in view.given_back] == [("EUR", "€10.00")]  # the settlement; requested: nothing yet
    lines = {ln.line_id: ln for ln in view.lines}
    assert (lines["L1"].purchased, lines["L1"].refundable_now) == (3, 1)  # 2 are held by the request
    assert lines["L2"].refundable_now == 0  # settled holds it
    assert lines["L1"].deadline.endswith("Z")
    by_id = {r.id: r for r in view.refunds}
    assert set(by_id) == {rid, settled}
    assert "approve" in by_id[rid].actions and "reject" in by_id[rid].actions and by_id[settled].actions == []
    assert by_id[rid].version >= 1 and by_id[rid].window_text and by_id[rid].status_label == "Requested"
    assert {a.label for a in view.agents} == {"Sam Rivera", "Riley Park"}
    # Totals are per customer and per currency: Bob's USD and EUR settlements stay apart, Alice's are not his.
    usd = open_case(engine, people.bob, order_client, "Bob's USD", "ORD-1002-2")
    for case_id, line, key, amount in ((usd, "L1", "form-key-3", 500), (bobs, "L1", "form-key-4", 250),
                                       (usd, "L2", "form-key-5", 125)):
        held = run(engine, rc.request_refund, people.bob, case_id, {line: 1}, "damaged", request_key=key)
        run(engine, rv.settle_refund, people.sam, held, "goodwill", amount, "We sent you a voucher for it.")
    totals = run(engine, wq.workspace_case, people.sam, usd, write=False).given_back
    assert [(t.value, t.label) for t in totals] == [("EUR", "€2.50"), ("USD", "$6.25")]


def test_each_sidebar_refund_says_what_its_refund_page_says(engine, people, order_client):
    """The sidebar reads a case's refunds and their attempts in one statement; what it shows
    of each is what the refund page (get_refund) shows an agent: requested, settled, and
    approved with its attempt still pending (so "reconcile" is offered)."""
    from support_app.services import refund_queries as rq

    case_id = open_case(engine, people.alice, order_client, "Cracked mug")
    requested = run(engine, rc.request_refund, people.alice, case_id, {"L1": 1}, "damaged", request_key="form-key-1")
    settled = run(engine, rc.request_refund, people.alice, case_id, {"L2": 1}, "damaged", request_key="form-key-2")
    run(engine, rv.settle_refund, people.sam, settled, "goodwill", 1000, "We sent you a voucher for it.")
    approved = run(engine, rc.request_refund, people.alice, case_id, {"L1": 1}, "damaged", request_key="form-key-3")
    run(engine, rv.approve_refund, people.sam, approved)  # its attempt waits for the sender: pending
    view = run(engine, wq.workspace_case, people.sam, case_id, write=False)
    assert [r.id for r in view.refunds] == [approved, settled, requested]  # newest first
    fields = ("id", "number", "status", "status_label", "amount", "window_text", "mismatch_alert", "actions", "version")
    for shown in view.refunds:
        page = run(engine, rq.get_refund, people.sam, shown.id, write=False)
        assert [getattr(shown, f) for f in fields] == [getattr(page, f) for f in fields]
    assert {r.id: r.actions for r in view.refunds} == {requested: ["approve", "reject", "settle"], settled: [],
                                                        approved: ["reconcile"]}


def test_the_open_case_is_read_in_a_fixed_number_of_statements(engine, people, order_client):
    """However many refunds, messages and other cases: the workspace rereads the open case
    at every live update, for every agent showing it."""
    def statements(case_id) -> int:
        return run_counted(engine, wq.workspace_case, people.sam, case_id, write=False)[1]

    case_id = open_case(engine, people.alice, order_client, "Cracked mug")
    run(engine, rc.request_refund, people.alice, case_id, {"L1": 1}, "damaged", request_key="form-key-1")
    few = statements(case_id)
    for n in range(3):
        run(engine, cmd.add_message, people.sam, case_id, f"reply {n}")
        open_case(engine, people.alice, order_client, f"other {n}", "ORD-1001-2")
    for n, line in enumerate(("L1", "L2")):
        held = run(engine, rc.request_refund, people.alice, case_id, {line: 1}, "damaged", request_key=f"form-key-{n + 2}")
        run(engine, rv.approve_refund, people.sam, held)
    assert statements(case_id) == few, few


def test_resolve_from_open_records_each_step_and_refuses_a_resolved_case(engine, people, cases):
    cid = cases["low_old"]
    run(engine, wc.resolve, people.sam, cid)
    with session_scope(engine) as s:
        case = s.get(SupportCase, cid)
        assert case.status == "resolved" and case.resolved_at is not None
        steps = [(e.from_status, e.to_status) for e in s.exec(select(CaseEvent).where(CaseEvent.case_id == cid,
                                                                                    CaseEvent.kind == "status_changed"))]
    assert steps == [("open", "in_progress"), ("in_progress", "resolved")]
    assert code_of(engine, wc.resolve, people.sam, cid) is E.INVALID_STATUS_TRANSITION
    assert code_of(engine, wc.resolve, people.alice, cases["normal_mid"]) is E.FORBIDDEN
    assert code_of(engine, wc.resolve, people.sam, cases["normal_mid"], expected_version=99) is E.CONCURRENT_UPDATE
    with session_scope(engine) as s:
        assert s.get(SupportCase, cases["normal_mid"]).status == "open"


def test_resolve_from_waiting_on_customer(engine, people, cases):
    cid = cases["normal_mid"]
    run(engine, cmd.change_status, people.sam, cid, "in_progress")
    run(engine, cmd.change_status, people.sam, cid, "waiting_on_customer")
    run(engine, wc.resolve, people.sam, cid)
    with session_scope(engine) as s:
        assert s.get(SupportCase, cid).status == "resolved"


def test_assign_to_a_colleague_and_unassign_agents_only(engine, people, cases):
    cid = cases["urgent_new"]
    run(engine, cmd.assign, people.sam, cid, people.riley.id)
    assert ids(engine, people.riley, scope="mine") == [cid]
    run(engine, cmd.assign, people.sam, cid, None)
    assert cid in ids(engine, people.sam, scope="unassigned")
    assert code_of(engine, cmd.assign, people.bob, cid, people.sam.id) is E.FORBIDDEN
    assert code_of(engine, cmd.assign, people.sam, cid, people.alice.id) is E.USER_NOT_FOUND


def test_any_status_puts_cases_never_due_after_the_due_ones_oldest_first_within_the_limit(engine, people, cases, monkeypatch,
                                                                                           request):
    request.addfinalizer(wq._queue_stmt.cache_clear)  # before the limit is put back: no statement keeps 1
    run(engine, wc.resolve, people.sam, cases["normal_mid"])  # 10 h old
    run(engine, wc.resolve, people.sam, cases["low_old"])  # 50 h old
    assert ids(engine, people.sam, status="all") == [cases[n] for n in ("urgent_new", "high_new", "low_old", "normal_mid")]
    monkeypatch.setattr(wq, "QUEUE_LIMIT", 3)
    wq._queue_stmt.cache_clear()  # the statements are built with the limit
    SHARED.forget_all()  # nothing changed in the database: the queue read just now would still be kept
    assert ids(engine, people.sam, status="all") == [cases[n] for n in ("urgent_new", "high_new", "low_old")]
    monkeypatch.setattr(wq, "QUEUE_LIMIT", 1)
    wq._queue_stmt.cache_clear()
    SHARED.forget_all()
    assert ids(engine, people.sam, status="resolved") == [cases["low_old"]]


def test_the_queue_is_read_in_a_fixed_number_of_statements(engine, people, order_client):
    """BEGIN, one read for the page's cases in order, one for their details, one for
    this agent's marks: never one per case, message or name."""
    def statements(**filters) -> int:
        return run_counted(engine, wq.queue, people.sam, write=False, **filters)[1]

    first = open_case(engine, people.alice, order_client, "first")
    few, few_all = statements(), statements(status="all")
    for n in range(5):
        cid = open_case(engine, people.bob, order_client, f"case {n}", "ORD-1002-1")
        run(engine, cmd.add_message, people.sam, cid, f"reply {n}")
        run(engine, cmd.add_message, people.bob, cid, f"answer {n}")
    run(engine, wc.resolve, people.sam, first)
    run(engine, wq.mark_seen, people.sam, cid)
    assert (statements(), statements(status="all")) == (few, few_all)
    assert few == few_all == 4


def test_agents_share_one_queue_read_until_a_change_commits(engine, people, cases):
    """Every workspace rereads its queue on every change: the rows are read once for all
    agents (but "mine"); each agent's own marks are not shared."""
    def read(who, **filters) -> tuple:
        return run_counted(engine, wq.queue, who, write=False, **filters)

    run(engine, wq.mark_seen, people.sam, cases["high_new"])  # Sam's mark: read; Riley's: unread
    sams, whole = read(people.sam)
    rileys, marks_only = read(people.riley)
    assert (whole, marks_only) == (4, 2)  # Riley: BEGIN and her marks; the rows were Sam's read
    assert [r.id for r in rileys] == [r.id for r in sams]
    unread = lambda rows: {r.id: r.unread for r in rows}[cases["high_new"]]  # noqa: E731
    assert (unread(sams), unread(rileys)) == (False, True)
    # A change commits: the next read, by anyone, is of the database again and shows it.
    run(engine, wc.resolve, people.sam, cases["urgent_new"])
    after, count = read(people.riley)
    assert cases["urgent_new"] not in [r.id for r in after] and count == 4
    # "Mine" is each agent's own.
    run(engine, cmd.assign, people.sam, cases["low_old"], people.riley.id)
    assert [r.id for r in read(people.riley, scope="mine")[0]] == [cases["low_old"]]
    assert read(people.sam, scope="mine")[0] == []


@pytest.mark.postgres
def test_marks_are_upserted_on_postgresql_too(pg_engine, monkeypatch, order_client):
    """The marks' upsert is PostgreSQL's own INSERT ... ON CONFLICT there: a second pick
    moves the mark, leaving a case marks it, a case gone is not marked."""
    who = make_people(pg_engine, monkeypatch)
    first = open_case(pg_engine, who.alice, order_client, "first")
    second = open_case(pg_engine, who.bob, order_client, "second", "ORD-1002-1")

    def marks() -> dict:
        with session_scope(pg_engine) as s:
            return {m.case_id: m.seen_at for m in s.exec(select(CaseSeen).where(CaseSeen.agent_id == who.sam.id))}

    assert run(pg_engine, wq.mark_seen, who.sam, first) == first
    before = marks()
    assert run(pg_engine, wq.mark_seen, who.sam, second, str(first)) == second
    after = marks()
    assert set(after) == {first, second} and after[first] > before[first]
    assert run(pg_engine, wq.mark_seen, who.sam, first, "999999") == first  # the case left behind is gone
    assert code_of(pg_engine, wq.mark_seen, who.sam, "999999", str(first)) is E.CASE_NOT_FOUND
