"""Agent-recorded settlements: the path for undelivered and out-of-window items, the
agent's own record (who acted, what the customer is told, what only agents read), and
the money rule: per order, gateway refunds (refunded or in flight) plus settlements
never exceed what was paid — a settlement's cap is what is left of the payment.

SQLite file (PostgreSQL where the lock matters), order and gateway sandboxes over real
HTTP; each call its own unit of work.
ORD-1001-1 (alice, paid €88.00, in window): L1 3 mugs [1389, 1388, 1388]; L2 1 × 2975;
L3 2 × [536, 535]; shipping 589.
ORD-1001-3 (alice, paid €58.25, delivered 15 days ago): L1 teapot 3808; L2 2 infusers
[714, 714]; shipping 589.
ORD-1001-4 (alice, paid €105.91, not delivered): L1 grinder 10591.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlmodel import select

from fixtures_db import (  # noqa: F401
    code_of, count, make_people, order_client, orders_server, orders_server_session, people, pg_engine, pg_url, run,
)
from fixtures_gateway import gateway_server, gateway_server_session  # noqa: F401
from support_app.db import session_scope
from support_app.domain.errors import DomainError, ErrorCode
from support_app.models import CaseMessage, RefundAttempt, RefundCase, RefundEvent
from support_app.services import case_commands as cmd
from support_app.services import case_queries as cq
from support_app.services import refund_commands as rc
from support_app.services import refund_queries as rq
from support_app.services import refund_review as rv
from test_exactly_once import approve, ask, gateway, in_threads, refund_row, send_due  # noqa: F401

E = ErrorCode
CASE = dict(subject="Teapot lid chipped", description="The lid was chipped when I unpacked it.", category="damaged_item")
MESSAGE = "A replacement teapot is on its way, tracking 123."
INTERNAL = "Warehouse confirmed the batch was chipped; supplier credit claimed."
_keys = iter(range(10**6))


def _case(engine, people, order_client, order="ORD-1001-3") -> int:
    return run(engine, cmd.create_case, people.alice, order, client=order_client, **CASE)


def settle(engine, agent, case_id, selection, kind, amount, message=MESSAGE, internal="", reason="damaged") -> int:
    return run(engine, rc.record_settlement, agent, case_id, selection, reason, kind, amount, message,
               f"agent-key-{next(_keys):06d}", internal)


def error(engine, fn, *args, **kw) -> DomainError:
    with pytest.raises(DomainError) as err:
        run(engine, fn, *args, **kw)
    return err.value


def money_out(engine, order_snapshot_id: int) -> int:
    """What the order's refunds took from its payment, recomputed from the rows."""
    with session_scope(engine) as s:
        refunds = s.exec(select(RefundCase).where(RefundCase.order_snapshot_id == order_snapshot_id)).all()
    return sum(r.amount if r.status in ("approved", "processing", "refunded") else
               (r.settled_amount or 0) if r.status == "settled" else 0 for r in refunds)


# -- the path for items the gateway cannot refund ------------------------------------


def test_out_of_window_items_are_settled_by_an_agent(engine, people, order_client):
    cid = _case(engine, people, order_client)
    # The customer cannot ask the gateway for it any more…
    assert code_of(engine, rc.request_refund, people.alice, cid, {"L1": 1}, "damaged", "", "cust-key-0001") is E.REFUND_WINDOW_EXPIRED
    # …the agent's form offers it, says why it is not a gateway refund, and what the amount may be.
    form = run(engine, rq.refund_form, people.sam, cid, True, write=False)[0]
    line = {ln.line_id: ln for ln in form.lines}["L1"]
    assert line.refundable_now == 1 and not line.eligible and "window ended" in line.window_text
    assert form.settle_hint == ("More than €0.00 and at most €58.25, what is left of this order's payment. "
                                "A replacement counts what the replaced items cost, so at most the total below.")
    quote = run(engine, rq.price_refund, people.sam, cid, {"L1": 1}, "damaged", True, write=False)
    assert quote.problem == "" and quote.total == "€38.08"
    rid = run(engine, rc.record_settlement, people.sam, cid, {"L1": 1}, "damaged", "replacement", 3808,
              MESSAGE, "agent-key-0001", INTERNAL)
    refund = run(engine, rq.get_refund, people.alice, rid, write=False)
    assert refund.status == "settled" and refund.outcome_text == "Replacement of €38.08."
    assert count(engine, RefundAttempt) == 0  # nothing went to the gateway
    held = {ln.line_id: ln for ln in run(engine, rq.refund_form, people.sam, cid, True, write=False)[0].lines}["L1"]
    assert held.held == 1 and held.refundable_now == 0
    # A double submit of the same form makes one settlement.
    again = run(engine, rc.record_settlement, people.sam, cid, {"L1": 1}, "damaged", "replacement", 3808,
                MESSAGE, "agent-key-0001", INTERNAL)
    assert again == rid and count(engine, RefundCase) == 1


def test_settlement_needs_an_agent_a_kind_and_a_message(engine, people, order_client):
    cid = _case(engine, people, order_client, "ORD-1001-4")  # not delivered
    args = (cid, {"L1": 1}, "not_received")
    assert code_of(engine, rc.record_settlement, people.alice, *args, "goodwill", 100, "Because I say so, ok.", "cust-key-0002") is E.FORBIDDEN
    assert code_of(engine, rq.refund_form, people.alice, cid, True, write=False) is E.FORBIDDEN
    err = error(engine, rc.record_settlement, people.sam, *args, "cash", 100, "Paid out at the counter.", "agent-key-0002")
    assert (err.code, err.fields) == (E.VALIDATION_FAILED, {"settle_type": "Choose how it was settled."})
    err = error(engine, rc.record_settlement, people.sam, *args, "goodwill", 100, "short", "agent-key-0003", "x" * 2001)
    assert err.code is E.VALIDATION_FAILED and err.fields == {
        "settle_message": "Write 10 to 2,000 characters to the customer: what was done.",
        "settle_internal_note": "Keep the internal note to 2,000 characters."}
    assert code_of(engine, rc.record_settlement, people.sam, cid, {"L1": 2}, "not_received", "goodwill", 100,
                   "Courier lost it, goodwill credit.", "agent-key-0004") is E.INVALID_QUANTITY  # more than bought
    assert count(engine, RefundCase) == 0
    rid = run(engine, rc.record_settlement, people.sam, *args, "manual_transfer", 10591, "Courier lost it; bank transfer sent.",
              "agent-key-0005")  # all of what was paid: the boundary is inside
    assert run(engine, rq.get_refund, people.sam, rid, write=False).status == "settled"


# -- the cap: what is left of the order's payment ------------------------------------


def test_a_settlement_is_more_than_zero_and_at_most_what_is_left_of_the_payment(engine, people, order_client):
    cid = _case(engine, people, order_client)  # paid €58.25
    for amount in (0, -1):
        err = error(engine, rc.record_settlement, people.sam, cid, {"L1": 1}, "damaged", "goodwill", amount, MESSAGE, "agent-key-0100")
        assert (err.code, err.fields) == (E.VALIDATION_FAILED,
                                          {"settle_amount": "Enter an amount above €0.00: a settlement always gives the customer something."})
    err = error(engine, rc.record_settlement, people.sam, cid, {"L1": 1}, "damaged", "store_credit", 5826, MESSAGE, "agent-key-0101")
    assert err.code is E.ORDER_OVER_REFUNDED and err.message == "Enter at most €58.25: that is what was paid for this order."
    assert err.fields == {"settle_amount": err.message}
    # More than the teapot's €38.08 is fine for store credit (a goodwill top-up), within the payment.
    first = settle(engine, people.sam, cid, {"L1": 1}, "store_credit", 5000)
    # An infuser (€7.14): what is left is €8.25.
    err = error(engine, rc.record_settlement, people.sam, cid, {"L2": 1}, "damaged", "goodwill", 826, MESSAGE, "agent-key-0102")
    assert err.code is E.ORDER_OVER_REFUNDED
    assert err.message == "Enter at most €8.25: the rest of this order was already refunded or settled."
    # A replacement counts what the replaced items cost: at most €7.14 here.
    err = error(engine, rc.record_settlement, people.sam, cid, {"L2": 1}, "damaged", "replacement", 715, MESSAGE, "agent-key-0103")
    assert (err.code, err.fields) == (E.VALIDATION_FAILED,
                                      {"settle_amount": "Enter at most €7.14: a replacement counts what the replaced items cost."})
    settle(engine, people.sam, cid, {"L2": 1}, "replacement", 714)
    form = run(engine, rq.refund_form, people.sam, cid, True, write=False)[0]
    assert form.settle_hint.startswith("More than €0.00 and at most €1.11, what is left")
    settle(engine, people.sam, cid, {"L2": 1}, "goodwill", 111)  # exactly what is left
    snap_id = refund_row(engine, first).order_snapshot_id
    assert money_out(engine, snap_id) == 5825
    assert run(engine, rq.refund_form, people.sam, cid, True, write=False)[0].settle_hint == (
        "Nothing is left of this order's payment: it was already refunded or settled in full.")
    assert count(engine, RefundCase) == 3


def test_nothing_left_refuses_any_settlement(engine, people, order_client):
    cid = _case(engine, people, order_client)
    settle(engine, people.sam, cid, {"L1": 1}, "manual_transfer", 5825)  # the whole payment back for the teapot
    err = error(engine, rc.record_settlement, people.sam, cid, {"L2": 1}, "damaged", "goodwill", 1, MESSAGE, "agent-key-0110")
    assert err.code is E.ORDER_OVER_REFUNDED
    assert err.message == "Nothing is left of this order's payment: it was already refunded or settled in full."


def test_gateway_refunds_in_flight_or_done_and_settlements_share_one_payment(engine, people, order_client, gateway_server, gateway):
    cid = run(engine, cmd.create_case, people.alice, "ORD-1001-1", client=order_client, **CASE)  # paid €88.00
    tea = ask(engine, people.alice, cid, {"L2": 1})  # €29.75
    ref = approve(engine, people.sam, tea)
    # In flight (processing, not even sent yet) already counts: €58.25 left.
    err = error(engine, rc.record_settlement, people.sam, cid, {"L3": 1}, "damaged", "goodwill", 5826, MESSAGE, "agent-key-0200")
    assert err.message == "Enter at most €58.25: the rest of this order was already refunded or settled."
    assert send_due(engine, gateway) == {ref.attempt_id: "succeeded"}
    assert refund_row(engine, tea).status == "refunded"
    err = error(engine, rc.record_settlement, people.sam, cid, {"L3": 1}, "damaged", "goodwill", 5826, MESSAGE, "agent-key-0201")
    assert err.code is E.ORDER_OVER_REFUNDED
    settle(engine, people.sam, cid, {"L3": 1}, "goodwill", 5825)  # a coaster, and a very generous gesture
    # Nothing of the payment is left: the customer cannot ask the gateway for the mugs any more.
    quote = run(engine, rq.price_refund, people.alice, cid, {"L1": 1}, "damaged", write=False)
    assert quote.problem == "Nothing of this order's payment is left to refund: it was already refunded or settled in full."
    err = error(engine, rc.request_refund, people.alice, cid, {"L1": 1}, "damaged", "", "cust-key-0200")
    assert err.code is E.ORDER_OVER_REFUNDED and err.message == quote.problem
    assert money_out(engine, refund_row(engine, tea).order_snapshot_id) == 8800
    assert gateway_server.payment("PAY-1001-1")["refunded"] == 2975


def test_a_request_asks_at_most_what_is_left_to_the_cent(engine, people, order_client):
    cid = run(engine, cmd.create_case, people.alice, "ORD-1001-1", client=order_client, **CASE)
    settle(engine, people.sam, cid, {"L3": 1}, "goodwill", 8800 - 2975)  # leaves exactly the tea sampler's €29.75
    assert run(engine, rq.price_refund, people.alice, cid, {"L2": 1}, "damaged", write=False).problem == ""
    tea = ask(engine, people.alice, cid, {"L2": 1})  # the boundary is inside
    assert refund_row(engine, tea).amount == 2975
    run(engine, rc.cancel_refund, people.alice, tea)
    quote = run(engine, rq.price_refund, people.alice, cid, {"L2": 1, "L3": 1}, "damaged", write=False)  # one cent too many
    assert quote.problem == "Only €29.75 of this order's payment is left to refund: the rest was already refunded or settled."


def test_an_approval_checks_what_is_left_after_settlements(engine, people, order_client, gateway_server):
    cid = run(engine, cmd.create_case, people.alice, "ORD-1001-1", client=order_client, **CASE)
    tea = ask(engine, people.alice, cid, {"L2": 1})
    # A request is not money yet: a settlement may take what is left meanwhile…
    settle(engine, people.sam, cid, {"L1": 3}, "store_credit", 8800)
    # …and then the request cannot go through the gateway, nor be settled on top.
    before = refund_row(engine, tea)
    err = error(engine, rv.approve_refund, people.sam, tea)
    assert err.code is E.ORDER_OVER_REFUNDED and err.message == (
        "Nothing of this order's payment is left: it was already refunded or settled in full. Reject this refund.")
    assert code_of(engine, rv.settle_refund, people.sam, tea, "goodwill", 1, MESSAGE) is E.ORDER_OVER_REFUNDED
    after = refund_row(engine, tea)
    assert (after.status, after.version) == (before.status, before.version) and count(engine, RefundAttempt) == 0
    run(engine, rv.reject_refund, people.sam, tea, "duplicate", "Already covered by your store credit.")
    assert gateway_server.counters() == (0, 0)


def test_a_failed_refund_retried_after_a_settlement_is_refused(engine, people, order_client, gateway_server, gateway):
    cid = run(engine, cmd.create_case, people.alice, "ORD-1001-1", client=order_client, **CASE)
    tea = ask(engine, people.alice, cid, {"L2": 1})  # €29.75
    ref = approve(engine, people.sam, tea)
    gateway_server.set_faults("decline")
    assert send_due(engine, gateway) == {ref.attempt_id: "failed"}
    gateway_server.set_faults("none")
    settle(engine, people.sam, cid, {"L1": 3}, "goodwill", 8800 - 2974)  # a failed refund moved nothing: €29.74 is left after
    err = error(engine, rv.retry_refund, people.sam, tea)
    assert err.code is E.ORDER_OVER_REFUNDED and err.message == (
        "Only €29.74 of this order's payment is left, less than this refund's €29.75: the rest was already refunded "
        "or settled. Reject it, or record a settlement of at most €29.74.")
    assert refund_row(engine, tea).status == "failed" and gateway_server.counters() == (1, 0)
    run(engine, rv.settle_refund, people.sam, tea, "manual_transfer", 2974, "Paid by bank transfer instead.")
    assert money_out(engine, refund_row(engine, tea).order_snapshot_id) == 8800


# -- the agent's record ------------------------------------------------------------


def test_a_recorded_settlement_is_attributed_to_the_agent_and_the_internal_note_stays_with_agents(engine, people, order_client, published):
    cid = _case(engine, people, order_client)
    rid = settle(engine, people.sam, cid, {"L1": 1}, "store_credit", 4000, MESSAGE, INTERNAL)
    number = refund_row(engine, rid).number
    customer = run(engine, rq.get_refund, people.alice, rid, write=False)
    agent = run(engine, rq.get_refund, people.riley, rid, write=False)
    for view in (customer, agent):
        assert (view.opened_label, view.opened_by) == ("Recorded", "Sam Rivera")
        assert [(e.actor_name, e.text) for e in view.history] == [("Sam Rivera", "Recorded a settlement: Store credit of €40.00")]
        assert (view.outcome_text, view.support_message) == ("Store credit of €40.00.", MESSAGE)
        # ORD-1001-3 was delivered 15 days ago: the window's end travels as an instant, for the viewer's zone.
        assert view.window_summary == "requested 15 days after delivery — window ended"
        assert view.window_ended_at.endswith("Z") and view.window_ended_at[:10] in view.window_text
    assert (customer.internal_note, agent.internal_note) == ("", INTERNAL)
    assert INTERNAL not in repr(customer)  # not anywhere in what a customer's page is sent
    # The case conversation: the message as a reply from support; the note only for agents.
    mine = run(engine, cq.get_case, people.alice, cid, write=False)
    assert [(m.author_name, m.author_role, m.internal, m.body) for m in mine.messages] == [
        ("Sam Rivera", "agent", False, f"Settlement of refund {number}: Store credit of €40.00.\n\n{MESSAGE}")]
    assert INTERNAL not in repr(mine)
    theirs = run(engine, cq.get_case, people.riley, cid, write=False)
    assert [(m.internal, m.body) for m in theirs.messages][1:] == [
        (True, f"Internal note on the settlement of refund {number}: {INTERNAL}")]
    assert any(t.text == f"Recorded a settlement, {number}: Store credit of €40.00" and t.actor_name == "Sam Rivera"
               for t in mine.timeline)
    # Open pages of the refund, the case and the customer's lists were told after the commit.
    assert any(rid in c.refunds and cid in c.cases and people.alice.id in c.customers and not c.internal for c in published)


def test_settling_a_request_keeps_the_customers_request_and_adds_the_agents_record(engine, people, order_client, published):
    cid = run(engine, cmd.create_case, people.alice, "ORD-1001-1", client=order_client, **CASE)
    rid = ask(engine, people.alice, cid, {"L3": 2})
    published.clear()
    run(engine, rv.settle_refund, people.sam, rid, "goodwill", 1500, MESSAGE, INTERNAL)
    customer = run(engine, rq.get_refund, people.alice, rid, write=False)
    assert (customer.opened_label, customer.opened_by) == ("Requested", "Alice Martin")
    assert [(e.actor_name, e.text) for e in customer.history][-1] == ("Sam Rivera", "Recorded a settlement: Goodwill gesture of €15.00")
    assert (customer.support_message, customer.internal_note) == (MESSAGE, "")
    assert run(engine, rq.get_refund, people.sam, rid, write=False).internal_note == INTERNAL
    with session_scope(engine) as s:
        bodies = Counter(m.visibility for m in s.exec(select(CaseMessage).where(CaseMessage.case_id == cid)))
        details = [e.detail for e in s.exec(select(RefundEvent).where(RefundEvent.refund_case_id == rid))]
    assert bodies == {"public": 1, "internal": 1}
    assert not any(INTERNAL in (d or "") or MESSAGE in (d or "") for d in details)  # history holds the decision only
    assert any(rid in c.refunds and cid in c.cases for c in published)


def test_the_internal_note_is_optional(engine, people, order_client):
    cid = _case(engine, people, order_client)
    rid = settle(engine, people.sam, cid, {"L1": 1}, "goodwill", 500)
    assert run(engine, rq.get_refund, people.sam, rid, write=False).internal_note == ""
    assert [m.internal for m in run(engine, cq.get_case, people.sam, cid, write=False).messages] == [False]


# -- serialised under the order's lock ------------------------------------------------


def race_for_the_last_euro(engine, people, order_client) -> None:
    """An approval and a settlement that would each take what is left, at once: exactly
    one succeeds, and the order never gives back more than was paid."""
    cid = run(engine, cmd.create_case, people.alice, "ORD-1001-1", client=order_client, **CASE)
    tea = ask(engine, people.alice, cid, {"L2": 1})  # €29.75 requested
    settle(engine, people.sam, cid, {"L3": 2}, "goodwill", 8800 - 2975 - 100)  # leaves €30.75

    def work(i: int):
        if i == 0:
            return run(engine, rv.approve_refund, people.sam, tea)
        return run(engine, rc.record_settlement, people.riley, cid, {"L1": 1}, "damaged", "store_credit", 3075 - (i - 1),
                   MESSAGE, f"race-key-{i:04d}")

    results = in_threads(3, work)
    ok = [r for r in results if not isinstance(r, Exception)]
    errors = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(e, DomainError) and e.code is E.ORDER_OVER_REFUNDED for e in errors), results
    assert len(ok) == 1, results
    assert money_out(engine, refund_row(engine, tea).order_snapshot_id) <= 8800


def test_the_last_euro_goes_once_on_sqlite(engine, people, order_client):
    race_for_the_last_euro(engine, people, order_client)


@pytest.mark.postgres
def test_the_last_euro_goes_once_on_postgresql(pg_engine, monkeypatch, order_client):
    race_for_the_last_euro(pg_engine, make_people(pg_engine, monkeypatch), order_client)
