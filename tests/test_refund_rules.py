"""Refund rules, example by example: statuses, the window boundary, exact amounts, drafts.

Expected values are worked out by hand from DESIGN.md ("Domain rules"), not copied
from the code. Random orders and refund histories live in test_refund_properties.py.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from support_app.domain import refund_amounts as ra
from support_app.domain import refund_rules as rr
from support_app.domain.errors import MESSAGES, DomainError, ErrorCode
from support_app.domain.refund_amounts import ExistingRefund, LineFacts, OrderFacts
from support_app.domain.refund_rules import RefundReason, RefundStatus

DELIVERED = datetime(2026, 10, 22, 14, 0, tzinfo=UTC)
DEADLINE = datetime(2026, 11, 5, 14, 0, tzinfo=UTC)
INSIDE = datetime(2026, 10, 25, 9, 0, tzinfo=UTC)
ALL = ["requested", "approved", "processing", "refunded", "failed", "rejected", "settled", "cancelled"]
AGENT_OK = {
    ("requested", "approved"), ("requested", "rejected"), ("requested", "settled"),
    ("approved", "processing"), ("approved", "settled"),
    ("processing", "refunded"), ("processing", "failed"),
    ("failed", "processing"), ("failed", "settled"),
}
CUSTOMER_OK = {("requested", "cancelled")}
DECIDED = {"approved", "processing", "refunded", "settled"}


def code_of(fn, *args, **kwargs) -> ErrorCode:
    with pytest.raises(DomainError) as err:
        fn(*args, **kwargs)
    return err.value.code


# ------------------------------------------------------------ statuses


def test_statuses_and_reasons_are_the_designed_ones():
    assert [s.value for s in RefundStatus] == ALL
    assert [r.value for r in RefundReason] == ["damaged", "wrong_item", "not_as_described", "not_received", "changed_mind", "other"]
    assert set(rr.REASON_LABELS) == set(RefundReason) and set(rr.STATUS_LABELS) == set(RefundStatus)
    for code in ErrorCode:
        assert MESSAGES[code]


@pytest.mark.parametrize(("src", "dst", "role"), list(itertools.product(ALL, ALL, ["agent", "customer"])))
def test_transition_table(src, dst, role):
    ok = AGENT_OK if role == "agent" else CUSTOMER_OK
    if (src, dst) in ok:
        assert rr.check_refund_transition(src, dst, role) == (RefundStatus(src), RefundStatus(dst))
        return
    code = code_of(rr.check_refund_transition, src, dst, role)
    if (src, dst) in AGENT_OK | CUSTOMER_OK:  # the other role's move
        assert code is ErrorCode.INVALID_REFUND_TRANSITION
    elif src in DECIDED:
        assert code is ErrorCode.REFUND_ALREADY_PROCESSED
    else:
        assert code is ErrorCode.INVALID_REFUND_TRANSITION


def test_already_processed_covers_duplicate_approvals_and_late_cancels():
    assert code_of(rr.check_refund_transition, "approved", "approved", "agent") is ErrorCode.REFUND_ALREADY_PROCESSED
    assert code_of(rr.check_refund_transition, "refunded", "approved", "agent") is ErrorCode.REFUND_ALREADY_PROCESSED
    assert code_of(rr.check_refund_transition, "processing", "cancelled", "customer") is ErrorCode.REFUND_ALREADY_PROCESSED


def test_abandoned_failed_refund_is_frozen_and_bad_input_is_refused():
    assert rr.check_refund_transition("failed", "processing", "agent", abandoned=False)
    for dst in ("processing", "settled"):
        assert code_of(rr.check_refund_transition, "failed", dst, "agent", abandoned=True) is ErrorCode.INVALID_REFUND_TRANSITION
    for args in (("nope", "approved", "agent"), ("requested", "nope", "agent"), ("requested", "approved", "boss")):
        assert code_of(rr.check_refund_transition, *args) is ErrorCode.INVALID_REFUND_TRANSITION


def test_abandon_only_an_unabandoned_failed_refund_by_an_agent():
    rr.check_abandon("failed", "agent")
    assert code_of(rr.check_abandon, "failed", "agent", abandoned=True) is ErrorCode.INVALID_REFUND_TRANSITION
    assert code_of(rr.check_abandon, "failed", "customer") is ErrorCode.INVALID_REFUND_TRANSITION
    assert code_of(rr.check_abandon, "processing", "agent") is ErrorCode.INVALID_REFUND_TRANSITION


@pytest.mark.parametrize(("status", "abandoned", "holds"), [
    ("requested", False, True), ("approved", False, True), ("processing", False, True),
    ("refunded", False, True), ("settled", False, True), ("failed", False, True),
    ("failed", True, False), ("rejected", False, False), ("cancelled", False, False),
])
def test_which_statuses_hold_quantity(status, abandoned, holds):
    assert rr.holds_quantity(status, abandoned) is holds
    assert ra.refundable_quantity(5, [(status, 2, abandoned)]) == (3 if holds else 5)


def test_refundable_quantity_sums_every_holding_refund():
    holds = [("refunded", 1, False), ("failed", 1, False), ("failed", 2, True), ("cancelled", 3, False), ("settled", 1, False)]
    assert ra.refundable_quantity(6, holds) == 3


# ------------------------------------------------------------ window


def test_deadline_is_exactly_fourteen_days_later_in_utc():
    assert rr.refund_deadline(DELIVERED) == DEADLINE
    assert rr.refund_deadline(DELIVERED, 30) == DELIVERED + timedelta(days=30)
    assert rr.refund_deadline(DELIVERED).tzinfo is UTC


@pytest.mark.parametrize(("requested", "eligible"), [
    (DEADLINE, True),
    (DEADLINE - timedelta(seconds=1), True),
    (DEADLINE + timedelta(microseconds=1), False),
    (DEADLINE + timedelta(seconds=1), False),
    (DELIVERED, True),
    (DELIVERED - timedelta(hours=3), True),  # clock skew: asked "before" delivery
])
def test_window_boundary(requested, eligible):
    v = rr.window_verdict(DELIVERED, requested, 14)
    assert v.eligible is eligible and v.deadline == DEADLINE
    assert v.code is (None if eligible else ErrorCode.REFUND_WINDOW_EXPIRED)


def test_verdict_texts_and_days():
    assert rr.window_verdict(DELIVERED, DELIVERED + timedelta(days=3, hours=5), 14).text == "requested 3 days after delivery — within window"
    assert rr.window_verdict(DELIVERED, DELIVERED + timedelta(days=1), 14).text == "requested 1 day after delivery — within window"
    skew = rr.window_verdict(DELIVERED, DELIVERED - timedelta(minutes=5), 14)
    assert skew.days_after_delivery == 0 and skew.text == "requested on the day of delivery — within window"
    late = rr.window_verdict(DELIVERED, DEADLINE + timedelta(days=1), 14)
    assert late.days_after_delivery == 15
    assert late.text == "requested 15 days after delivery — window ended on 2026-11-05 at 14:00 UTC"
    assert late.summary == "requested 15 days after delivery — window ended"  # pages add the instant in the viewer's zone
    assert rr.window_verdict(None, INSIDE).summary == "not delivered yet — no refund window"
    assert rr.window_verdict(DELIVERED, DEADLINE).summary == "requested 14 days after delivery — within window"
    v = rr.window_verdict(None, INSIDE, 14)
    assert (v.eligible, v.code, v.deadline, v.days_after_delivery) == (False, ErrorCode.ORDER_NOT_DELIVERED, None, None)


def test_offsets_far_from_utc_are_converted_before_judging():
    plus14 = datetime(2026, 10, 23, 4, 0, tzinfo=timezone(timedelta(hours=14)))  # = 10-22 14:00Z
    minus12 = datetime(2026, 10, 22, 2, 0, tzinfo=timezone(timedelta(hours=-12)))  # = 10-22 14:00Z
    for delivered in (plus14, minus12):
        assert rr.refund_deadline(delivered) == DEADLINE
        assert rr.window_verdict(delivered, DEADLINE, 14).eligible
        assert not rr.window_verdict(delivered, DEADLINE + timedelta(microseconds=1), 14).eligible
    # the request itself in a far-off offset: the same instant as the deadline is inside
    asked = DEADLINE.astimezone(timezone(timedelta(hours=-12)))
    assert rr.window_verdict(plus14, asked, 14).eligible
    assert not rr.window_verdict(plus14, asked + timedelta(microseconds=1), 14).eligible


def test_window_is_fourteen_real_days_across_daylight_saving():
    berlin = datetime(2026, 3, 20, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # CET, +01:00
    assert rr.refund_deadline(berlin) == datetime(2026, 4, 3, 11, 0, tzinfo=UTC)  # not 10:00Z


@pytest.mark.parametrize("bad", [datetime(2026, 10, 22, 14, 0), "2026-10-22T14:00Z"])
def test_naive_or_non_datetime_times_are_rejected(bad):
    with pytest.raises(ValueError):
        rr.refund_deadline(bad)
    with pytest.raises(ValueError):
        rr.window_verdict(bad, INSIDE, 14)
    with pytest.raises(ValueError):
        rr.window_verdict(DELIVERED, bad, 14)
    with pytest.raises(ValueError):
        rr.window_verdict(None, bad, 14)
    with pytest.raises(ValueError):
        OrderFacts("EUR", bad, ())


@pytest.mark.parametrize("days", [-1, True, 1.5, "14"])
def test_window_days_must_be_a_non_negative_int(days):
    with pytest.raises(ValueError):
        rr.refund_deadline(DELIVERED, days)


# ------------------------------------------------------------ amounts


@pytest.mark.parametrize(("args", "expected"), [
    ((3, 1200, 100, 0), [1167, 1167, 1166]),  # discount shares 34, 33, 33
    ((3, 1200, 0, 100), [1234, 1233, 1233]),
    ((3, 1200, 100, 665), [1389, 1388, 1388]),  # 1200−34+222, 1200−33+222, 1200−33+221
    ((1, 999, 99, 190), [1090]),
    ((4, 0, 0, 0), [0, 0, 0, 0]),
    ((2, 500, 1000, 0), [0, 0]),  # fully discounted
    ((3, 1, 2, 1), [1, 1, 0]),  # units 1−1+1, 1−1+0, 1−0+0, largest first
])
def test_unit_amounts_examples(args, expected):
    q, price, discount, tax = args
    assert ra.unit_amounts(*args) == expected
    assert sum(expected) == q * price - discount + tax


@pytest.mark.parametrize("args", [(0, 100, 0, 0), (-1, 100, 0, 0), (2, -1, 0, 0), (2, 100, 201, 0),
                                  (2, 100, -1, 0), (2, 100, 0, -1), (2, 100.0, 0, 0), (True, 100, 0, 0)])
def test_unit_amounts_rejects_impossible_lines(args):
    with pytest.raises(ValueError):
        ra.unit_amounts(*args)


def test_amount_for_takes_the_next_units():
    line = LineFacts("L1", "Mug", 3, 1200, 100, 665)
    assert [ra.amount_for(0, 1, line), ra.amount_for(1, 2, line)] == [1389, 2776]
    assert ra.amount_for(0, 3, line) == line.paid_total == 4165
    assert ra.amount_for(3, 0, line) == 0
    for k, q in ((2, 2), (-1, 1), (0, -1), (4, 0)):
        with pytest.raises(ValueError):
            ra.amount_for(k, q, line)


# ------------------------------------------------------------ drafts

MUG = LineFacts("L1", "Mug", 3, 1200, 100, 665)  # 4165: units 1389, 1388, 1388
TEE = LineFacts("L2", "T-shirt", 1, 2000, 0, 380)  # 2380
ORDER = OrderFacts("EUR", DELIVERED, (MUG, TEE), shipping_amount=490, shipping_tax=93, amount_paid=4165 + 2380 + 583)


def build(selection, existing=(), reason="damaged", at=INSIDE, **kw):
    return ra.build_refund(kw.pop("order", ORDER), list(existing), selection, reason, at, 14, **kw)


def refund(status, items, shipping=0, abandoned=False):
    return ExistingRefund(status, abandoned, tuple(items), shipping)


def test_a_simple_draft():
    d = build({"L1": 2, "L2": "0"})
    assert [(i.line_id, i.quantity, i.unit_amounts, i.amount, i.adjustment) for i in d.items] == [("L1", 2, (1389, 1388), 2777, 0)]
    assert (d.shipping_amount, d.total, d.currency, d.reason) == (0, 2777, "EUR", RefundReason.DAMAGED)


@pytest.mark.parametrize("qty", [-1, 1.5, "1.5", True, False, "abc", "-1", "+1", "²", 2.0, [1], "1" * 20])
def test_invalid_quantities(qty):
    assert code_of(build, {"L1": qty}) is ErrorCode.INVALID_QUANTITY


@pytest.mark.parametrize(("qty", "expected"), [(3, 3), ("2", 2), (" 1 ", 1), ("003", 3)])
def test_quantities_as_ints_and_digit_strings(qty, expected):
    assert build({"L1": qty}).items[0].quantity == expected


def test_each_selection_error_code():
    assert code_of(build, {"L1": 4}) is ErrorCode.INVALID_QUANTITY  # more than bought
    assert code_of(build, {"L9": 1}) is ErrorCode.LINE_NOT_IN_ORDER
    assert code_of(build, {}) is ErrorCode.EMPTY_REFUND
    assert code_of(build, {"L1": 1, "X": None}) is ErrorCode.LINE_NOT_IN_ORDER
    assert code_of(build, {"L1": 0, "L2": None}) is ErrorCode.EMPTY_REFUND
    assert code_of(build, {"L1": "  "}) is ErrorCode.EMPTY_REFUND
    assert code_of(build, {"L1": 1}, reason="bored") is ErrorCode.INVALID_REASON
    assert code_of(build, {"L1": 1}, reason=None) is ErrorCode.INVALID_REASON
    with pytest.raises(DomainError) as err:  # said under the reason field of the form
        build({"L1": 1}, reason="")
    assert err.value.fields == {"reason": "Choose a reason for the refund."}
    held = [refund("refunded", [("L1", 2)])]
    assert code_of(build, {"L1": 2}, held) is ErrorCode.QUANTITY_EXCEEDS_REFUNDABLE
    assert code_of(build, {"L1": 2}, held + [refund("cancelled", [("L1", 1)])]) is ErrorCode.QUANTITY_EXCEEDS_REFUNDABLE
    assert build({"L1": 1}, held).items[0].quantity == 1


def test_window_errors_apply_to_gateway_refunds_only():
    late = DEADLINE + timedelta(microseconds=1)
    assert build({"L1": 1}, at=DEADLINE).total == 1389
    assert code_of(build, {"L1": 1}, at=late) is ErrorCode.REFUND_WINDOW_EXPIRED
    undelivered = OrderFacts("EUR", None, (MUG,), amount_paid=4165)
    assert code_of(build, {"L1": 1}, order=undelivered) is ErrorCode.ORDER_NOT_DELIVERED
    assert build({"L1": 1}, at=late, for_settlement=True).total == 1389
    assert build({"L1": 1}, order=undelivered, for_settlement=True).total == 1389


def test_released_quantity_can_be_asked_again():
    held = [refund("refunded", [("L1", 2)]), refund("rejected", [("L1", 1)]), refund("failed", [("L1", 1)], abandoned=True)]
    assert build({"L1": 1}, held).items[0].unit_amounts == (1388,)
    assert code_of(build, {"L1": 1}, held + [refund("failed", [("L1", 1)])]) is ErrorCode.QUANTITY_EXCEEDS_REFUNDABLE


def test_cents_left_behind_by_a_released_refund_come_back_when_amounts_are_recorded():
    # 1 unit (1389) then 1 unit (1388) were asked; the first was cancelled.
    history = [refund("cancelled", [("L1", 1, 1389)]), refund("requested", [("L1", 1, 1388)])]
    last = build({"L1": 2}, history).items[0]
    assert (last.unit_amounts, last.adjustment, last.amount) == ((1388, 1388), 1, 2777)
    assert last.amount + 1388 == MUG.paid_total
    # without recorded amounts the slice is taken as is: never more than the units cost
    blind = [refund("cancelled", [("L1", 1)]), refund("requested", [("L1", 1)])]
    assert build({"L1": 2}, blind).items[0].amount == 2776


def test_shipping_comes_back_with_the_whole_order():
    d = build({"L1": 3, "L2": 1})
    assert d.shipping_amount == 583 and d.total == ORDER.amount_paid
    # in two steps: the step that completes the order carries it
    first = build({"L1": 1})
    second = build({"L1": 2, "L2": 1}, [refund("refunded", [("L1", 1, first.total)])])
    assert first.shipping_amount == 0 and second.shipping_amount == 583
    assert first.total + second.total == ORDER.amount_paid


@pytest.mark.parametrize(("reason", "shipping"), [("wrong_item", 583), ("not_received", 583), ("damaged", 0),
                                                  ("changed_mind", 0), ("not_as_described", 0), ("other", 0)])
def test_shipping_when_it_is_the_shops_fault(reason, shipping):
    assert build({"L2": 1}, reason=reason).shipping_amount == shipping


def test_shipping_is_refunded_at_most_once():
    paid = [refund("refunded", [("L2", 1, 2380)], shipping=583)]
    assert build({"L1": 3}, paid).shipping_amount == 0
    assert build({"L1": 1}, paid, reason="not_received").shipping_amount == 0
    assert code_of(build, {"L1": 1}, paid, include_shipping=True) is ErrorCode.SHIPPING_ALREADY_REFUNDED
    # ...unless the refund that carried it was released
    released = [refund("rejected", [("L2", 1)], shipping=583)]
    assert build({"L2": 1}, released, reason="wrong_item").shipping_amount == 583


def test_agent_can_force_or_withhold_shipping():
    assert build({"L1": 1}, include_shipping=True).shipping_amount == 583
    assert build({"L1": 3, "L2": 1}, include_shipping=False).shipping_amount == 0
    only = build({}, include_shipping=True)
    assert (only.items, only.total) == ((), 583)
    free = OrderFacts("EUR", DELIVERED, (MUG,), amount_paid=4165)
    assert code_of(build, {}, include_shipping=True, order=free) is ErrorCode.EMPTY_REFUND


def test_never_more_than_was_paid():
    short = OrderFacts("EUR", DELIVERED, (MUG, TEE), 490, 93, amount_paid=6000)  # e.g. a gift card
    assert build({"L1": 1}, order=short).total == 1389
    assert code_of(build, {"L1": 3, "L2": 1}, order=short) is ErrorCode.ORDER_OVER_REFUNDED


def test_preview_rows():
    existing = [refund("processing", [("L1", 1)]), refund("failed", [("L1", 1)], abandoned=True)]
    rows = ra.preview(ORDER, existing, INSIDE, 14)
    mug, tee = rows
    assert (mug.line_id, mug.name, mug.purchased, mug.held, mug.refundable, mug.refundable_now) == ("L1", "Mug", 3, 1, 2, 2)
    assert mug.unit_amounts == (1389, 1388, 1388) and mug.paid_total == 4165 and mug.deadline == DEADLINE
    assert (tee.held, tee.refundable_now) == (0, 1) and tee.verdict.eligible
    late = ra.preview(ORDER, existing, DEADLINE + timedelta(days=1), 14)
    assert [(r.refundable, r.refundable_now) for r in late] == [(2, 0), (1, 0)]
    assert not late[0].verdict.eligible


def test_facts_are_validated():
    with pytest.raises(ValueError):
        LineFacts("L1", "Mug", 2, 100, 300, 0)
    with pytest.raises(ValueError):
        OrderFacts("EUR", DELIVERED, (MUG, MUG))
    with pytest.raises(ValueError):
        OrderFacts("EUR", DELIVERED, (MUG,), shipping_amount=-1)
    with pytest.raises(ValueError):
        ExistingRefund("lost")
    o = OrderFacts("EUR", DELIVERED.astimezone(timezone(timedelta(hours=14))), [MUG])
    assert o.delivered_at == DELIVERED and o.delivered_at.tzinfo is UTC and o.lines == (MUG,)


def test_a_line_held_beyond_its_quantity_does_not_block_other_lines():
    odd = [refund("settled", [("L2", 2)])]  # inconsistent history: 2 of 1 held
    assert build({"L1": 1}, odd).total == 1389
    assert code_of(build, {"L2": 1}, odd) is ErrorCode.QUANTITY_EXCEEDS_REFUNDABLE


# ------------------------------------------------------------ the request form


def test_request_blocked_by_the_window_boundary():
    # The deadline instant itself still offers the form; one microsecond later it says why not.
    at_deadline = rr.window_verdict(DELIVERED, DEADLINE)
    assert rr.request_blocked(at_deadline, 3) is None
    late = rr.window_verdict(DELIVERED, DEADLINE + timedelta(microseconds=1))
    assert rr.request_blocked(late, 3) is rr.Blocked.WINDOW_ENDED
    assert rr.request_blocked(late, 0) is rr.Blocked.WINDOW_ENDED  # the window is said first, not "all held"


def test_request_blocked_when_undelivered_or_all_held():
    assert rr.request_blocked(rr.window_verdict(None, INSIDE), 2) is rr.Blocked.NOT_DELIVERED
    assert rr.request_blocked(rr.window_verdict(DELIVERED, INSIDE), 0) is rr.Blocked.ALL_HELD
    assert rr.request_blocked(rr.window_verdict(DELIVERED, INSIDE), 1) is None


def test_offered_reasons():
    every = list(RefundReason)
    assert rr.offered_reasons(True, for_settlement=False) == every  # "Never arrived" though marked delivered
    assert rr.offered_reasons(False, for_settlement=False) == []  # nothing can be requested before delivery
    assert rr.offered_reasons(False, for_settlement=True) == every  # an agent settles a lost parcel
    assert rr.offered_reasons(True, for_settlement=True) == every
    assert rr.REQUEST_REASON_LABELS[RefundReason.NOT_RECEIVED] == "Never arrived (though marked delivered)"
    assert rr.REQUEST_REASON_LABELS[RefundReason.DAMAGED] == rr.REASON_LABELS[RefundReason.DAMAGED]
