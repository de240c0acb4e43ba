"""The demo history as a plan: who does what to which order, and when. Pure, no I/O.

One story per support case: the customer opens it on one of their orders, agents
answer after realistic delays, refunds are requested and decided, the case is
resolved and closed. Every moment is an offset from the order's own dates (placed,
delivered), which the order system dates from the anchor, and every random choice
comes from ``PLAN_SEED``: the same orders give the same plan. Steps later than the
anchor have not happened yet, so a story is cut there — which is what leaves recent
cases open, waiting or in progress and recent refunds undecided.

Cases are opened only once the order was delivered (or on orders still on their way
at the anchor), because a case keeps the order as the order system reports it now.
Refunds through the gateway are requested inside the 14-day window; late and
undelivered items are settled by an agent, as the rules say.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from support_app.devdata import history_text as T
from support_app.devdata.history_builder import DAY, HOUR, MINUTE, Builder, Plan, Story
from support_app.integrations.order_data import OrderData, OrderLineData

PLAN_SEED = 11
HISTORY_DAYS = 90  # cases are opened over the last 90 days before the anchor
CUT = timedelta(minutes=1)  # nothing is planned closer to the anchor than this
# The card issuer's outage: the first approvals of the last 36 hours are declined, and the
# agents only retry after the weekend — so the queue shows failed refunds to act on.
OUTAGE, OUTAGE_DECLINES = timedelta(hours=36), 2
FOOD = ("BEANS", "TEA-", "CHAI", "MATCHA-50", "EARL", "DECAF")
# What can arrive broken or break (SKU prefixes): not coffee, tea or paper filters.
DAMAGEABLE = ("MUG", "TEAPOT", "CUPS", "POUR-OVER", "FRENCH", "CANISTER", "KETTLE", "GOOSENECK", "GRINDER",
              "MILK-FROTH", "SCALE", "THERMOS", "INFUSER", "MATCHA-WHISK")
# The products a question can be about (SKU prefixes); an order with none gets an invoice question.
ASKED_ABOUT = {"question": ("KETTLE", "GOOSENECK", "MILK-FROTH", "THERMOS"),
               "dishwasher": ("MUG", "CUPS", "TEAPOT", "INFUSER", "SPOON", "POUR-OVER", "CANISTER", "THERMOS")}

# What happens on a delivered order (weights); None: no case at all.
DELIVERED_KINDS = {"damaged": 24, "wrong": 8, "missing": 8, "changed_mind": 12, "not_as_described": 7,
                   "late_damage": 8, "question": 5, "dishwasher": 5, "invoice": 4, "double_charge": 4, None: 22}


# -- stories ------------------------------------------------------------------------


def _decide_gateway(b: Builder, refund: int, selection: dict[str, int], reason: str, outcome: str) -> str:
    """An agent approves; the gateway refunds — or declines, and then the agents retry,
    pay out another way, or (recently) have not acted yet. Returns the resolve reason."""
    b.later(18, 0.5, 96)
    plan = b.plan
    outage = outcome == "succeeded" and plan.outage > 0 and plan.anchor - OUTAGE <= b.t <= plan.anchor - CUT
    if outage:
        outcome, plan.outage = "card_declined", plan.outage - 1
    if outcome == "succeeded":
        b.approve(refund)
        b.wait(b.rng.randint(2 * MINUTE, 40 * MINUTE))
        b.agent_reply(T.DECISION_REPLY["refunded"])
        return "Refund completed"
    b.approve(refund, outcome)
    b.later(10, 0.5, 48)
    b.note(T.NOTES["failed"])
    b.agent_reply(T.DECISION_REPLY["declined" if outcome != "account_closed" else "declined_for_good"])
    if outcome != "account_closed":  # a card that is only replaced takes a retry
        b.later(*((48, 36, 72) if outage else (24, 2, 72)))
        b.by_agent("retry", refund=refund, latency_ms=b.rng.randint(600, 2800))
        b.wait(b.rng.randint(2 * MINUTE, 30 * MINUTE))
        b.agent_reply(T.DECISION_REPLY["retry_ok"])
        return "Refund completed"
    b.agent_reply(T.DECISION_REPLY["bank_details"])
    b.to("waiting_on_customer")
    b.later(12, 1, 72)
    b.customer_reply(T.DECISION_REPLY["bank_sent"])
    b.later(8, 0.5, 48)
    b.by_agent("abandon", refund=refund)
    b.wait(b.rng.randint(2 * MINUTE, 20 * MINUTE))
    b.record_settlement(selection, reason, "manual_transfer", "full")
    b.agent_reply(T.DECISION_REPLY["transfer"])
    return "Settled with the customer"


def _gateway_outcome(rng: random.Random) -> str:
    """Most refunds go through; about one in nine is declined by the card issuer."""
    roll = rng.random()
    if roll < 0.04:
        return "account_closed"  # no retry helps: paid out by bank transfer
    if roll < 0.11:
        return rng.choice(("card_declined", "expired_card"))  # a retry goes through
    return "succeeded"


def _refund_story(b: Builder, reason: str, weights: dict[str, float], quantity: int) -> None:
    """Damaged, wrong, missing, not as described: the customer asks, an agent decides."""
    rng = b.rng
    selection = {b.line.line_id: quantity}
    b.open()
    requested = None
    if rng.random() < 0.5:
        b.wait(rng.randint(2 * MINUTE, 25 * MINUTE))
        requested = b.request(selection, reason)
    ask_photo = requested is None and b.kind == "damaged" and rng.random() < 0.5
    b.first_response(T.REQUEST_SEEN if requested is not None else T.ASK_PHOTO if ask_photo else None)
    if requested is None:
        if ask_photo:
            b.to("waiting_on_customer")
            if rng.random() < 0.2:  # the customer never comes back
                b.wait(rng.randint(6 * DAY, 8 * DAY))
                b.finish("No reply from the customer")
                return
            b.later(30, 0.3, 120)
            b.customer_reply(T.CUSTOMER_FOLLOW_UP[b.kind])
        b.later(6, 0.1, 48)
        requested = b.request(selection, reason)
    if rng.random() < 0.5:
        b.wait(rng.randint(5 * MINUTE, 3 * HOUR))
        b.note(T.NOTES[b.kind])
    if b.kind == "missing" and rng.random() < 0.15:  # it was in the box after all
        b.later(6, 0.5, 30)
        b.customer("cancel", refund=requested)
        b.customer_reply(("Found it under the packing paper, sorry! I've withdrawn the refund request.",))
        b.finish("Issue resolved")
        return
    decision = rng.choices(list(weights), list(weights.values()))[0]
    if decision == "approve":
        resolve_reason = _decide_gateway(b, requested, selection, reason, _gateway_outcome(rng))
    elif decision == "reject":
        b.later(18, 0.5, 96)
        code, messages = T.REJECTIONS[b.kind]
        b.by_agent("reject", refund=requested, code=code, message=b.text(messages))
        resolve_reason = "Issue resolved"
    else:  # replacement or store credit instead of the card refund
        b.later(18, 0.5, 96)
        kind = "replacement" if decision == "replacement" else "store_credit"
        b.by_agent("settle", refund=requested, kind=kind, amount="full",
                   note=b.text(T.SETTLEMENT_NOTES[kind]))
        b.agent_reply(T.DECISION_REPLY[kind])
        resolve_reason = "Replacement shipped" if kind == "replacement" else "Settled with the customer"
    if rng.random() < 0.06 and decision == "approve":  # reopened: the money had not shown up yet
        b.wait(rng.randint(2 * HOUR, 4 * HOUR))
        b.to("resolved", resolve_reason)
        b.later(30, 6, 72)
        b.customer_reply(("The refund still has not shown up on my statement.",))
        b.later(2, 0.2, 12)
        b.to("in_progress", "Customer wrote back")
        b.agent_reply(("The gateway confirms it was paid out; banks can take up to 5 working days. "
                       "Please check again on Monday.",))
    b.finish(resolve_reason)


def _changed_mind(b: Builder) -> None:
    rng = b.rng
    b.open(priority="low")
    b.first_response()
    b.to("waiting_on_customer")  # until the customer says the parcel is on its way back
    roll = rng.random()
    b.later(40, 2, 120)
    selection = {b.line.line_id: b.line.quantity}
    if roll < 0.25:  # asks for the money, then thinks better of it before anyone decided
        requested = b.request(selection, "changed_mind")
        b.later(12, 0.5, 60)
        b.customer("cancel", refund=requested)
        b.customer_reply(("I've decided to keep it after all, sorry for the trouble.",))
        b.finish("Customer kept the item")
        return
    b.customer_reply(T.CUSTOMER_FOLLOW_UP["changed_mind"])
    b.wait(rng.randint(5 * MINUTE, 2 * HOUR))
    requested = b.request(selection, "changed_mind")
    food = b.line.sku.startswith(FOOD)
    if food or roll < 0.4:
        b.later(18, 0.5, 96)
        code, messages = T.REJECTIONS["changed_mind_food" if food else "changed_mind"]
        b.by_agent("reject", refund=requested, code=code, message=b.text(messages))
        b.finish("Issue resolved")
        return
    b.later(96, 48, 192)  # the parcel travels back to the warehouse
    b.note(T.NOTES["changed_mind"])
    b.finish(_decide_gateway(b, requested, selection, "changed_mind", _gateway_outcome(rng)))


def _late_damage(b: Builder) -> None:
    rng = b.rng
    b.open()
    b.first_response()
    b.later(3, 0.2, 24)
    b.note(T.NOTES["late_damage"])
    roll = rng.random()
    if roll < 0.2:  # explained, nothing owed
        b.agent_reply(("Sadly this is wear from use, which our warranty does not cover. Sorry we can't do more here.",))
        b.finish("Question answered")
        return
    kind, amount, note = ("store_credit", "full", "store_credit_late") if roll < 0.6 else (
        ("goodwill", ("fraction", 0.3), "goodwill_damage") if roll < 0.85 else ("replacement", "full", None))
    b.record_settlement({b.line.line_id: 1}, "damaged", kind, amount, note)
    b.agent_reply(T.DECISION_REPLY[kind])
    b.finish("Settled with the customer")


def _conversation(b: Builder) -> None:
    """Questions and billing: answered, thanked, closed."""
    b.open(priority="normal" if b.kind == "double_charge" else "low")
    b.first_response()
    if b.rng.random() < 0.6:
        b.later(5, 0.2, 48)
        b.customer_reply(T.CUSTOMER_FOLLOW_UP[b.kind])
    b.finish("Question answered")


def _where(b: Builder) -> None:
    """An order still on its way at the anchor: the case is as far as it got."""
    b.open(priority="normal")
    b.first_response()
    b.to("waiting_on_customer")
    b.later(30, 6, 72)
    b.customer_reply(T.CUSTOMER_FOLLOW_UP["where"])
    b.later(4, 0.3, 24)
    b.agent_reply(("The carrier confirms it is on the van today.", "I've asked the carrier to prioritise it."))


def _lost(b: Builder) -> None:
    b.open(priority="high")
    b.first_response()
    b.to("waiting_on_customer")
    b.later(60, 36, 100)
    b.customer_reply(T.CUSTOMER_FOLLOW_UP["lost"])
    b.later(3, 0.3, 12)
    b.note(T.NOTES["lost"])
    everything = {line.line_id: line.quantity for line in b.order.lines}
    if b.rng.random() < 0.5:
        b.record_settlement(everything, "not_received", "replacement", "full", "replacement_lost")
        b.agent_reply(T.DECISION_REPLY["replacement"])
    else:
        b.record_settlement(everything, "not_received", "manual_transfer", "full", "manual_transfer_lost")
        b.agent_reply(T.DECISION_REPLY["transfer"])
    b.finish("Settled with the customer")


def _late_delivery(b: Builder) -> None:
    b.open(priority="normal")
    b.first_response()
    b.later(2, 0.2, 12)
    b.record_settlement({b.line.line_id: 1}, "other", "goodwill", ("fixed", 500))
    b.agent_reply(T.DECISION_REPLY["goodwill"])
    b.finish("Settled with the customer")


def _address(b: Builder) -> None:
    b.open(priority="high")
    b.first_response()
    b.finish("Issue resolved")


REFUND_WEIGHTS = {
    "damaged": ("damaged", {"approve": 74, "reject": 9, "replacement": 9, "store_credit": 8}),
    "wrong": ("wrong_item", {"approve": 68, "replacement": 24, "store_credit": 8}),
    "missing": ("not_received", {"approve": 70, "replacement": 22, "reject": 8}),
    "not_as_described": ("not_as_described", {"approve": 64, "reject": 12, "store_credit": 24}),
}


def _line_for(rng: random.Random, order: OrderData, kind: str) -> OrderLineData:
    lines = list(order.lines)
    if kind in ASKED_ABOUT:
        lines = [line for line in lines if line.sku.startswith(ASKED_ABOUT[kind])] or lines
    elif kind in ("damaged", "late_damage"):
        lines = [line for line in lines if line.sku.startswith(DAMAGEABLE)] or lines
    elif kind == "changed_mind":
        lines = [line for line in lines if not line.sku.startswith(FOOD)] or lines
    return rng.choice(lines)


def _story_for(plan: Plan, order: OrderData, first: str) -> tuple[str, Builder] | None:
    """Choose what happened on this order and write it; None when nothing did."""
    rng, anchor = plan.rng, plan.anchor
    kind = rng.choices(list(DELIVERED_KINDS), list(DELIVERED_KINDS.values()))[0]
    age = (anchor - order.placed_at).total_seconds()
    if order.status == "processing":
        kind, start = ("address", order.placed_at + timedelta(seconds=rng.randint(10 * MINUTE, 2 * HOUR))) \
            if rng.random() < 0.15 else (None, order.placed_at)
    elif order.status == "shipped":
        # Customers ask once a parcel is overdue (3-6 days); a case not due yet is cut at the anchor.
        lost = age > 12 * DAY
        kind = "lost" if lost else ("where" if rng.random() < 0.6 else None)
        start = order.placed_at + timedelta(seconds=rng.randint(12 * DAY, 16 * DAY) if lost
                                            else rng.randint(3 * DAY, 6 * DAY))
    else:
        assert order.delivered_at is not None
        if kind in ("damaged", "late_damage") and not any(line.sku.startswith(DAMAGEABLE) for line in order.lines):
            kind = "missing" if kind == "damaged" else "invoice"  # coffee and tea do not break
        transit = order.delivered_at - order.placed_at
        if transit > timedelta(days=9) and rng.random() < 0.6:
            kind = "late_delivery"
        if kind == "late_damage":
            start = order.delivered_at + timedelta(seconds=rng.randint(16 * DAY, 45 * DAY))
            if start > anchor:
                kind = "damaged"
        if kind != "late_damage":
            start = order.delivered_at + timedelta(seconds=rng.randint(2 * HOUR, 5 * DAY))
    if kind in ASKED_ABOUT and not any(line.sku.startswith(ASKED_ABOUT[kind]) for line in order.lines):
        kind = "invoice"
    line = _line_for(rng, order, kind or "")
    builder = Builder(plan, order, kind or "", first, start, line)
    if kind is None or start < anchor - timedelta(days=HISTORY_DAYS):
        return None
    if kind in REFUND_WEIGHTS:
        reason, weights = REFUND_WEIGHTS[kind]
        partly = kind in ("damaged", "not_as_described") and rng.random() < 0.6
        _refund_story(builder, reason, weights, 1 if partly else line.quantity)
    else:
        stories = {"changed_mind": _changed_mind, "late_damage": _late_damage, "question": _conversation,
                   "dishwasher": _conversation, "invoice": _conversation, "double_charge": _conversation,
                   "where": _where, "lost": _lost, "late_delivery": _late_delivery, "address": _address}
        stories[kind](builder)
    return kind, builder


def plan_history(orders: list[OrderData], anchor: datetime, first_names: dict[str, str],
                 agents: list[tuple[str, str]]) -> list[Story]:
    """Stories for ``orders`` (the generated customers'), cut at the anchor, oldest first.

    ``first_names``: order-system customer id → first name; ``agents``: (email, full
    name), the team lead first. Deterministic for the same orders and anchor.
    """
    plan = Plan(random.Random(PLAN_SEED), anchor, agents, OUTAGE_DECLINES)
    stories = []
    for order in sorted(orders, key=lambda o: (o.customer_id, o.placed_at, o.order_id)):
        made = _story_for(plan, order, first_names[order.customer_id])
        if made is None:
            continue
        kind, builder = made
        steps = [step for step in builder.steps if step.at <= anchor - CUT]
        if steps:
            stories.append(Story(order.customer_id, order.order_id, kind, steps))
    stories.sort(key=lambda s: (s.created_at, s.order_id))
    return stories
