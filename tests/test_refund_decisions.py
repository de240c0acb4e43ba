"""An agent's decisions on a refund: decline → retry with a new key, abandon, reject,
settle, the window at approval, and who may decide at all.

SQLite file, order and gateway sandboxes over real HTTP; each call its own unit of work.
ORD-1001-1 (alice, PAY-1001-1): L1 3 mugs [1389, 1388, 1388]; L2 1 × 2975; L3 2 × [536, 535].
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import SQLModel, select

from fixtures_db import (  # noqa: F401
    code_of, count, make_people, order_client, orders_server, orders_server_session, people, run, run_traced,
)
from fixtures_gateway import gateway_server, gateway_server_session  # noqa: F401
from support_app.db import make_engine, session_scope
from support_app.domain.errors import DomainError, ErrorCode
from support_app.models import CaseEvent, CaseMessage, OrderSnapshot, RefundAttempt, RefundCase, RefundEvent
from support_app.services import case_queries as cq
from support_app.services import refund_queries as rq
from support_app.services import refund_review as rv
from support_app.models.base import utcnow
from support_app.worker.sender import process
from test_exactly_once import alice_case, approve, ask, attempts_of, gateway, open_case, refund_row, send_due  # noqa: F401

E = ErrorCode
DECLINED = "The refund was declined by the card issuer"


def form_lines(engine, who, case_id) -> dict[str, tuple[int, int]]:
    """line -> (held, refundable_now) on the customer's refund form."""
    return {ln.line_id: (ln.held, ln.refundable_now) for ln in run(engine, rq.refund_form, who, case_id, write=False)[0].lines}


def declined(engine, people, case_id, gateway_server, gateway, selection) -> tuple[int, rv.AttemptRef]:
    rid = ask(engine, people.alice, case_id, selection)
    ref = approve(engine, people.sam, rid)
    gateway_server.set_faults("decline")
    assert send_due(engine, gateway) == {ref.attempt_id: "failed"}
    gateway_server.set_faults("none")
    return rid, ref


# -- 4. decline, retry with a new key; abandon -----------------------------------


def test_decline_is_visible_then_retry_uses_a_new_key_and_refunds_once(engine, people, alice_case, gateway_server, gateway):
    rid, first = declined(engine, people, alice_case, gateway_server, gateway, {"L2": 1})
    seen = run(engine, rq.get_refund, people.alice, rid, write=False)
    assert (seen.status, seen.gateway_reference) == ("failed", "")
    assert seen.outcome_text == f"The payment provider could not refund this: {DECLINED}."
    assert refund_row(engine, rid).failure_reason == DECLINED
    agent_view = run(engine, rq.get_refund, people.sam, rid, write=False)
    assert [(a.idempotency_key, a.status, a.error) for a in agent_view.attempts] == [(first.idempotency_key, "failed", DECLINED)]
    assert agent_view.actions == ["settle", "retry", "abandon"]
    assert gateway_server.payment("PAY-1001-1")["refund_count"] == 0
    assert send_due(engine, gateway, at=utcnow() + timedelta(days=1)) == {}  # a decline is final

    second = run(engine, rv.retry_refund, people.riley, rid)
    assert second.idempotency_key != first.idempotency_key and second.attempt_id != first.attempt_id
    assert re.fullmatch(rf"refund-{rid}-attempt-1-[0-9a-f]{{16}}", first.idempotency_key)  # readable: which try it was
    assert re.fullmatch(rf"refund-{rid}-attempt-2-[0-9a-f]{{16}}", second.idempotency_key)
    assert (refund_row(engine, rid).status, refund_row(engine, rid).failure_reason) == ("processing", None)
    assert code_of(engine, rv.retry_refund, people.sam, rid) in {E.INVALID_REFUND_TRANSITION, E.REFUND_ALREADY_PROCESSED}
    assert send_due(engine, gateway) == {second.attempt_id: "succeeded"}
    assert process(first.attempt_id, "test-worker", gateway, engine) == "skipped"  # the old key stays dead
    assert [(a.idempotency_key, a.status) for a in attempts_of(engine, rid)] == [
        (first.idempotency_key, "failed"), (second.idempotency_key, "succeeded")]
    r = refund_row(engine, rid)
    assert (r.status, r.amount) == ("refunded", 2975)
    assert run(engine, rq.get_refund, people.alice, rid, write=False).outcome_text.startswith(
        "€29.75 was refunded to your original payment method")
    assert run(engine, rq.get_refund, people.sam, rid, write=False).outcome_text.startswith(  # agents: not "your"
        "€29.75 was refunded to the customer's original payment method")
    payment = gateway_server.payment("PAY-1001-1")
    assert (payment["refund_count"], payment["refunded"]) == (1, 2975)


def test_abandoning_a_failed_refund_releases_its_items(engine, people, alice_case, gateway_server, gateway):
    rid, _ = declined(engine, people, alice_case, gateway_server, gateway, {"L1": 2})
    assert form_lines(engine, people.alice, alice_case)["L1"] == (2, 1)  # failed still holds: a retry may succeed
    assert code_of(engine, rv.abandon_refund, people.alice, rid) is E.FORBIDDEN
    run(engine, rv.abandon_refund, people.sam, rid)
    r = refund_row(engine, rid)
    assert (r.status, r.abandoned) == ("failed", True)
    assert form_lines(engine, people.alice, alice_case)["L1"] == (0, 3)
    for fn in (rv.retry_refund, rv.abandon_refund):
        assert code_of(engine, fn, people.sam, rid) is E.INVALID_REFUND_TRANSITION
    assert code_of(engine, rv.settle_refund, people.sam, rid, "goodwill", 100, "A small gesture for the trouble.") \
        is E.INVALID_REFUND_TRANSITION
    assert run(engine, rq.get_refund, people.sam, rid, write=False).actions == []
    again = ask(engine, people.alice, alice_case, {"L1": 3})  # the released mugs can be asked for again
    ref = approve(engine, people.sam, again)
    assert send_due(engine, gateway) == {ref.attempt_id: "succeeded"}
    assert refund_row(engine, again).status == "refunded"
    assert gateway_server.payment("PAY-1001-1")["refund_count"] == 1


def test_a_declined_refund_can_be_settled_another_way(engine, people, alice_case, gateway_server, gateway):
    rid, _ = declined(engine, people, alice_case, gateway_server, gateway, {"L3": 1})
    run(engine, rv.settle_refund, people.sam, rid, "manual_transfer", 536, "Sent by bank transfer instead.")
    r = refund_row(engine, rid)
    assert (r.status, r.decision_code, r.settled_amount) == ("settled", "manual_transfer", 536)
    assert gateway_server.payment("PAY-1001-1")["refund_count"] == 0


# -- 7. access ------------------------------------------------------------------


def footprint(engine, rid: int) -> tuple:
    r = refund_row(engine, rid)
    return (r.status, r.version, r.abandoned, count(engine, RefundAttempt), count(engine, RefundEvent),
            count(engine, CaseMessage), count(engine, CaseEvent))


CUSTOMER_TRIES = [
    (rv.approve_refund, ()),
    (rv.reject_refund, ("other", "Not something we can do.")),
    (rv.settle_refund, ("store_credit", 100, "Store credit given instead.")),
    (rv.retry_refund, ()),
    (rv.abandon_refund, ()),
]


def test_customers_cannot_decide_refunds(engine, people, alice_case, gateway_server, gateway):
    requested = ask(engine, people.alice, alice_case, {"L1": 1})
    failed, _ = declined(engine, people, alice_case, gateway_server, gateway, {"L2": 1})
    for rid in (requested, failed):
        before = footprint(engine, rid)
        for who in (people.alice, people.bob):
            for fn, args in CUSTOMER_TRIES:
                assert code_of(engine, fn, who, rid, *args) is E.FORBIDDEN, (fn.__name__, who.email)
        assert footprint(engine, rid) == before
    assert gateway_server.counters() == (1, 0)


# -- 7. the window is judged at request time ------------------------------------


def set_delivered(engine, case_id: int, delivered_at) -> None:
    with session_scope(engine, write=True) as s:
        snap = s.exec(select(OrderSnapshot).join(RefundCase, RefundCase.order_snapshot_id == OrderSnapshot.id)
                      .where(RefundCase.support_case_id == case_id)).first()
        snap.delivered_at = delivered_at
        s.add(snap)


def test_approval_beyond_the_window_is_refused_and_settlement_is_the_way(engine, people, alice_case, gateway_server, gateway):
    late = ask(engine, people.alice, alice_case, {"L1": 1})
    edge = ask(engine, people.alice, alice_case, {"L2": 1})
    requested = refund_row(engine, late).requested_at
    set_delivered(engine, alice_case, requested - timedelta(days=14, microseconds=1))
    before = footprint(engine, late)
    with pytest.raises(DomainError) as err:
        approve(engine, people.sam, late)
    assert err.value.code is E.REFUND_WINDOW_EXPIRED and "settlement" in err.value.message
    assert footprint(engine, late) == before and gateway_server.counters() == (0, 0)

    # The boundary instant itself is inside: exactly 14 days after delivery.
    set_delivered(engine, alice_case, refund_row(engine, edge).requested_at - timedelta(days=14))
    ref = approve(engine, people.sam, edge)
    assert send_due(engine, gateway) == {ref.attempt_id: "succeeded"}
    assert refund_row(engine, edge).status == "refunded"

    with pytest.raises(DomainError) as err:
        run(engine, rv.settle_refund, people.sam, late, "store_credit", 1389, "")
    assert err.value.code is E.VALIDATION_FAILED and "settle_message" in err.value.fields
    run(engine, rv.settle_refund, people.sam, late, "store_credit", 1500, "Late, but store credit as goodwill.")
    r = refund_row(engine, late)
    assert (r.status, r.settled_amount, r.decision_code) == ("settled", 1500, "store_credit")
    seen = run(engine, rq.get_refund, people.alice, late, write=False)
    assert (seen.outcome_text, seen.support_message) == ("Store credit of €15.00.", "Late, but store credit as goodwill.")
    assert code_of(engine, rv.approve_refund, people.sam, late) is E.REFUND_ALREADY_PROCESSED
    assert attempts_of(engine, late) == [] and gateway_server.payment("PAY-1001-1")["refund_count"] == 1


# -- 7. rejection speaks to the customer -----------------------------------------


def test_reject_writes_a_public_message_the_customer_sees(engine, people, alice_case, gateway_server):
    rid = ask(engine, people.alice, alice_case, {"L3": 2})
    number = refund_row(engine, rid).number
    with pytest.raises(DomainError) as err:
        run(engine, rv.reject_refund, people.sam, rid, "made_up", "short")
    assert set(err.value.fields) == {"reject_code", "reject_message"}
    run(engine, rv.reject_refund, people.sam, rid, "no_evidence", "  Please send a photo of the damage.  ")
    r = refund_row(engine, rid)
    assert (r.status, r.decision_code, r.decision_note) == ("rejected", "no_evidence", "Please send a photo of the damage.")
    case = run(engine, cq.get_case, people.alice, alice_case, write=False)
    last = case.messages[-1]
    assert (last.internal, last.author_name) == (False, "Sam Rivera")
    assert last.body == (f"Refund {number} was not approved (We could not confirm the problem). "
                         "Please send a photo of the damage.")
    assert run(engine, rq.get_refund, people.alice, rid, write=False).outcome_text == (
        "Not approved — We could not confirm the problem. Please send a photo of the damage.")
    assert form_lines(engine, people.alice, alice_case)["L3"] == (0, 2)  # a rejected refund holds nothing
    assert code_of(engine, rv.approve_refund, people.riley, rid) is E.INVALID_REFUND_TRANSITION
    assert gateway_server.counters() == (0, 0)


# -- idempotency keys are unique beyond this database ------------------------------


def test_a_second_database_does_not_replay_the_first_ones_refund(tmp_path, monkeypatch, order_client, gateway_server, gateway):  # noqa: F811
    """A restored backup, a re-created dev database or staging sharing the gateway account:
    refund 1 there must not get refund 1's key again, or the gateway replays the old
    refund — marked refunded, while no money moved for it."""
    seen = []
    for name in ("first.db", "second.db"):
        eng = make_engine(f"sqlite:///{tmp_path / name}")
        SQLModel.metadata.create_all(eng)
        try:
            who = make_people(eng, monkeypatch)
            rid = ask(eng, who.alice, open_case(eng, who.alice, order_client), {"L2": 1})
            ref = approve(eng, who.sam, rid)
            assert send_due(eng, gateway) == {ref.attempt_id: "succeeded"}
            seen.append((ref.idempotency_key, refund_row(eng, rid).status, refund_row(eng, rid).gateway_reference))
        finally:
            eng.dispose()
    assert [status for _, status, _ in seen] == ["refunded", "refunded"]
    assert seen[0][0] != seen[1][0] and seen[0][2] != seen[1][2], seen
    assert gateway_server.payment("PAY-1001-1")["refund_count"] == 2, seen  # was 1: the second was a replay


def test_a_money_decision_reads_the_order_once_under_its_lock(engine, people, alice_case, gateway_server, gateway):
    """The order is locked and read once; the session keeps it for the window and payment checks."""
    from sqlalchemy import event

    reads: list[str] = []
    listener = lambda conn, cursor, statement, *rest: reads.append(statement) if "FROM order_snapshots" in statement else None  # noqa: E731
    first, second = ask(engine, people.alice, alice_case, {"L1": 1}), ask(engine, people.alice, alice_case, {"L2": 1})
    event.listen(engine, "before_cursor_execute", listener)
    try:
        approve(engine, people.sam, first)
        approved_reads = len(reads)
        run(engine, rv.settle_refund, people.sam, second, "store_credit", 100, "Store credit given instead.")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert (approved_reads, len(reads)) == (1, 2)


def test_an_approval_finds_and_locks_the_order_in_one_statement_and_counts_no_attempts(engine, people, alice_case):
    """The order is locked through the refund (one statement, before the refund's own row:
    the lock order of every money decision), the refund read once, and the attempt is the
    first without counting: an approval happens once, from requested."""
    rid = ask(engine, people.alice, alice_case, {"L1": 1})
    ref, sent = run_traced(engine, rv.approve_refund, people.sam, rid)
    first_reads = [" ".join(s.split()) for s in sent[1:3]]
    assert first_reads[0].startswith("SELECT order_snapshots.id") and "FROM refund_cases WHERE refund_cases.id" in first_reads[0]
    assert first_reads[1].startswith("SELECT refund_cases.id")
    assert not any("count(" in s for s in sent)
    assert len([s for s in sent if s.startswith("SELECT")]) == 3  # the order, the refund, the order's refunds
    assert attempts_of(engine, rid)[0].idempotency_key == ref.idempotency_key


@pytest.mark.parametrize("missing", [10**6, "10x", None])
def test_approving_a_refund_that_does_not_exist_is_refused_plainly(engine, people, missing):
    assert code_of(engine, rv.approve_refund, people.sam, missing) is E.REFUND_NOT_FOUND
