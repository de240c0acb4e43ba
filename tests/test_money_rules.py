"""Money rules, example by example (pure domain, no I/O): what is left of an order's
payment, the settlement cap and its messages, a gateway answer against its attempt,
and refreshing an order's delivery facts. Expected values are worked out by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from support_app.domain import refund_amounts as ra
from support_app.domain.delivery import refreshed_delivery
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.gateway_answers import answer_mismatch, describe
from support_app.domain.refund_amounts import ExistingRefund, LineFacts, OrderFacts
from support_app.domain.refund_decisions import (
    AMOUNT_TEXT_MAX, INTERNAL_NOTE_MAX, MESSAGE_MAX, MESSAGE_MIN, Settlement, SettlementType, check_settlement, settlement_hint,
)

E = ErrorCode
DELIVERED = datetime(2026, 10, 22, 14, 0, tzinfo=UTC)
INSIDE = datetime(2026, 10, 25, 9, 0, tzinfo=UTC)
MUG = LineFacts("L1", "Mug", 3, 1200, 100, 665)  # 4165: units 1389, 1388, 1388
TEE = LineFacts("L2", "T-shirt", 1, 2000, 0, 380)  # 2380
PAID = 4165 + 2380 + 583  # 7128
ORDER = OrderFacts("EUR", DELIVERED, (MUG, TEE), shipping_amount=490, shipping_tax=93, amount_paid=PAID)
MSG = "Store credit added to your account."


def refund(status, amount=0, settled=None, items=(), rid=None, abandoned=False):
    return ExistingRefund(status, abandoned, tuple(items), 0, amount, settled, rid)


def raised(fn, *args, **kw) -> DomainError:
    with pytest.raises(DomainError) as err:
        fn(*args, **kw)
    return err.value


# ------------------------------------------------------------ what is left of the payment


@pytest.mark.parametrize(("status", "counted"), [
    ("requested", 0), ("approved", 1000), ("processing", 1000), ("refunded", 1000),
    ("failed", 0), ("rejected", 0), ("cancelled", 0), ("settled", 250),
])
def test_which_refunds_take_money_from_the_payment(status, counted):
    assert refund(status, amount=1000, settled=250).money_out == counted


def test_payment_left_subtracts_gateway_money_and_settlements():
    history = [refund("refunded", 2777), refund("processing", 2380), refund("settled", 1389, settled=500),
               refund("requested", 583), refund("failed", 100), refund("cancelled", 100)]
    assert ra.payment_left(PAID, history) == 7128 - 2777 - 2380 - 500 == 1471
    assert ra.payment_left(PAID, []) == PAID
    assert refund("settled", 1389).money_out == 0  # a settlement without an amount (never stored so) takes nothing


def test_payment_left_can_leave_out_the_refund_being_decided():
    history = [refund("processing", 2000, rid=1), refund("settled", 0, settled=700, rid=2)]
    assert ra.payment_left(PAID, history, excluding=1) == PAID - 700
    assert ra.payment_left(PAID, history, excluding=2) == PAID - 2000
    assert ra.payment_left(PAID, history, excluding=99) == PAID - 2700


def test_an_approval_or_retry_fits_in_what_is_left_to_the_cent():
    ra.check_refund_fits(1471, 1471, "EUR")  # the boundary is inside
    err = raised(ra.check_refund_fits, 1472, 1471, "EUR")
    assert err.code is E.ORDER_OVER_REFUNDED and err.message == (
        "Only €14.71 of this order's payment is left, less than this refund's €14.72: the rest was already refunded "
        "or settled. Reject it, or record a settlement of at most €14.71.")
    for left in (0, -5):
        assert raised(ra.check_refund_fits, 1, left, "EUR").message == (
            "Nothing of this order's payment is left: it was already refunded or settled in full. Reject this refund.")


def test_a_request_fits_in_what_is_left_after_money_already_out():
    build = lambda sel, existing: ra.build_refund(ORDER, existing, sel, "damaged", INSIDE, 14)  # noqa: E731
    # A goodwill settlement on the T-shirt took more than its value: €23.81 of the payment is left.
    goodwill = [refund("settled", 2380, settled=PAID - 2381, items=[("L2", 1, 2380)])]
    assert build({"L1": 1}, goodwill).total == 1389
    assert build({"L1": 2}, [refund("settled", 2380, settled=PAID - 2777, items=[("L2", 1, 2380)])]).total == 2777
    err = raised(build, {"L1": 2}, [refund("settled", 2380, settled=PAID - 2776, items=[("L2", 1, 2380)])])
    assert err.code is E.ORDER_OVER_REFUNDED
    assert err.message == "Only €27.76 of this order's payment is left to refund: the rest was already refunded or settled."
    err = raised(build, {"L1": 1}, [refund("settled", 2380, settled=PAID, items=[("L2", 1, 2380)])])
    assert err.message == "Nothing of this order's payment is left to refund: it was already refunded or settled in full."
    # Requested refunds are not money yet; a settlement draft is capped by check_settlement instead.
    assert build({"L1": 1}, [refund("requested", PAID, items=[("L2", 1, 2380)])]).total == 1389
    settled_out = [refund("settled", 2380, settled=PAID, items=[("L2", 1, 2380)])]
    assert ra.build_refund(ORDER, settled_out, {"L1": 1}, "damaged", INSIDE, 14, for_settlement=True).total == 1389


# ------------------------------------------------------------ settlements


def check(kind="store_credit", amount=1000, message=MSG, note="", *, items=2777, left=5000, paid=PAID, currency="EUR"):
    return check_settlement(kind, amount, message, note, items_value=items, left=left, amount_paid=paid, currency=currency)


def test_a_valid_settlement():
    assert check(" store_credit "[1:-1], 1000, f"  {MSG}  ", "  checked the photos ") == Settlement(
        SettlementType.STORE_CREDIT, 1000, MSG, "checked the photos")


@pytest.mark.parametrize("amount", [0, -1, None, "0", "0,00", 10.0, True, False])  # text is read as typed: "10" is €10.00
def test_every_settlement_gives_something(amount):
    err = raised(check, "goodwill", amount)
    assert err.code is E.VALIDATION_FAILED
    assert err.fields == {"settle_amount": "Enter an amount above €0.00: a settlement always gives the customer something."}


def test_an_amount_is_read_whole_or_refused_never_cut():
    padded = "12.50" + " " * (AMOUNT_TEXT_MAX - 5)  # exactly the limit: spaces group digits, so read as 12.50
    assert check("goodwill", padded).amount == 1250
    for text in (padded + "9", "12.50" + " " * 35 + "abc"):  # over it: refused, not cut back to "12.50"
        err = raised(check, "goodwill", text)
        assert err.fields == {"settle_amount": "Enter an amount like 12.50."}


def test_one_cent_is_enough():
    assert check("goodwill", 1).amount == 1


@pytest.mark.parametrize("kind", ["store_credit", "manual_transfer", "goodwill", "replacement"])
def test_the_cap_is_what_is_left_of_the_payment(kind):
    assert check(kind, 2000, items=5000, left=2000).amount == 2000  # the boundary is inside
    err = raised(check, kind, 2001, items=5000, left=2000)
    assert err.code is E.ORDER_OVER_REFUNDED
    assert err.message == err.fields["settle_amount"] == "Enter at most €20.00: the rest of this order was already refunded or settled."


def test_the_message_says_when_nothing_was_refunded_yet_or_nothing_is_left():
    assert raised(check, "goodwill", PAID + 1, left=PAID).message == "Enter at most €71.28: that is what was paid for this order."
    for left in (0, -3):
        assert raised(check, "goodwill", 1, left=left).message == (
            "Nothing is left of this order's payment: it was already refunded or settled in full.")


def test_store_credit_may_be_worth_more_than_the_items_a_replacement_may_not():
    assert check("store_credit", 2778, items=2777, left=5000).amount == 2778
    assert check("goodwill", 4999, items=2777, left=5000).amount == 4999
    assert check("replacement", 2777, items=2777, left=5000).amount == 2777
    err = raised(check, "replacement", 2778, items=2777, left=5000)
    assert (err.code, err.fields) == (E.VALIDATION_FAILED,
                                      {"settle_amount": "Enter at most €27.77: a replacement counts what the replaced items cost."})


@pytest.mark.parametrize(("length", "ok"), [(MESSAGE_MIN - 1, False), (MESSAGE_MIN, True), (MESSAGE_MAX, True),
                                            (MESSAGE_MAX + 1, False)])
def test_the_message_to_the_customer_is_10_to_2000_characters(length, ok):
    if ok:
        assert len(check(message="m" * length).message) == length
    else:
        assert raised(check, message="m" * length).fields == {
            "settle_message": "Write 10 to 2,000 characters to the customer: what was done."}


@pytest.mark.parametrize(("length", "ok"), [(0, True), (INTERNAL_NOTE_MAX, True), (INTERNAL_NOTE_MAX + 1, False)])
def test_the_internal_note_is_optional_up_to_2000_characters(length, ok):
    if ok:
        assert len(check(note="n" * length).internal_note) == length
    else:
        assert raised(check, note="n" * length).fields == {"settle_internal_note": "Keep the internal note to 2,000 characters."}


def test_the_amount_as_typed_with_a_decimal_comma():
    assert check(amount="12,50").amount == 1250
    assert check(amount="12.50").amount == 1250
    assert check(amount="50,00", left=5000).amount == 5000  # the boundary: all that is left
    assert raised(check, amount="50,01", left=5000).fields == {
        "settle_amount": "Enter at most €50.00: the rest of this order was already refunded or settled."}
    assert raised(check, amount="0,00").fields["settle_amount"].startswith("Enter an amount above €0.00")
    err = raised(check, amount="1,234,5", message="short")  # each problem under its own field, at once
    assert err.code is E.VALIDATION_FAILED
    assert err.fields == {"settle_amount": "The comma in this amount cannot be read: use one comma for the decimals, "
                                           "like 1234,50, and no other separator.",
                          "settle_message": "Write 10 to 2,000 characters to the customer: what was done."}
    assert check(amount="1,234", currency="JPY", left=5000, items=5000).amount == 1234


def test_every_field_problem_is_reported_at_once_and_is_a_validation_error():
    err = raised(check, "cash", PAID * 2, "short", "n" * 2001, left=10)
    assert err.code is E.VALIDATION_FAILED
    assert set(err.fields) == {"settle_type", "settle_amount", "settle_message", "settle_internal_note"}
    assert raised(check, "goodwill", 1, None, None).fields == {
        "settle_message": "Write 10 to 2,000 characters to the customer: what was done."}


def test_the_hint_states_the_limits():
    assert settlement_hint(1471, "EUR") == ("More than €0.00 and at most €14.71, what is left of this order's payment. "
                                            "A replacement counts what the replaced items cost, so at most the total below.")
    assert settlement_hint(1471, "EUR", 1389).endswith("so at most €13.89, this refund's value.")
    assert settlement_hint(1000, "EUR", 1389).endswith("so at most €10.00, this refund's value.")
    assert settlement_hint(0, "EUR") == "Nothing is left of this order's payment: it was already refunded or settled in full."
    assert "at most 500 ISK," in settlement_hint(500, "ISK")  # no minor unit


# ------------------------------------------------------------ gateway answers


@pytest.mark.parametrize(("outcome", "reported", "expected"), [
    ("succeeded", (2777, "EUR"), None),
    ("pending", (2777, "EUR"), None),
    ("succeeded", (100000, "EUR"), "The payment gateway says it refunded €1,000.00 for this attempt of €27.77."),
    ("succeeded", (2778, "EUR"), "The payment gateway says it refunded €27.78 for this attempt of €27.77."),
    ("succeeded", (2776, "EUR"), "The payment gateway says it refunded €27.76 for this attempt of €27.77."),
    ("succeeded", (2777, "USD"), "The payment gateway says it refunded $27.77 for this attempt of €27.77."),
    ("succeeded", (None, None), "The payment gateway says it refunded an unstated amount for this attempt of €27.77."),
    ("succeeded", (None, "EUR"), "The payment gateway says it refunded an unstated amount in EUR for this attempt of €27.77."),
    ("pending", (2777, None),
     "The payment gateway says it accepted a refund of 2,777 minor units of an unstated currency for this attempt of €27.77."),
    ("failed", (None, None), None),  # a decline that names nothing moved nothing
    ("failed", (2777, "EUR"), None),
    ("failed", (2777, None), None),
    ("failed", (5, "EUR"), "The payment gateway says it declined a refund of €0.05 for this attempt of €27.77."),
    ("failed", (None, "GBP"), "The payment gateway says it declined a refund of an unstated amount in GBP for this attempt of €27.77."),
    ("unknown", (None, None), None),
])
def test_an_answer_is_compared_with_its_attempt(outcome, reported, expected):
    assert answer_mismatch(outcome, 2777, "EUR", *reported) == expected


def test_figures_in_words():
    assert describe(123456, "ISK") == "123,456 ISK"
    assert describe(0, "EUR") == "€0.00"


# ------------------------------------------------------------ delivery facts


@pytest.mark.parametrize(("current", "reported", "expected"), [
    ((None, "shipped"), (DELIVERED, "delivered"), (DELIVERED, "delivered")),  # delivered after the case was opened
    ((None, "processing"), (None, "shipped"), (None, "shipped")),
    ((None, None), (None, "shipped"), (None, "shipped")),  # a snapshot from before statuses were kept
    ((None, "shipped"), (None, "shipped"), None),
    ((DELIVERED, "delivered"), (DELIVERED, "delivered"), None),
    ((DELIVERED, None), (DELIVERED, "delivered"), (DELIVERED, "delivered")),
    ((DELIVERED, "delivered"), (None, "shipped"), None),  # a delivery is never undone
    ((DELIVERED, "delivered"), (None, "processing"), None),
    ((DELIVERED, None), (None, "shipped"), (DELIVERED, "delivered")),
    ((DELIVERED, "delivered"), (DELIVERED + timedelta(hours=5), "delivered"), (DELIVERED + timedelta(hours=5), "delivered")),
])
def test_delivery_facts_refresh(current, reported, expected):
    assert refreshed_delivery(*current, *reported) == expected
