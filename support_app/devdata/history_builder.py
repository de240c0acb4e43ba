"""The pieces a demo-history story is written with (devdata/history_plan.py): the planned
steps, the story, what every story shares (the plan), and the builder that writes one
story's steps while keeping the case's status so every transition it plans is allowed.
Pure, no I/O."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from support_app.devdata import history_text as T
from support_app.integrations.order_data import OrderData, OrderLineData

MINUTE, HOUR, DAY = 60, 3600, 86400
AGENT_SHARES = (26, 24, 18, 16, 16)  # who takes how many of the cases
# (median, low, high) hours before the first answer, by priority.
FIRST_RESPONSE_HOURS = {"urgent": (1.0, 0.1, 12), "high": (3, 0.2, 24), "normal": (8, 0.3, 48), "low": (16, 0.5, 72)}
CATEGORIES = {"damaged": "damaged_item", "late_damage": "damaged_item", "wrong": "wrong_item",
              "missing": "missing_item", "changed_mind": "return_refund", "not_as_described": "return_refund",
              "question": "other", "dishwasher": "other", "invoice": "billing", "double_charge": "billing",
              "where": "delivery", "lost": "delivery", "late_delivery": "delivery", "address": "delivery"}


@dataclass(frozen=True)
class Step:
    """One service call: ``actor`` is "customer" or an agent's email; ``refund`` in args
    is the story's n-th refund (in the order they were made)."""

    at: datetime
    actor: str
    action: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Story:
    customer_id: str  # the order system's customer id
    order_id: str
    kind: str
    steps: list[Step]

    @property
    def created_at(self) -> datetime:
        return self.steps[0].at


def _delay(rng: random.Random, median_hours: float, low_hours: float, high_hours: float) -> int:
    """Seconds: log-normal around the median (people answer quickly or much later), clamped."""
    hours = median_hours * math.exp(rng.gauss(0, 0.9))
    return int(min(high_hours, max(low_hours, hours)) * HOUR)


def _lower(name: str) -> str:
    return name[0].lower() + name[1:]


@dataclass
class Plan:
    """What every story shares: the random stream, the anchor, the team, and what is left
    of the card issuer's recent outage."""

    rng: random.Random
    anchor: datetime
    agents: list[tuple[str, str]]  # (email, full name), the team lead first
    outage: int  # declines left of the outage


class Builder:
    """Writes one story, keeping the case's status so every transition it plans is allowed."""

    def __init__(self, plan: Plan, order: OrderData, kind: str, first: str, start: datetime,
                 line: OrderLineData) -> None:
        self.plan, self.rng, self.order, self.kind, self.first = plan, plan.rng, order, kind, first
        self.agents = plan.agents
        self.agent = self.rng.choices([email for email, _ in self.agents], AGENT_SHARES[: len(self.agents)])[0]
        self.t = start
        self.line = line
        self.status = "open"
        self.priority = "normal"
        self.refunds = 0
        self.steps: list[Step] = []

    # -- time and text ----------------------------------------------------------
    def wait(self, seconds: int) -> None:
        self.t += timedelta(seconds=max(1, seconds))

    def later(self, median_hours: float, low_hours: float, high_hours: float) -> None:
        self.wait(_delay(self.rng, median_hours, low_hours, high_hours))

    def text(self, options: tuple[str, ...]) -> str:
        values = {"first": self.first, "item": _lower(self.line.name), "Item": self.line.name,
                  "order": self.order.order_id}
        return self.rng.choice(options).format_map(_Keep(values))

    # -- steps ------------------------------------------------------------------
    def customer(self, action: str, **args: Any) -> None:
        self.steps.append(Step(self.t, "customer", action, args))

    def by_agent(self, action: str, who: str | None = None, **args: Any) -> None:
        self.steps.append(Step(self.t, who or self.agent, action, args))

    def open(self, priority: str | None = None) -> None:
        subjects, descriptions = T.OPENERS[self.kind]
        category = CATEGORIES[self.kind]
        priority = priority or self.rng.choices(("low", "normal", "high", "urgent"), (15, 60, 20, 5))[0]
        self.priority = priority
        self.customer("open", subject=self.text(subjects), description=self.text(descriptions), category=category,
                      priority=priority)

    def to(self, status: str, reason: str = "") -> None:
        """The agent moves the case, through in progress when the status machine wants it."""
        if status in ("waiting_on_customer", "resolved") and self.status != "in_progress":
            self.by_agent("status", target="in_progress", reason="")
        self.by_agent("status", target=status, reason=reason)
        self.status = status

    def first_response(self, replies: tuple[str, ...] | None = None) -> None:
        """An agent takes the case (or the team lead hands it out) and answers: sooner when urgent."""
        self.later(*FIRST_RESPONSE_HOURS[self.priority])
        if self.rng.random() < 0.12 and self.agent != self.agents[0][0]:  # the team lead hands it out
            self.by_agent("assign", self.agents[0][0], assignee=self.agent)
            self.wait(self.rng.randint(10 * MINUTE, 2 * HOUR))
        else:
            self.by_agent("assign", assignee=self.agent)
        self.to("in_progress")
        self.by_agent("reply", body=self.text(replies or T.FIRST_REPLY[self.kind]))

    def agent_reply(self, options: tuple[str, ...]) -> None:
        self.by_agent("reply", body=self.text(options))

    def note(self, options: tuple[str, ...]) -> None:
        self.by_agent("note", body=self.text(options))

    def customer_reply(self, options: tuple[str, ...]) -> None:
        self.customer("reply", body=self.text(options))
        if self.status == "waiting_on_customer":
            self.status = "in_progress"

    def request(self, selection: dict[str, int], reason: str) -> int:
        self.refunds += 1
        self.customer("request", selection=selection, reason=reason, note=self.text(T.REFUND_NOTES[reason]),
                      key=self._key())
        return self.refunds - 1

    def record_settlement(self, selection: dict[str, int], reason: str, kind: str, amount: Any,
                          note: str | None = None) -> int:
        """``amount``: "full" (what the items cost; a replacement always counts that), ("fraction", f)
        or ("fixed", minor units);
        ``note``: the SETTLEMENT_NOTES entry, when the kind alone does not say why."""
        self.refunds += 1
        self.by_agent("record_settlement", selection=selection, reason=reason, kind=kind, amount=amount,
                      note=self.text(T.SETTLEMENT_NOTES[note or kind]), key=self._key())
        return self.refunds - 1

    def _key(self) -> str:
        return f"demo-{self.order.order_id}-{self.refunds}"

    def approve(self, refund: int, outcome: str = "succeeded") -> None:
        self.by_agent("approve", refund=refund, outcome=outcome, latency_ms=self.rng.randint(600, 2800))

    def finish(self, reason: str) -> None:
        """Resolve, then the customer confirms, an agent closes a week later, or it stays resolved."""
        self.wait(self.rng.randint(5 * MINUTE, 2 * HOUR))
        self.to("resolved", reason)
        roll = self.rng.random()
        if roll < 0.45:
            self.later(10, 1, 72)
            self.customer_reply(T.CLOSE_CUSTOMER)
            self.customer("status", target="closed", reason="")
            self.status = "closed"
        elif roll < 0.85:
            self.wait(self.rng.randint(6 * DAY, 8 * DAY))
            self.by_agent("status", target="closed", reason="No further questions")
            self.status = "closed"


class _Keep(dict):
    """format_map that leaves unknown placeholders (``{amount}``) for the history to fill in."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
