"""The authorization matrix: every event handler of every page state, found at test time
from the app itself, sent as a raw websocket event by the case's owner, another customer,
an agent and someone not signed in.

For every (handler, person) the server must answer (a frame comes back that is not the
"unknown handler" refusal — a renamed state or handler is caught, never passed silently),
and nobody the rules do not allow may change stored data: the fingerprint of the case,
its messages, its refunds and the order's refunds is the same before and after all the
not-allowed calls. A handler missing from RULES fails the test: a new one has to be
classified here.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import sqlite3
import uuid
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from helpers import open_case, request_refund
from test_raw_events import Forger

pytestmark = pytest.mark.browser
PEOPLE = {"owner": "alice@example.com", "other": "bob@example.com", "agent": "agent@example.com", "anonymous": None}
CUSTOMERS, AGENT, ANYONE = frozenset({"owner"}), frozenset({"agent"}), frozenset(PEOPLE)
CASE_PEOPLE = frozenset({"owner", "agent"})
UNKNOWN = "That action is not available. Please reload the page."


@dataclass(frozen=True)
class Rule:
    path: str  # the page the event claims to come from ({case}, {refund} filled in)
    may: frozenset[str]  # who may change stored data through it (everyone else: nothing changes)


# Handlers that only set page-local fields, load read models or navigate store nothing:
# `may` names who may act through them at all (their refusals are tested elsewhere).
RULES: dict[str, Rule] = {
    "AppState.clear_busy": Rule("/orders", ANYONE),
    "LoginState.prepare": Rule("/login", ANYONE),
    "LoginState.go_home": Rule("/", ANYONE),
    "OrdersState.load": Rule("/orders", frozenset({"owner", "other"})),
    "NewCaseState.load": Rule("/cases/new?order=ORD-1001-1", CUSTOMERS),
    "NewCaseState.submit": Rule("/cases/new?order=ORD-1001-1", CUSTOMERS),
    "CasesState.load": Rule("/cases", ANYONE - {"anonymous"}),
    "CasesState.set_status_filter": Rule("/cases", ANYONE - {"anonymous"}),
    "CasesState.toggle_mine": Rule("/queue", AGENT),
    "CaseState.load": Rule("/cases/{case}", CASE_PEOPLE),
    "CaseState.send_reply": Rule("/cases/{case}", CASE_PEOPLE),
    "CaseState.add_note": Rule("/cases/{case}", AGENT),
    "CaseState.set_status": Rule("/cases/{case}", CASE_PEOPLE),
    "CaseState.assign_to_me": Rule("/cases/{case}", AGENT),
    "CaseState.reopen": Rule("/cases/{case}", CASE_PEOPLE),
    "CaseState.show_earlier_messages": Rule("/cases/{case}", CASE_PEOPLE),
    "CaseState.show_earlier_history": Rule("/cases/{case}", CASE_PEOPLE),
    "RefundFormState.load": Rule("/cases/{case}/refund", CUSTOMERS),
    "RefundFormState.increment": Rule("/cases/{case}/refund", CUSTOMERS),
    "RefundFormState.decrement": Rule("/cases/{case}/refund", CUSTOMERS),
    "RefundFormState.set_reason": Rule("/cases/{case}/refund", CUSTOMERS),
    "RefundFormState.set_settle_type": Rule("/cases/{case}/settle", AGENT),
    "RefundFormState.submit": Rule("/cases/{case}/refund", CUSTOMERS),
    "RefundState.load": Rule("/refunds/{refund}", CASE_PEOPLE),
    "RefundState.cancel": Rule("/refunds/{refund}", CUSTOMERS),
    "RefundState.approve": Rule("/refunds/{refund}", AGENT),
    "RefundState.reject": Rule("/refunds/{refund}", AGENT),
    "RefundState.settle": Rule("/refunds/{refund}", AGENT),
    "RefundState.retry": Rule("/refunds/{refund}", AGENT),
    "RefundState.abandon": Rule("/refunds/{refund}", AGENT),
    "RefundState.reconcile_now": Rule("/refunds/{refund}", AGENT),
    "RefundQueueState.load": Rule("/refunds", AGENT),
    "RefundQueueState.set_status_filter": Rule("/refunds", AGENT),
    "OverviewState.load": Rule("/overview/cases", AGENT),
    "OverviewState.apply": Rule("/overview/cases", AGENT),
    "OverviewState.clear": Rule("/overview/cases", AGENT),
    "OverviewState.export": Rule("/overview/cases", AGENT),
    "MyRefundsState.load": Rule("/my/refunds", frozenset({"owner", "other"})),
    "MetricsState.load": Rule("/metrics", AGENT),
    "MetricsState.set_days": Rule("/metrics", AGENT),
    "NotFoundState.load": Rule("/no-such-page", ANYONE),
    "WorkspaceState.load": Rule("/workspace?case={case}", AGENT),
    "WorkspaceState.select_case": Rule("/workspace", AGENT),
    "WorkspaceState.next_case": Rule("/workspace", AGENT),
    "WorkspaceState.previous_case": Rule("/workspace", AGENT),
    "WorkspaceState.set_scope": Rule("/workspace", AGENT),
    "WorkspaceState.set_status_filter": Rule("/workspace", AGENT),
    "WorkspaceState.set_priority_filter": Rule("/workspace", AGENT),
    "WorkspaceState.set_compose_mode": Rule("/workspace?case={case}", AGENT),
    "WorkspaceState.send": Rule("/workspace?case={case}", AGENT),
    "WorkspaceState.resolve": Rule("/workspace?case={case}", AGENT),
    "WorkspaceState.assign": Rule("/workspace?case={case}", AGENT),
    "WorkspaceState.approve": Rule("/workspace?case={case}", AGENT),
    "WorkspaceState.reject": Rule("/workspace?case={case}", AGENT),
    "WorkspaceState.open_reject": Rule("/workspace?case={case}", AGENT),
    "WorkspaceState.close_reject": Rule("/workspace?case={case}", AGENT),
    "WorkspaceState.show_earlier_messages": Rule("/workspace?case={case}", AGENT),
}
# Plausible arguments by parameter name: what the page itself would send.
ARGS = {"value": lambda: f"matrix {uuid.uuid4().hex[:8]}", "target": lambda: "resolved", "line_id": lambda: "L1",
        "form": lambda: {"reject_code": "other", "reject_message": "Matrix says no to this one.",
                         "settle_type": "goodwill", "settle_amount": "1.00", "settle_message": "Matrix settlement message.",
                         "settle_internal_note": "Matrix internal note."},
        "var_name": lambda: "load_error", "checked": lambda: True}
CLOSED = {"setvar"}  # handlers the event guard keeps closed for everyone


def handlers() -> dict[str, tuple[str, list[str]]]:
    """Every handler of every state under support_app.state: "Class.name" -> (full event name, parameters)."""
    import support_app.state as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"support_app.state.{module.name}")
    from support_app.state.base import AppState

    found, todo = {}, [AppState]
    while todo:
        cls = todo.pop()
        todo.extend(cls.get_substates())
        for name, handler in cls.event_handlers.items():
            params = list(inspect.signature(handler.fn).parameters)[1:]
            found[f"{cls.__name__}.{name}"] = (f"{cls.get_full_name()}.{name}", params)
    return found


def _fingerprint(app_server, case_id: str) -> tuple:
    path = app_server[1]["SUPPORT_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return (
            db.execute("select status, assignee_id, version from support_cases where id=?", (case_id,)).fetchone(),
            db.execute("select count(*) from case_messages where case_id=?", (case_id,)).fetchone(),
            db.execute("select id, status, version, settled_amount from refund_cases order by id").fetchall(),
            db.execute("select count(*) from support_cases").fetchone(),
            db.execute("select count(*), coalesce(max(id), 0) from refund_attempts").fetchone(),
        )


class Person:
    def __init__(self, browser, base_url, who: str, email: str | None):
        self.ctx = browser.new_context(base_url=base_url)
        self.page = self.ctx.new_page()
        self.forger = Forger(self.page)
        self.page.goto("/login")
        if email:
            self.page.locator("#email").fill(email)
            self.page.locator("#password").fill("demo-pass-2026")
            self.page.locator("#sign-in").click()
            self.page.wait_for_url(lambda url: "/login" not in url)
        else:
            expect(self.page.locator("#sign-in")).to_be_visible()
        self.who = who

    def mark(self) -> int:
        return len(self.forger.received)

    def post(self, event: str, payload: dict, path: str) -> None:
        pathname, _, query = path.partition("?")
        router = {"pathname": pathname, "asPath": path,
                  "query": dict(part.split("=", 1) for part in query.split("&") if "=" in part)}
        self.forger.server.send("42/_event," + json.dumps(["event", {"name": event, "payload": payload, "router_data": router}]))


def _round(people: list[Person], event: str, params: list[str], path: str) -> dict[str, list[str]]:
    """Send one event as each of ``people`` at once; return what came back to each, once
    nothing more arrives (at most 5 s)."""
    marks = {p.who: p.mark() for p in people}
    for person in people:
        person.post(event, {p: ARGS.get(p, ARGS["value"])() for p in params}, path)
    page = people[0].page
    for _ in range(50):
        page.wait_for_timeout(100)
        if all(p.mark() > marks[p.who] for p in people):
            break
    last = -1
    while last != sum(p.mark() for p in people):  # the rest of the answers
        last = sum(p.mark() for p in people)
        page.wait_for_timeout(200)
    return {p.who: p.forger.received[marks[p.who]:] for p in people}


def test_every_handler_answers_everyone_and_only_the_allowed_change_anything(browser, base_url, app_server, sign_in):
    found = handlers()
    unclassified = sorted(set(found) - set(RULES) - {k for k in found if k.rsplit(".", 1)[1] in CLOSED})
    assert not unclassified, f"classify these handlers in RULES: {unclassified}"
    assert not set(RULES) - set(found), f"RULES name handlers that do not exist (renamed?): {sorted(set(RULES) - set(found))}"

    alice = sign_in("alice@example.com")
    case_id = open_case(alice, "ORD-1001-1", "Matrix: mugs")
    refund_id = request_refund(alice, case_id, "L1", 1)
    people = {who: Person(browser, base_url, who, email) for who, email in PEOPLE.items()}
    try:
        before = _fingerprint(app_server, case_id)
        silent = []
        # Everyone the rules do not allow, first: nothing stored may change.
        for key, (event, params) in sorted(found.items()):
            rule, closed = RULES.get(key), key.rsplit(".", 1)[1] in CLOSED
            others = [p for who, p in people.items() if rule is None or who not in rule.may]
            path = (rule.path if rule else "/orders").format(case=case_id, refund=refund_id)
            for who, answer in _round(others, event, params, path).items() if others else ():
                if not answer:
                    silent.append((key, who))
                elif not closed:
                    assert not any(UNKNOWN in frame for frame in answer), f"{key} is unknown to the server"
        assert _fingerprint(app_server, case_id) == before, "someone not allowed changed stored data"
        # Then the allowed: they are answered too (what they may do is tested by the stories).
        for key, rule in sorted(RULES.items()):
            event, params = found[key]
            allowed = [people[who] for who in sorted(rule.may)]
            for who, answer in _round(allowed, event, params, rule.path.format(case=case_id, refund=refund_id)).items():
                if not answer:
                    silent.append((key, who))
                assert not any(UNKNOWN in frame for frame in answer), f"{key} is unknown to the server"
        assert not silent, f"no answer from the server to: {silent}"
    finally:
        for person in people.values():
            person.ctx.close()
