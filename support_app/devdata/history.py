"""The demo history: 90 days of support work, written through the services.

``seed_history`` waits for the order system (the sandbox), reads the anchor its demo
data is dated from, creates the generated customers (C-2001 …) and three more agents,
reads every generated customer's orders with the real OrderClient, plans the stories
(history_plan) and plays each step through the service a person would have used —
create_case, add_message, assign, change_status, request_refund, approve_refund,
reject_refund, settle_refund, record_settlement, cancel_refund, retry_refund,
abandon_refund — inside ``frozen_time(step.at)``, so every row carries its historical
moment and every rule (status machines, refundable quantities, the 14-day window,
amounts) is checked exactly as it is for people.

Money goes through the payment gateway the way it does in production: an approval
commits an attempt, and the worker's own code (worker.claims.claim_due +
worker.sender.process) sends it to the gateway sandbox and records its answer, at
the approval's moment plus the gateway's latency. A planned decline arms the
sandbox's decline switch for exactly that one request. So the gateway ledger holds
every attempt of the app (same idempotency key, reference and outcome: refunded
money, and declines), and no attempt is left pending for the workers.

Idempotent: a story whose case already exists (same customer, same opening moment)
is skipped, so a second run creates nothing; after an interrupted run the next one
writes the stories not begun yet (the interrupted one stays as far as it got, a state
the services made consistent; an attempt it left pending is sent by the app's
workers). Accounts share the demo password, hashed once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import select

from support_app.db import get_engine, session_scope
from support_app.devdata.demo import DEMO_AGENTS, DEMO_PASSWORD
from support_app.devdata.history_builder import Step, Story
from support_app.devdata.history_plan import HISTORY_DAYS, plan_history
from support_app.domain.money import AmountError, exponent, format_money, parse_amount
from support_app.integrations.gateway_client import GatewayClient
from support_app.integrations.order_client import OrderClient
from support_app.integrations.order_data import OrderData, parse_ts
from support_app.models import RefundAttempt, User
from support_app.models.base import frozen_time, utcnow
from support_app.sandbox.catalogue import HISTORY_CUSTOMERS
from support_app.security import passwords
from support_app.security.ratelimit import case_create_limiter
from support_app.services import case_commands, case_queries, refund_commands, refund_queries, refund_review
from support_app.services.auth_service import Identity, create_user
from support_app.services.refund_execution import LIVE
from support_app.services.refund_review import AttemptRef
from support_app.settings import get_settings
from support_app.worker.claims import claim_due
from support_app.worker.sender import process

T = TypeVar("T")
# Beside Sam and Riley (devdata/demo.py): the rest of the team, as in the large dataset.
HISTORY_AGENTS = [("agent03@example.com", "Jordan Blake"), ("agent04@example.com", "Casey Moreau"),
                  ("agent05@example.com", "Alex Novak")]
WORKER_ID = "demo-history"
SETTLE_SECONDS = 30  # how long to wait for an attempt another worker holds (a running app's)


class HistoryError(RuntimeError):
    """The history could not be written (no order system, no anchor, an unexpected answer)."""


@dataclass
class HistoryReport:
    anchor: datetime
    stories: int  # support cases planned (cut at the anchor)
    written: int  # of them written by this run; the rest existed already
    refunds_written: int
    customers_created: int
    agents_created: int
    seconds: float

    def summary(self) -> str:
        span = f"the {HISTORY_DAYS} days before {self.anchor:%Y-%m-%d %H:%M} UTC (the sandbox's first start)"
        if not self.written and not self.customers_created and not self.agents_created:
            return f"history  exists: {self.stories} support cases over {span}; nothing to do"
        return (f"history  created {self.written} of {self.stories} support cases and {self.refunds_written} refund "
                f"cases over {span}, {self.customers_created} customers and {self.agents_created} agents "
                f"in {self.seconds:.1f} s")


def wait_for_sandbox(order_url: str, gateway_url: str, wait_seconds: float) -> datetime:
    """Wait until the order system and the gateway answer their /health; return the anchor
    the order system's demo data is dated from (the sandbox names it)."""
    deadline = time.monotonic() + wait_seconds
    problem = ""
    with httpx.Client(timeout=2) as http:
        while True:
            try:
                orders = http.get(f"{order_url.rstrip('/')}/health")
                gateway = http.get(f"{gateway_url.rstrip('/')}/health")
                if orders.status_code == 200 and gateway.status_code == 200:
                    anchor = orders.json().get("anchor")
                    if not isinstance(anchor, str):
                        raise HistoryError(f"the order system at {order_url} names no anchor: the demo history "
                                           "needs the sandbox (python -m support_app.sandbox)")
                    return parse_ts(anchor, "anchor")
                problem = f"answers {orders.status_code} / {gateway.status_code}"
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise HistoryError(f"the sandbox did not answer at {order_url} and {gateway_url} within "
                                   f"{wait_seconds:.0f} s ({problem}); start it (make run does) and run seed-demo "
                                   "again")
            time.sleep(0.25)


def seed_history(engine: Engine | None = None, *, order_url: str | None = None, gateway_url: str | None = None,
                 wait_seconds: float = 60.0) -> HistoryReport:
    """Write what is missing of the demo history into ``engine``'s database (the app's by
    default) from the sandbox at the settings' URLs, waiting up to ``wait_seconds`` for it.
    Needs Sam and Riley (``demo.seed_demo``) first. Raises HistoryError when the sandbox is
    not there or answers what the history did not plan."""
    settings = get_settings()
    order_url = order_url or settings.order_system_url
    gateway_url = gateway_url or settings.payment_gateway_url
    anchor = wait_for_sandbox(order_url, gateway_url, wait_seconds)
    started = time.monotonic()
    with OrderClient(order_url, timeout_seconds=settings.order_timeout_seconds, kv=None) as orders_client, \
            GatewayClient(gateway_url, timeout_seconds=settings.gateway_timeout_seconds) as gateway_client, \
            httpx.Client(base_url=gateway_url.rstrip("/") + "/", timeout=5) as gateway_switch:
        orders = [order for cid, _, _ in HISTORY_CUSTOMERS for order in orders_client.list_customer_orders(cid)]
        player = _Player(engine or get_engine(), orders_client, gateway_client, gateway_switch, anchor,
                         {order.order_id: order.currency for order in orders})
        customers, agents = player.accounts(orders)
        stories = plan_history(orders, anchor, {cid: name.split()[0] for cid, _, name in HISTORY_CUSTOMERS},
                               DEMO_AGENTS + HISTORY_AGENTS)
        done = player.existing_cases()
        todo = [s for s in stories if (s.customer_id, s.created_at) not in done]
        for story in todo:
            player.play(story)
    refunds = sum(step.action in ("request", "record_settlement") for story in todo for step in story.steps)
    return HistoryReport(anchor, len(stories), len(todo), refunds, customers, agents, time.monotonic() - started)


class _Player:
    """Plays stories through the services, one unit of work per step, at the step's moment."""

    def __init__(self, engine: Engine, orders: OrderClient, gateway: GatewayClient, gateway_switch: httpx.Client,
                 anchor: datetime, currencies: dict[str, str]) -> None:
        self.engine, self.orders, self.gateway, self.anchor = engine, orders, gateway, anchor
        self.gateway_switch = gateway_switch  # the sandbox gateway's fault switch (_faults)
        self.currencies = currencies  # order id -> currency
        self.lease = get_settings().worker_lease_seconds
        self.people: dict[str, Identity] = {}  # email or order-system customer id -> caller

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with session_scope(self.engine, write=getattr(fn, "writes", False)) as session:
            return fn(session, *args, **kwargs)

    # -- accounts ---------------------------------------------------------------------
    def accounts(self, orders: list[OrderData]) -> tuple[int, int]:
        """The generated customers and agents (Sam and Riley come from seed_demo); returns
        how many of each were created now. A customer's account dates from the day
        before their first order, the agents' from before the history."""
        with session_scope(self.engine) as session:  # emails compared after reading: stored values may be encrypted
            found = {u.email: Identity(u.id, u.role) for u in session.exec(select(User))}
        first_order = {}
        for order in orders:
            first_order[order.customer_id] = min(order.placed_at, first_order.get(order.customer_id, order.placed_at))
        wanted = [(email, name, "customer", cid, first_order.get(cid, self.anchor) - timedelta(days=1))
                  for cid, email, name in HISTORY_CUSTOMERS]
        wanted += [(email, name, "agent", None, self.anchor - timedelta(days=120)) for email, name in HISTORY_AGENTS]
        missing = [w for w in wanted if w[0] not in found]
        shared = passwords.hash_password(DEMO_PASSWORD) if missing else ""  # once: a hash costs ~30 ms of CPU
        for email, name, role, cid, since in missing:
            with frozen_time(since):
                user = self.run(create_user, email, name, role, DEMO_PASSWORD, cid, password_hash=shared)
            found[email] = Identity(user.id, user.role)
        for email, _ in DEMO_AGENTS:
            if email not in found:
                raise HistoryError(f"{email} is missing: seed_demo creates it before the history")
        self.people = {**found, **{cid: found[email] for cid, email, _ in HISTORY_CUSTOMERS}}
        made = [role for _, _, role, _, _ in missing]
        return made.count("customer"), made.count("agent")

    def existing_cases(self) -> set[tuple[str, datetime]]:
        """(customer, opened at) of the generated customers' cases: stories already written."""
        done = set()
        for cid, _, _ in HISTORY_CUSTOMERS:
            for row in self.run(case_queries.list_cases, self.people[cid]):
                done.add((cid, parse_ts(row.created_at, "created_at")))
        return done

    # -- stories ----------------------------------------------------------------------
    def play(self, story: Story) -> None:
        customer = self.people[story.customer_id]
        state = _StoryState()
        for step in story.steps:
            actor = customer if step.actor == "customer" else self.people[step.actor]
            with frozen_time(step.at):
                self.step(story, step, actor, state)

    def step(self, story: Story, step: Step, actor: Identity, state: "_StoryState") -> None:
        a = step.args
        refund = state.refunds[a["refund"]] if "refund" in a else 0
        match step.action:
            case "open":
                state.case_id = self.run(case_commands.create_case, actor, story.order_id, a["subject"],
                                         a["description"], a["category"], a["priority"], client=self.orders)
                # The history was not opened now: it must not count against today's limit.
                case_create_limiter().unhit(str(actor.id))
            case "reply" | "note":
                body = a["body"].replace("{amount}", state.amount_text)
                self.run(case_commands.add_message, actor, state.case_id, body, internal=step.action == "note")
            case "assign":
                self.run(case_commands.assign, actor, state.case_id, self.people[a["assignee"]].id)
            case "status":
                self.run(case_commands.change_status, actor, state.case_id, a["target"], a["reason"])
            case "request":
                state.refunds.append(self.run(refund_commands.request_refund, actor, state.case_id, a["selection"],
                                              a["reason"], a["note"], a["key"]))
            case "cancel":
                self.run(refund_commands.cancel_refund, actor, refund)
            case "approve":
                attempt = self.run(refund_review.approve_refund, actor, refund)
                state.amount_text = self.send(attempt, a["outcome"], step, a["latency_ms"])
            case "retry":
                attempt = self.run(refund_review.retry_refund, actor, refund)
                state.amount_text = self.send(attempt, "succeeded", step, a["latency_ms"])
            case "abandon":
                self.run(refund_review.abandon_refund, actor, refund)
            case "reject":
                self.run(refund_review.reject_refund, actor, refund, a["code"], a["message"])
            case "settle":
                detail = self.run(refund_queries.get_refund, actor, refund)
                amount = _settled(a["amount"], _minor(detail.amount, detail.currency))
                self.run(refund_review.settle_refund, actor, refund, a["kind"], amount, a["note"])
                state.amount_text = format_money(amount, detail.currency)
            case "record_settlement":
                quote = self.run(refund_queries.price_refund, actor, state.case_id, a["selection"], a["reason"],
                                 for_settlement=True)
                if quote.problem:
                    raise HistoryError(f"{story.order_id}: the settlement cannot be priced: {quote.problem}")
                currency = self.currencies[story.order_id]
                amount = _settled(a["amount"], _minor(quote.total, currency))
                state.refunds.append(self.run(refund_commands.record_settlement, actor, state.case_id, a["selection"],
                                              a["reason"], a["kind"], amount, a["note"], a["key"]))
                state.amount_text = format_money(amount, currency)
            case other:
                raise HistoryError(f"unknown step {other!r}")

    # -- the gateway --------------------------------------------------------------------
    def send(self, attempt: AttemptRef, outcome: str, step: Step, latency_ms: int) -> str:
        """Have the worker's code send the attempt and record the answer ``latency_ms`` after
        the approval; ``outcome`` other than "succeeded" is a decline reason for the gateway.
        Returns the amount sent, as a reply would quote it."""
        expected = "succeeded" if outcome == "succeeded" else "failed"
        if expected == "failed":
            decline = {"mode": "decline", "count": 1, "decline_reason": outcome}
            faults = self.gateway_switch.post("_faults", json=decline)
            if faults.status_code != 200:
                raise HistoryError(f"the gateway's decline switch answered {faults.status_code} at {faults.url}: "
                                   "the demo history needs the sandbox with its fault switch (no --no-faults)")
        deadline = time.monotonic() + SETTLE_SECONDS
        with frozen_time(step.at + timedelta(milliseconds=latency_ms)):
            while (row := self._attempt(attempt.attempt_id)).status in LIVE:
                with session_scope(self.engine, write=True) as session:
                    claimed = claim_due(session, WORKER_ID, self.lease, 20, utcnow())
                for attempt_id in claimed:
                    process(attempt_id, WORKER_ID, self.gateway, self.engine)
                if not claimed:  # another worker holds it (a running app): let it finish
                    if time.monotonic() > deadline:
                        raise HistoryError(f"attempt {attempt.attempt_id} is still {row.status} after "
                                           f"{SETTLE_SECONDS} s")
                    time.sleep(0.2)
        if row.status != expected:
            hint = (": the gateway sandbox already refunded these orders for an earlier database; delete "
                    "data/sandbox.db as well (both are made again)" if row.error_code == "exceeds_captured" else "")
            raise HistoryError(f"attempt {attempt.attempt_id} ended {row.status} ({row.error_code}), the history "
                               f"planned {expected}{hint}")
        return format_money(row.amount, row.currency)

    def _attempt(self, attempt_id: int) -> RefundAttempt:
        with session_scope(self.engine) as session:
            attempt = session.get(RefundAttempt, attempt_id)
            assert attempt is not None
            return attempt


@dataclass
class _StoryState:
    case_id: int = 0
    refunds: list[int] = field(default_factory=list)  # the story's refund cases, in the order they were made
    amount_text: str = ""  # the latest refund or settlement, as a reply mentions it


def _minor(text: str, currency: str) -> int:
    """"€1,234.56" → 123456, as the refund page reads an amount back."""
    try:
        return parse_amount(text.lstrip("€$£¥"), exponent(currency))
    except AmountError:
        raise HistoryError(f"unreadable amount {text!r}") from None


def _settled(plan: Any, total: int) -> int:
    """The settled amount from the plan's "full", ("fraction", f) or ("fixed", minor)."""
    if plan == "full":
        return total
    kind, value = plan
    return round(total * value) if kind == "fraction" else min(value, total)
