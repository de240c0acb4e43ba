"""Refund use cases on a real SQLite file, with the order sandbox over real HTTP.

Every service call runs in its own ``session_scope`` unit of work (as the app's runner
does), so "nothing persisted" after an error really means rolled back. Concurrency is
in test_refund_race.py.

ORD-1001-1 (alice, delivered 2 days before the sandbox's ``now``): L1 3 mugs → unit
amounts [1389, 1388, 1388]; L2 1 × 2975; L3 2 × [536, 535]; shipping 495 + 94; paid 8800.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import select

from fixtures_db import (  # noqa: F401
    PW, alembic_config, code_of, count, keep_logging, order_client, orders_server, orders_server_session, people, run,
    run_counted, run_traced,
)
from support_app.db import make_engine, session_scope
from support_app.domain.errors import DomainError, ErrorCode
from support_app.models import CaseEvent, OrderLine, OrderSnapshot, RefundCase, RefundEvent, RefundItem
from support_app.models.base import utcnow
from support_app.services import auth_service
from support_app.services import case_commands as cmd
from support_app.services import case_queries as cq
from support_app.services import refund_commands as rc
from support_app.services import refund_queries as rq
from support_app.services import refund_queue as rqueue
from support_app.services.views import iso

E = ErrorCode
CASE = dict(subject="Cracked mug", description="The blue mug arrived cracked in two.", category="damaged_item")
PAID = 8800


def open_case(engine, who, client, order="ORD-1001-1") -> int:
    return run(engine, cmd.create_case, who, order, client=client, **CASE)


_keys = iter(range(10**6))


def key() -> str:
    return f"form-key-{next(_keys):06d}"


def ask(engine, who, case_id, selection, reason="damaged", **kw) -> int:
    kw.setdefault("request_key", key())
    return run(engine, rc.request_refund, who, case_id, selection, reason, **kw)


def form(engine, who, case_id) -> dict[str, object]:
    return {ln.line_id: ln for ln in run(engine, rq.refund_form, who, case_id, write=False)[0].lines}


def refund(engine, refund_id) -> RefundCase:
    with session_scope(engine) as s:
        return s.get(RefundCase, refund_id)


def items(engine, refund_id) -> list[tuple[str, int, str, int]]:
    with session_scope(engine) as s:
        rows = s.exec(select(OrderLine.line_id, RefundItem.quantity, RefundItem.unit_amounts, RefundItem.amount)
                      .join(OrderLine, OrderLine.id == RefundItem.order_line_id)
                      .where(RefundItem.refund_case_id == refund_id).order_by(RefundItem.id))
        return [tuple(r) for r in rows]


def footprint(engine) -> tuple[int, int, int, int]:
    return tuple(count(engine, t) for t in (RefundCase, RefundItem, RefundEvent, CaseEvent))


@pytest.fixture
def case_id(engine, people, order_client) -> int:
    return open_case(engine, people.alice, order_client)


# -- the request form ----------------------------------------------------------


def test_form_in_window(engine, people, case_id, orders_server):
    f = run(engine, rq.refund_form, people.alice, case_id, write=False)[0]
    assert (f.case_id, f.case_number, f.order_id, f.currency, f.shipping) == (case_id, "SC-000001", "ORD-1001-1", "EUR", "€5.89")
    deadline = iso(orders_server.now - timedelta(days=2) + timedelta(days=14))
    assert deadline.endswith("Z")
    got = [(ln.line_id, ln.purchased, ln.held, ln.refundable_now, ln.unit_price, ln.eligible, ln.deadline) for ln in f.lines]
    assert got == [("L1", 3, 0, 3, "€13.88–€13.89 per unit", True, deadline), ("L2", 1, 0, 1, "€29.75 per unit", True, deadline),
                   ("L3", 2, 0, 2, "€5.35–€5.36 per unit", True, deadline)]
    assert {ln.window_text for ln in f.lines} == {"requested 2 days after delivery — within window"}
    assert [ln.name for ln in f.lines] == ["Blue ceramic mug", "Tea sampler box", "Cork coasters (4)"]
    assert (f.blocked, f.blocked_text, f.blocked_help) == ("", "", "")
    assert [(o.value, o.label) for o in f.reasons] == [
        ("damaged", "Arrived damaged"), ("wrong_item", "Wrong item sent"), ("not_as_described", "Not as described"),
        ("not_received", "Never arrived (though marked delivered)"), ("changed_mind", "Changed my mind"), ("other", "Other")]


def test_form_13_days_after_delivery_is_still_in_window(engine, people, order_client, orders_server):
    [ln] = form(engine, people.alice, open_case(engine, people.alice, order_client, "ORD-1001-2")).values()
    assert (ln.eligible, ln.refundable_now, ln.deadline) == (True, 1, iso(orders_server.now + timedelta(days=1)))
    assert ln.window_text == "requested 13 days after delivery — within window"


def test_form_15_days_after_delivery_window_ended(engine, people, order_client, orders_server):
    cid = open_case(engine, people.alice, order_client, "ORD-1001-3")
    lines = form(engine, people.alice, cid)
    end = orders_server.now - timedelta(days=1)
    assert {(ln.purchased, ln.held, ln.refundable_now, ln.eligible) for ln in lines.values()} == {(1, 0, 0, False), (2, 0, 0, False)}
    assert {ln.deadline for ln in lines.values()} == {iso(end)}
    assert {ln.window_text for ln in lines.values()} == {
        f"requested 15 days after delivery — window ended on {end:%Y-%m-%d} at {end:%H:%M} UTC"}
    f = run(engine, rq.refund_form, people.alice, cid, write=False)[0]
    assert (f.blocked, f.blocked_deadline, f.reasons) == ("window_ended", iso(end), [])
    assert f.blocked_text == "The 14-day refund window for this order ended on"
    assert f.blocked_help.startswith("What to do: reply to the agent on the case — they can still settle it another way")


def test_form_not_delivered(engine, people, order_client):
    cid = open_case(engine, people.alice, order_client, "ORD-1001-4")
    [ln] = form(engine, people.alice, cid).values()
    assert (ln.purchased, ln.refundable_now, ln.eligible, ln.deadline) == (1, 0, False, "")
    assert ln.window_text == "not delivered yet — no refund window"
    f = run(engine, rq.refund_form, people.alice, cid, write=False)[0]
    assert (f.blocked, f.blocked_deadline, f.reasons) == ("not_delivered", "", [])  # no "Never arrived" to pick either
    assert f.blocked_text.startswith("This order has not been delivered yet")
    assert f.blocked_help.startswith("What to do: reply to the agent on the case — they can check with the carrier")
    # The agent's settlement form for the same case offers every reason, "Never arrived" first of all.
    settle = run(engine, rq.refund_form, people.sam, cid, True, write=False)[0]
    assert settle.blocked == "" and ("not_received", "Never arrived") in [(o.value, o.label) for o in settle.reasons]


def test_form_with_every_unit_already_held(engine, people, case_id):
    ask(engine, people.alice, case_id, {"L1": 3, "L2": 1, "L3": 2})
    f = run(engine, rq.refund_form, people.alice, case_id, write=False)[0]
    assert (f.blocked, f.reasons) == ("all_held", [])
    assert f.blocked_text == "Every item of this order is already in a refund request, refunded or settled."


def test_form_is_for_the_customer_only(engine, people, case_id):
    assert code_of(engine, rq.refund_form, people.sam, case_id) is E.FORBIDDEN
    assert code_of(engine, rq.refund_form, people.bob, case_id) is E.NOT_CASE_OWNER
    assert code_of(engine, rq.refund_form, people.alice, "nope") is E.CASE_NOT_FOUND


# -- requesting ----------------------------------------------------------------


def test_request_two_of_three_mugs(engine, people, case_id, published):
    rid = ask(engine, people.alice, case_id, {"L1": 2}, note="  Two arrived cracked.  ")
    r = refund(engine, rid)
    assert re.fullmatch(r"RF-\d{6}", r.number) and r.number == "RF-000001"
    assert (r.status, r.amount, r.shipping_amount, r.currency, r.reason, r.note, r.version) == (
        "requested", 2777, 0, "EUR", "damaged", "Two arrived cracked.", 1)
    assert (r.customer_id, r.support_case_id) == (people.alice.id, case_id) and r.requested_at.tzinfo is not None
    assert items(engine, rid) == [("L1", 2, "1389,1388", 2777)]
    with session_scope(engine) as s:
        [ev] = s.exec(select(RefundEvent).where(RefundEvent.refund_case_id == rid)).all()
    assert (ev.kind, ev.actor_id, ev.from_status, ev.to_status) == ("requested", people.alice.id, None, "requested")
    assert ev.detail == "RF-000001 · €27.77"
    timeline = run(engine, cq.get_case, people.alice, case_id, write=False).timeline
    assert [(e.kind, e.text, e.internal) for e in timeline][-1] == ("refund_requested", "Requested refund RF-000001 · €27.77", False)
    [change] = published  # after commit: the refund, its case and its customer's lists
    assert (change.refunds, change.cases, change.customers, change.internal) == ({rid}, {case_id}, {people.alice.id}, False)
    lines = form(engine, people.alice, case_id)
    assert (lines["L1"].held, lines["L1"].refundable_now, lines["L2"].refundable_now) == (2, 1, 1)


def test_the_last_mug_costs_1388_and_everything_sums_to_amount_paid(engine, people, case_id):
    first = ask(engine, people.alice, case_id, {"L1": 2})
    last = ask(engine, people.alice, case_id, {"L1": "1"})
    assert (refund(engine, last).amount, items(engine, last)) == (1388, [("L1", 1, "1388", 1388)])
    rest = ask(engine, people.alice, case_id, {"L2": 1, "L3": 2, "L1": 0})  # the whole order is now back
    assert items(engine, rest) == [("L2", 1, "2975", 2975), ("L3", 2, "536,535", 1071)]
    assert (refund(engine, rest).shipping_amount, refund(engine, rest).amount) == (589, 2975 + 1071 + 589)
    assert sum(refund(engine, i).amount for i in (first, last, rest)) == PAID
    with session_scope(engine) as s:
        assert s.exec(select(OrderSnapshot.amount_paid)).one() == PAID
    assert {ln.refundable_now for ln in form(engine, people.alice, case_id).values()} == {0}
    assert [r.number for r in run(engine, rq.list_case_refunds, people.alice, case_id, write=False)] == [
        "RF-000003", "RF-000002", "RF-000001"]


def test_shop_fault_reason_refunds_shipping_once(engine, people, case_id):
    first = ask(engine, people.alice, case_id, {"L3": 1}, reason="wrong_item")
    second = ask(engine, people.alice, case_id, {"L3": 1}, reason="wrong_item")
    assert [(refund(engine, i).amount, refund(engine, i).shipping_amount) for i in (first, second)] == [(536 + 589, 589), (535, 0)]
    assert run(engine, rq.get_refund, people.alice, first, write=False).shipping == "€5.89"


def test_more_than_refundable(engine, people, case_id):
    ask(engine, people.alice, case_id, {"L1": 2})
    before = footprint(engine)
    with pytest.raises(DomainError) as err:
        ask(engine, people.alice, case_id, {"L1": 2})
    assert err.value.code is E.QUANTITY_EXCEEDS_REFUNDABLE and "L1" in err.value.fields
    assert footprint(engine) == before


@pytest.mark.parametrize(("order", "code"), [("ORD-1001-3", E.REFUND_WINDOW_EXPIRED), ("ORD-1001-4", E.ORDER_NOT_DELIVERED)])
def test_outside_the_window_or_undelivered(engine, people, order_client, order, code):
    cid = open_case(engine, people.alice, order_client, order)
    before = footprint(engine)
    assert code_of(engine, rc.request_refund, people.alice, cid, {"L1": 1}, "damaged", request_key=key()) is code
    assert footprint(engine) == before


BAD = [
    ({"L1": -1}, "damaged", {}, E.INVALID_QUANTITY),
    ({"L1": "-1"}, "damaged", {}, E.INVALID_QUANTITY),
    ({"L1": 0, "L2": "0", "L3": None}, "damaged", {}, E.EMPTY_REFUND),
    ({}, "damaged", {}, E.EMPTY_REFUND),
    ({"L1": 1.5}, "damaged", {}, E.INVALID_QUANTITY),
    ({"L1": "1.5"}, "damaged", {}, E.INVALID_QUANTITY),
    ({"L1": 1.0}, "damaged", {}, E.INVALID_QUANTITY),
    ({"L1": 10**12}, "damaged", {}, E.INVALID_QUANTITY),
    ({"L1": str(10**12)}, "damaged", {}, E.INVALID_QUANTITY),
    ({"L1": 4}, "damaged", {}, E.INVALID_QUANTITY),
    ({"L1": True}, "damaged", {}, E.INVALID_QUANTITY),
    ({"L1": "²"}, "damaged", {}, E.INVALID_QUANTITY),
    ({"L9": 1}, "damaged", {}, E.LINE_NOT_IN_ORDER),
    ({"L1": 1, "l2": 1}, "damaged", {}, E.LINE_NOT_IN_ORDER),
    ([("L1", 1)], "damaged", {}, E.EMPTY_REFUND),
    ("L1=1", "damaged", {}, E.EMPTY_REFUND),
    (None, "damaged", {}, E.EMPTY_REFUND),
    ({f"L{i}": 1 for i in range(201)}, "damaged", {}, E.EMPTY_REFUND),
    ({"L1": 1}, "bogus", {}, E.INVALID_REASON),
    ({"L1": 1}, None, {}, E.INVALID_REASON),
    ({"L1": 1}, "damaged", {"note": "n" * 1001}, E.VALIDATION_FAILED),
    ({"L1": 1}, "damaged", {"request_key": ""}, E.VALIDATION_FAILED),
    ({"L1": 1}, "damaged", {"request_key": "short"}, E.VALIDATION_FAILED),
    ({"L1": 1}, "damaged", {"request_key": "k" * 65}, E.VALIDATION_FAILED),
    ({"L1": 1}, "damaged", {"request_key": 12345678}, E.VALIDATION_FAILED),
]


@pytest.mark.parametrize(("selection", "reason", "extra", "code"), BAD)
def test_bad_input_is_refused_and_nothing_persisted(engine, people, case_id, selection, reason, extra, code, published):
    before = footprint(engine)
    kw = {"request_key": key(), **extra}
    assert code_of(engine, rc.request_refund, people.alice, case_id, selection, reason, **kw) is code
    assert footprint(engine) == before == (0, 0, 0, 1)
    assert published == []  # nothing committed, nothing announced


def test_missing_request_key_is_refused(engine, people, case_id):
    assert code_of(engine, rc.request_refund, people.alice, case_id, {"L1": 1}, "damaged") is E.VALIDATION_FAILED
    assert footprint(engine) == (0, 0, 0, 1)


def test_a_note_of_exactly_1000_characters_is_kept(engine, people, case_id):
    assert refund(engine, ask(engine, people.alice, case_id, {"L1": 1}, note="n" * 1000)).note == "n" * 1000


def test_line_id_of_another_order(engine, people, order_client):
    kettle = open_case(engine, people.alice, order_client, "ORD-1001-2")  # one line, L1
    open_case(engine, people.alice, order_client)  # ORD-1001-1 has L2 and L3, and their row ids
    with session_scope(engine) as s:
        other_ids = s.exec(select(OrderLine.id).join(OrderSnapshot).where(OrderSnapshot.order_id == "ORD-1001-1")).all()
    before = footprint(engine)
    for selection in ({"L2": 1}, {"L3": 1}, {other_ids[0]: 1}, {str(other_ids[1]): 1}):
        assert code_of(engine, rc.request_refund, people.alice, kettle, selection, "damaged", request_key=key()) is E.LINE_NOT_IN_ORDER
    assert footprint(engine) == before


def test_who_may_request(engine, people, case_id):
    before = footprint(engine)
    assert code_of(engine, rc.request_refund, people.bob, case_id, {"L1": 1}, "damaged", request_key=key()) is E.NOT_CASE_OWNER
    assert code_of(engine, rc.request_refund, people.sam, case_id, {"L1": 1}, "damaged", request_key=key()) is E.FORBIDDEN
    for bad in ("abc", None, 999, "999", True):
        assert code_of(engine, rc.request_refund, people.alice, bad, {"L1": 1}, "damaged", request_key=key()) is E.CASE_NOT_FOUND
    assert footprint(engine) == before


def test_closed_case(engine, people, case_id):
    run(engine, cmd.change_status, people.alice, case_id, "closed")
    before = footprint(engine)
    assert code_of(engine, rc.request_refund, people.alice, case_id, {"L1": 1}, "damaged", request_key=key()) is E.CASE_CLOSED
    assert footprint(engine) == before


def test_double_submit_returns_the_same_refund(engine, people, case_id):
    first = ask(engine, people.alice, case_id, {"L1": 2}, request_key="same-form-0001")
    again = ask(engine, people.alice, case_id, {"L1": 2}, request_key="same-form-0001")
    assert again == first and footprint(engine) == (1, 1, 1, 2)
    other = ask(engine, people.alice, case_id, {"L1": 1}, request_key="same-form-0002")
    assert other != first and count(engine, RefundCase) == 2


# -- cancelling ----------------------------------------------------------------


def test_owner_cancels_and_the_quantity_comes_back(engine, people, case_id):
    rid = ask(engine, people.alice, case_id, {"L1": 3})
    assert form(engine, people.alice, case_id)["L1"].refundable_now == 0
    run(engine, rc.cancel_refund, people.alice, rid, expected_version=1)
    r = refund(engine, rid)
    assert (r.status, r.version) == ("cancelled", 2)
    lines = form(engine, people.alice, case_id)["L1"]
    assert (lines.held, lines.refundable_now) == (0, 3)
    with session_scope(engine) as s:
        evs = s.exec(select(RefundEvent).where(RefundEvent.refund_case_id == rid).order_by(RefundEvent.id)).all()
    assert [(e.kind, e.actor_id, e.from_status, e.to_status) for e in evs] == [
        ("requested", people.alice.id, None, "requested"), ("status_changed", people.alice.id, "requested", "cancelled")]
    assert run(engine, cq.get_case, people.alice, case_id, write=False).timeline[-1].text == "Cancelled refund RF-000001"
    again = ask(engine, people.alice, case_id, {"L1": 3})  # released: the same mugs, the same money
    assert (refund(engine, again).amount, items(engine, again)) == (4165, [("L1", 3, "1389,1388,1388", 4165)])


def test_cancel_refusals_change_nothing(engine, people, case_id):
    rid = ask(engine, people.alice, case_id, {"L1": 1})
    before = footprint(engine)
    assert code_of(engine, rc.cancel_refund, people.sam, rid) is E.INVALID_REFUND_TRANSITION
    assert code_of(engine, rc.cancel_refund, people.bob, rid) is E.NOT_CASE_OWNER
    assert code_of(engine, rc.cancel_refund, people.alice, rid, expected_version=2) is E.CONCURRENT_UPDATE
    assert code_of(engine, rc.cancel_refund, people.alice, rid, expected_version=0) is E.CONCURRENT_UPDATE
    for bad in ("abc", None, 999, "999", True, [rid], "-1", "²", "١٢"):  # digits to isdigit(), not to int()
        assert code_of(engine, rc.cancel_refund, people.alice, bad) is E.REFUND_NOT_FOUND
    assert footprint(engine) == before and (refund(engine, rid).status, refund(engine, rid).version) == ("requested", 1)
    run(engine, rc.cancel_refund, people.alice, str(rid))
    # cancelled → cancelled is not "already processed" (nothing was paid): the domain says INVALID_REFUND_TRANSITION.
    assert code_of(engine, rc.cancel_refund, people.alice, rid) is E.INVALID_REFUND_TRANSITION
    assert code_of(engine, rc.cancel_refund, people.alice, rid, expected_version=2) is E.INVALID_REFUND_TRANSITION
    assert refund(engine, rid).version == 2 and count(engine, RefundEvent) == 2


# -- reading -------------------------------------------------------------------


def test_get_refund_for_owner_and_agent(engine, people, case_id):
    rid = ask(engine, people.alice, case_id, {"L1": 2, "L3": 1}, reason="not_as_described", note="Looks nothing like it")
    mine = run(engine, rq.get_refund, people.alice, rid, write=False)
    assert (mine.id, mine.number, mine.status, mine.status_label, mine.reason_label) == (
        rid, "RF-000001", "requested", "Requested", "Not as described")
    assert (mine.amount, mine.currency, mine.note, mine.version) == ("€33.13", "EUR", "Looks nothing like it", 1)
    assert (mine.case_id, mine.case_number, mine.order_id, mine.customer_name) == (case_id, "SC-000001", "ORD-1001-1", "Alice Martin")
    assert [(i.name, i.quantity, i.amount, i.unit_amounts) for i in mine.lines] == [
        ("Blue ceramic mug", 2, "€27.77", "€13.89 + €13.88"), ("Cork coasters (4)", 1, "€5.36", "€5.36")]
    assert [(h.kind, h.text, h.actor_name) for h in mine.history] == [
        ("requested", "Requested the refund: RF-000001 · €33.13", "Alice Martin")]
    assert mine.requested_at.endswith("Z") and mine.can_cancel is True
    assert (mine.window_summary, mine.window_ended_at) == ("requested 2 days after delivery — within window", "")
    agent = run(engine, rq.get_refund, people.sam, str(rid), write=False)
    assert agent.can_cancel is False and agent.lines == mine.lines and agent.amount == mine.amount
    run(engine, rc.cancel_refund, people.alice, rid)
    after = run(engine, rq.get_refund, people.alice, rid, write=False)
    assert (after.status_label, after.can_cancel, after.version) == ("Cancelled", False, 2)
    assert after.history[-1].text == "Changed status from Requested to Cancelled"


def test_get_refund_refusals(engine, people, case_id):
    rid = ask(engine, people.alice, case_id, {"L1": 1})
    assert code_of(engine, rq.get_refund, people.bob, rid) is E.NOT_CASE_OWNER
    for bad in ("abc", None, "", 999, "999", True, [rid], {}, "1 OR 1=1", "9" * 19, -1, 1.0):
        for who in (people.alice, people.sam):
            assert code_of(engine, rq.get_refund, who, bad) is E.REFUND_NOT_FOUND


def test_list_case_refunds(engine, people, order_client, case_id):
    assert run(engine, rq.list_case_refunds, people.alice, case_id, write=False) == []
    a = ask(engine, people.alice, case_id, {"L1": 1})
    b = ask(engine, people.alice, case_id, {"L2": 1})
    run(engine, rc.cancel_refund, people.alice, a)
    elsewhere = open_case(engine, people.alice, order_client)  # same order, other case: not listed here
    ask(engine, people.alice, elsewhere, {"L3": 1})
    rows = run(engine, rq.list_case_refunds, people.alice, case_id, write=False)
    assert [(r.id, r.number, r.status, r.status_label, r.amount) for r in rows] == [
        (b, "RF-000002", "requested", "Requested", "€29.75"), (a, "RF-000001", "cancelled", "Cancelled", "€13.89")]
    assert all(r.requested_at.endswith("Z") for r in rows)
    assert run(engine, rq.list_case_refunds, people.sam, case_id, write=False) == rows
    assert code_of(engine, rq.list_case_refunds, people.bob, case_id) is E.NOT_CASE_OWNER
    assert form(engine, people.alice, elsewhere)["L3"].held == 1  # holds count per order, across cases
    assert run(engine, cq.get_case, people.alice, case_id, write=False).refunds == rows


def test_price_refund_quotes_what_request_refund_stores(engine, people, case_id):
    def quote(selection, reason="damaged"):
        got = run(engine, rq.price_refund, people.alice, case_id, selection, reason, write=False)
        return got.total, got.shipping, got.problem

    assert quote({"L1": 2}) == ("€27.77", "", "")
    assert quote({"L1": 3, "L2": 1, "L3": 2}) == ("€88.00", "€5.89", "")
    assert quote({}) == ("€0.00", "", "") and quote({"L1": 0}) == ("€0.00", "", "")
    assert quote({"L1": 4})[2] and quote({"L1": "1.5"})[2] and quote({"L1": 1}, "bogus")[2]
    assert footprint(engine) == (0, 0, 0, 1)  # quoting stores nothing
    ask(engine, people.alice, case_id, {"L1": 2})
    assert quote({"L1": 1}) == ("€13.88", "", "")
    assert quote({"L1": 2}) == ("€0.00", "", "Only 1 left to refund.")
    assert code_of(engine, rq.price_refund, people.bob, case_id, {"L1": 1}, "damaged") is E.NOT_CASE_OWNER


def test_the_form_opens_with_the_quote_of_nothing_chosen(engine, people, case_id):
    """The form's first total comes with the form (one service call per page load)."""
    opened = run(engine, rq.refund_form, people.alice, case_id, write=False)[0]
    assert opened.quote == run(engine, rq.price_refund, people.alice, case_id, {}, "", write=False)
    assert (opened.quote.total, opened.quote.shipping, opened.quote.problem) == ("€0.00", "", "")
    settling = run(engine, rq.refund_form, people.sam, case_id, True, write=False)[0]
    assert settling.quote == run(engine, rq.price_refund, people.sam, case_id, {}, "", True, write=False)


def test_the_forms_pricing_basis_quotes_what_a_fresh_read_quotes(engine, people, case_id):
    """Each click in the form is priced from what the form read (no statement per click),
    the same as a fresh read would price it, until the order changes; the request itself is
    checked again under the order's lock, so a stale quote can never store a wrong refund."""
    _, pricing = run(engine, rq.refund_form, people.alice, case_id, write=False)
    picks = [({"L1": 2}, "damaged"), ({"L1": 3, "L2": 1, "L3": 2}, "damaged"), ({"L1": 4}, "damaged"),
             ({"L1": 1}, "bogus"), ({"L1": "1.5"}, "damaged"), ({}, "")]
    for selection, reason in picks:
        assert rq.quote(pricing, selection, reason) == run(engine, rq.price_refund, people.alice, case_id, selection,
                                                           reason, write=False)
    ask(engine, people.alice, case_id, {"L1": 2})  # the order changed after the form was read
    assert rq.quote(pricing, {"L1": 2}, "damaged").problem == ""  # the form's preview does not know yet
    with pytest.raises(DomainError) as refused:
        ask(engine, people.alice, case_id, {"L1": 2})
    assert refused.value.code is E.QUANTITY_EXCEEDS_REFUNDABLE and refused.value.message == "Only 1 left to refund."


# -- the refund history is append-only in the migrated database ----------------


def test_refund_events_refuse_update_and_delete_after_alembic(tmp_path, order_client, keep_logging):
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    command.upgrade(alembic_config(url), "head")
    eng = make_engine(url)
    try:
        alice = run(eng, auth_service.create_user, "alice@example.com", "Alice Martin", "customer", PW, "C-1001")
        cid = open_case(eng, alice, order_client)
        rid = ask(eng, alice, cid, {"L1": 1})
        run(eng, rc.cancel_refund, alice, rid)  # appending still works
        for sql in ("UPDATE refund_events SET kind = 'tampered'", "DELETE FROM refund_events",
                    f"UPDATE refund_events SET detail = 'x' WHERE refund_case_id = {rid}"):
            with pytest.raises(DatabaseError, match="refund_events is append-only"):
                with session_scope(eng, write=True) as s:
                    s.execute(text(sql))
        with session_scope(eng) as s:
            got = s.exec(select(RefundEvent.kind, RefundEvent.to_status).order_by(RefundEvent.id)).all()
        assert [tuple(g) for g in got] == [("requested", "requested"), ("status_changed", "cancelled")]
    finally:
        eng.dispose()


def test_a_request_key_from_another_cases_form_is_refused(engine, people, order_client):
    first = open_case(engine, people.alice, order_client)
    second = open_case(engine, people.alice, order_client, "ORD-1001-2")
    ask(engine, people.alice, first, {"L1": 1}, request_key="shared-form-key")
    assert code_of(engine, rc.request_refund, people.alice, second, {"L1": 1}, "damaged", "", "shared-form-key") is E.VALIDATION_FAILED
    assert count(engine, RefundCase) == 1


def test_agents_share_one_refund_queue_read_until_a_change_commits(engine, people, order_client):
    from support_app.services import refund_review as rv

    def queue(who) -> tuple:
        return run_counted(engine, rqueue.refund_queue, who, "", write=False)

    rid = ask(engine, people.alice, open_case(engine, people.alice, order_client), {"L1": 1})
    sams, read = queue(people.sam)
    rileys, shared = queue(people.riley)
    assert read > 0 and shared == 0 and rileys == sams and [r.status for r in rileys.rows] == ["requested"]
    rileys.rows[0].status = "changed in Riley's tab"
    assert queue(people.sam)[0].rows[0].status == "requested"  # each tab its own rows
    run(engine, rv.reject_refund, people.sam, rid, "other", "Not this time, sorry.")  # a change commits
    after, count = queue(people.riley)
    assert [r.status for r in after.rows] == ["rejected"] and count == read


def test_a_decision_keeps_the_loaded_refund_in_step_without_reading_it_again(engine, people, case_id):
    """The conditional UPDATE of a decision brings the refund loaded in the session up to
    date (SQLAlchemy applies its SET to it): nothing reads the refund again after it, one
    round trip fewer per decision, and what the rest of the unit of work sees is the new row."""
    rid = ask(engine, people.alice, case_id, {"L1": 1})

    def move(session, caller):
        refund = session.get(RefundCase, rid)
        rc.change_refund_status(session, refund, "requested", "processing", refund.version, utcnow(), decided_by=caller.id)
        return refund.status, refund.version, refund.decided_by

    seen, sent = run_traced(engine, move, people.sam)
    assert seen == ("processing", 2, people.sam.id)
    assert [s.split()[0] for s in sent if "refund_cases" in s] == ["SELECT", "UPDATE"]
    with session_scope(engine) as s:
        stored = s.get(RefundCase, rid)
        assert (stored.status, stored.version, stored.decided_by) == seen


def test_the_refund_form_is_read_in_a_fixed_number_of_statements(engine, people, case_id, order_client):
    """After the order lookup (one statement, then the order system over HTTP): the case
    with its order, the lines, and the order's refunds with their items, however many."""
    def statements() -> int:
        return run_counted(engine, rq.refund_form, people.alice, case_id, client=order_client, write=False)[1]

    alone = statements()
    ask(engine, people.alice, case_id, {"L2": 1, "L3": 2})
    ask(engine, people.alice, case_id, {"L1": 1})
    assert statements() == alone <= 6  # on SQLite a BEGIN before each of the two reads


def test_an_agents_refund_page_is_read_in_a_fixed_number_of_statements(engine, people, case_id):
    """One query per part of the page; the order's other refunds and their items come
    in one statement, however many there are."""
    rid = ask(engine, people.alice, case_id, {"L1": 1})

    def statements() -> int:
        return run_counted(engine, rq.get_refund, people.sam, rid, write=False)[1]

    alone = statements()
    ask(engine, people.alice, case_id, {"L2": 1, "L3": 2})
    ask(engine, people.alice, case_id, {"L1": 1})
    assert statements() == alone <= 7
