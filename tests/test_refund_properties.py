"""Refund rules under random orders and random refund histories (hypothesis).

Invariants from DESIGN.md: held quantity never exceeds what was bought, the holding
refunds never return more than was paid, shipping comes back at most once, and
refunding every unit — in any chunks — returns exactly what each line cost and,
with shipping, exactly the amount paid.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from support_app.domain import refund_amounts as ra
from support_app.domain import refund_rules as rr
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.refund_amounts import ExistingRefund, LineFacts, OrderFacts
from support_app.domain.refund_rules import RefundReason

DELIVERED = datetime(2026, 10, 22, 14, 0, tzinfo=UTC)
ASKED = DELIVERED + timedelta(days=2)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def lines(draw, line_id: str) -> LineFacts:
    qty = draw(st.integers(1, 20))
    price = draw(st.integers(0, 100_000))
    discount = draw(st.integers(0, qty * price))
    tax = draw(st.integers(0, (qty * price - discount) * 30 // 100))
    return LineFacts(line_id, f"Item {line_id}", qty, price, discount, tax)


@st.composite
def orders(draw) -> OrderFacts:
    n = draw(st.integers(1, 5))
    ls = tuple(draw(lines(f"L{i}")) for i in range(n))
    shipping = draw(st.integers(0, 2_000))
    shipping_tax = draw(st.integers(0, shipping * 30 // 100))
    paid = sum(ln.paid_total for ln in ls) + shipping + shipping_tax
    return OrderFacts("EUR", DELIVERED, ls, shipping, shipping_tax, paid)


reasons = st.sampled_from(list(RefundReason))


def check_invariants(order: OrderFacts, existing: list[ExistingRefund], recorded: bool) -> None:
    holding = [r for r in existing if r.holds]
    for line in order.lines:
        qty = sum(i[1] for r in holding for i in r.items if i[0] == line.line_id)
        assert qty <= line.quantity
        if recorded:
            amount = sum(i[2] for r in holding for i in r.items if i[0] == line.line_id)
            assert 0 <= amount <= line.paid_total
            if qty == line.quantity:  # every unit out: exactly what the line cost, releases or not
                event("a line fully held")
                assert amount == line.paid_total
        assert ra.refundable_quantity(line.quantity, [(r.status, i[1], r.abandoned) for r in existing
                                                      for i in r.items if i[0] == line.line_id]) == line.quantity - qty
    assert sum(1 for r in holding if r.shipping_amount) <= 1
    if recorded:
        assert sum(sum(i[2] for i in r.items) + r.shipping_amount for r in holding) <= order.amount_paid


def as_existing(draft: ra.RefundDraft, recorded: bool) -> ExistingRefund:
    items = tuple((i.line_id, i.quantity, i.amount) if recorded else (i.line_id, i.quantity) for i in draft.items)
    return ExistingRefund("requested", False, items, draft.shipping_amount)


def move(existing: list[ExistingRefund], index: int, target: str, role: str) -> None:
    r = existing[index]
    rr.check_refund_transition(r.status, target, role, abandoned=r.abandoned)
    existing[index] = ExistingRefund(target, r.abandoned, r.items, r.shipping_amount)


@SETTINGS
@given(order=orders(), recorded=st.booleans(), data=st.data())
def test_random_histories_keep_every_invariant(order, recorded, data):
    existing: list[ExistingRefund] = []
    for _ in range(data.draw(st.integers(1, 12), label="steps")):
        op = data.draw(st.sampled_from(["request", "request", "cancel", "reject", "advance", "abandon"]), label="op")
        requested = [i for i, r in enumerate(existing) if r.status == "requested"]
        if op == "request":
            selection = {ln.line_id: data.draw(st.integers(0, ln.quantity), label=ln.line_id) for ln in order.lines}
            left = {ln.line_id: ln.quantity - sum(i[1] for r in existing if r.holds for i in r.items if i[0] == ln.line_id)
                    for ln in order.lines}
            try:
                draft = ra.build_refund(order, existing, selection, data.draw(reasons, label="reason"), ASKED, 14)
            except DomainError as err:
                if err.code is ErrorCode.QUANTITY_EXCEEDS_REFUNDABLE:
                    assert any(q > left[k] for k, q in selection.items())
                else:
                    assert err.code is ErrorCode.EMPTY_REFUND and not any(selection.values())
                continue
            assert all(q <= left[k] for k, q in selection.items())
            assert all(i.amount >= 0 for i in draft.items)
            if any(i.adjustment for i in draft.items):
                event("cents left behind by a released refund given back")
            assert draft.total == sum(i.amount for i in draft.items) + draft.shipping_amount
            existing.append(as_existing(draft, recorded))
        elif op in ("cancel", "reject") and requested:
            index = data.draw(st.sampled_from(requested), label="which")
            move(existing, index, "cancelled" if op == "cancel" else "rejected", "customer" if op == "cancel" else "agent")
        elif op == "advance" and existing:
            index = data.draw(st.integers(0, len(existing) - 1), label="which")
            nxt = {"requested": ["approved", "settled"], "approved": ["processing", "settled"],
                   "processing": ["refunded", "failed"], "failed": ["processing", "settled"]}.get(existing[index].status)
            if nxt and not existing[index].abandoned:
                move(existing, index, data.draw(st.sampled_from(nxt), label="to"), "agent")
        elif op == "abandon":
            failed = [i for i, r in enumerate(existing) if r.status == "failed" and not r.abandoned]
            if failed:
                index = data.draw(st.sampled_from(failed), label="which")
                rr.check_abandon("failed", "agent")
                r = existing[index]
                existing[index] = ExistingRefund(r.status, True, r.items, r.shipping_amount)
        check_invariants(order, existing, recorded)


@st.composite
def chunks(draw, quantity: int) -> list[int]:
    """A random split of ``quantity`` into positive parts (cut points; none = one chunk)."""
    cuts = sorted(draw(st.sets(st.integers(1, quantity - 1)))) if quantity > 1 else []
    bounds = [0, *cuts, quantity]
    return [b - a for a, b in zip(bounds, bounds[1:])]


@SETTINGS
@given(order=orders(), recorded=st.booleans(), data=st.data())
def test_refunding_everything_in_chunks_returns_exactly_what_was_paid(order, recorded, data):
    plans = {ln.line_id: data.draw(chunks(ln.quantity), label=ln.line_id) for ln in order.lines}
    existing: list[ExistingRefund] = []
    per_line = {ln.line_id: 0 for ln in order.lines}
    total = 0
    while any(plans.values()):
        pending = sorted(k for k, plan in plans.items() if plan)
        now = data.draw(st.sets(st.sampled_from(pending), min_size=1), label="lines now")
        selection = {k: plans[k].pop(0) for k in now}
        draft = ra.build_refund(order, existing, selection, data.draw(reasons, label="reason"), ASKED, 14)
        for item in draft.items:
            per_line[item.line_id] += item.amount
            assert item.adjustment == 0  # nothing was released, so every slice is exact
        total += draft.total
        existing.append(as_existing(draft, recorded))
    assert per_line == {ln.line_id: ln.paid_total for ln in order.lines}
    assert total == order.amount_paid


@SETTINGS
@given(line=lines("L1"), data=st.data())
def test_unit_amounts_are_fair_and_tile_exactly(line, data):
    units = ra.unit_amounts(line.quantity, line.unit_price, line.discount_total, line.tax_total)
    assert len(units) == line.quantity and sum(units) == line.paid_total
    assert units == sorted(units, reverse=True) and units[0] - units[-1] <= 2
    assert all(u >= 0 for u in units)
    k, total = 0, 0
    for part in data.draw(chunks(line.quantity)):
        total += ra.amount_for(k, part, line)
        k += part
    assert total == line.paid_total


@SETTINGS
@given(
    delivered=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
    offset_hours=st.integers(-12, 14),
    after=st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=30)),
)
def test_window_verdict_matches_the_arithmetic(delivered, offset_hours, after):
    from datetime import timezone

    local = delivered.astimezone(timezone(timedelta(hours=offset_hours)))
    verdict = rr.window_verdict(local, delivered + after, 14)
    assert verdict.deadline == delivered + timedelta(days=14)
    assert verdict.eligible is (after <= timedelta(days=14))
    assert verdict.code is (None if verdict.eligible else ErrorCode.REFUND_WINDOW_EXPIRED)


@SETTINGS
@given(line=lines("L1"), recorded=st.booleans(), data=st.data())
def test_releases_then_refunding_the_rest(line, recorded, data):
    """Refund a line in chunks, release some of them, refund the rest: never more than the
    line cost, and exactly what it cost when the refunds record their amounts."""
    order = OrderFacts("EUR", DELIVERED, (line,), amount_paid=line.paid_total)
    existing: list[ExistingRefund] = []
    paid_back: list[int] = []  # the true amount of each refund, recorded or not
    for part in data.draw(chunks(line.quantity), label="chunks"):
        draft = ra.build_refund(order, existing, {"L1": part}, "damaged", ASKED, 14)
        existing.append(as_existing(draft, recorded))
        paid_back.append(draft.total)
    for index in data.draw(st.sets(st.integers(0, len(existing) - 1)), label="released"):
        existing[index] = ExistingRefund("cancelled", False, existing[index].items, 0)
    check_invariants(order, existing, recorded)
    held = sum(i[1] for r in existing if r.holds for i in r.items)
    if held < line.quantity:
        draft = ra.build_refund(order, existing, {"L1": line.quantity - held}, "damaged", ASKED, 14)
        if any(i.adjustment for i in draft.items):
            event("cents left behind by a released refund given back")
        existing.append(as_existing(draft, recorded))
        paid_back.append(draft.total)
    check_invariants(order, existing, recorded)
    total = sum(a for a, r in zip(paid_back, existing) if r.holds)
    assert total == line.paid_total if recorded else line.paid_total - 2 * line.quantity <= total <= line.paid_total
