"""Agent-recorded settlements: the path for undelivered and out-of-window items."""

from __future__ import annotations

from fixtures_db import code_of, count, order_client, orders_server, orders_server_session, people, run  # noqa: F401
from support_app.domain.errors import ErrorCode
from support_app.models import RefundAttempt, RefundCase
from support_app.services import case_commands as cmd
from support_app.services import refund_commands as rc
from support_app.services import refund_queries as rq

CASE = dict(subject="Teapot lid chipped", description="The lid was chipped when I unpacked it.", category="damaged_item")


def _case(engine, people, order_client, order="ORD-1001-3") -> int:
    return run(engine, cmd.create_case, people.alice, order, client=order_client, **CASE)


def test_out_of_window_items_are_settled_by_an_agent(engine, people, order_client):
    cid = _case(engine, people, order_client)
    # The customer cannot ask the gateway for it any more…
    assert code_of(engine, rc.request_refund, people.alice, cid, {"L1": 1}, "damaged", "", "cust-key-0001") is ErrorCode.REFUND_WINDOW_EXPIRED
    # …the agent's form offers it, and says why it is not a gateway refund.
    line = {ln.line_id: ln for ln in run(engine, rq.refund_form, people.sam, cid, True, write=False).lines}["L1"]
    assert line.refundable_now == 1 and not line.eligible and "window ended" in line.window_text
    quote = run(engine, rq.price_refund, people.sam, cid, {"L1": 1}, "damaged", True, write=False)
    assert quote.problem == "" and quote.total == "€38.08"
    rid = run(engine, rc.record_settlement, people.sam, cid, {"L1": 1}, "damaged", "replacement", 0,
              "Replacement teapot sent, tracking 123.", "agent-key-0001")
    refund = run(engine, rq.get_refund, people.alice, rid, write=False)
    assert refund.status == "settled" and refund.outcome_text.startswith("Replacement of €0.00")
    assert count(engine, RefundAttempt) == 0  # nothing went to the gateway
    held = {ln.line_id: ln for ln in run(engine, rq.refund_form, people.sam, cid, True, write=False).lines}["L1"]
    assert held.held == 1 and held.refundable_now == 0
    # A double submit of the same form makes one settlement.
    again = run(engine, rc.record_settlement, people.sam, cid, {"L1": 1}, "damaged", "replacement", 0,
                "Replacement teapot sent, tracking 123.", "agent-key-0001")
    assert again == rid and count(engine, RefundCase) == 1


def test_settlement_needs_an_agent_a_kind_and_a_reason(engine, people, order_client):
    cid = _case(engine, people, order_client, "ORD-1001-4")  # not delivered
    args = (cid, {"L1": 1}, "not_received")
    assert code_of(engine, rc.record_settlement, people.alice, *args, "goodwill", 100, "Because I say so, ok.", "cust-key-0002") is ErrorCode.FORBIDDEN
    assert code_of(engine, rq.refund_form, people.alice, cid, True, write=False) is ErrorCode.FORBIDDEN
    assert code_of(engine, rc.record_settlement, people.sam, *args, "cash", 100, "Paid out at the counter.", "agent-key-0002") is ErrorCode.VALIDATION_FAILED
    assert code_of(engine, rc.record_settlement, people.sam, *args, "goodwill", 100, "short", "agent-key-0003") is ErrorCode.VALIDATION_FAILED
    assert code_of(engine, rc.record_settlement, people.sam, cid, {"L1": 2}, "not_received", "goodwill", 100,
                   "Courier lost it, goodwill credit.", "agent-key-0004") is ErrorCode.INVALID_QUANTITY  # more than bought
    assert count(engine, RefundCase) == 0
    rid = run(engine, rc.record_settlement, people.sam, *args, "manual_transfer", 10591, "Courier lost it; bank transfer sent.", "agent-key-0005")
    assert run(engine, rq.get_refund, people.sam, rid, write=False).status == "settled"
