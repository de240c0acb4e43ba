"""Access control holds against raw websocket events, not only against the UI:
a customer's browser forges Reflex events (agent-only handlers, another customer's
case id in the route data) and the server refuses every one."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from playwright.sync_api import expect

from helpers import open_case, request_refund
from support_app.security.crypto import get_keyring

pytestmark = pytest.mark.browser

BASE = "reflex___state____state.support_app___state___base____app_state"
CASE_STATE = BASE + ".support_app___state___case_page____case_state"
NEW_CASE_STATE = BASE + ".support_app___state___new_case____new_case_state"


class Forger:
    """Routes the page's websocket through the test so it can add frames of its own."""

    def __init__(self, page):
        self.server = None
        self.received: list[str] = []
        page.route_web_socket(re.compile(r".*/_event.*"), self._route)

    def _route(self, ws):
        self.server = ws.connect_to_server()
        self.server.on_message(lambda m: (self.received.append(str(m)), ws.send(m)))

    def send(self, name: str, payload: dict, path: str) -> None:
        event = {"name": name, "payload": payload, "router_data": {"pathname": path, "asPath": path}}
        self.server.send("42/_event," + json.dumps(["event", event]))


def carol_forging(browser, base_url):
    """Carol signed in, in a browser context of her own, on a page whose websocket the
    test can add frames to: (context, page, forger), on her orders page with its socket up."""
    ctx = browser.new_context(base_url=base_url)
    page = ctx.new_page()
    forger = Forger(page)
    page.goto("/login")
    page.locator("#email").fill("carol@example.com")
    page.locator("#password").fill("demo-pass-2026")
    page.locator("#sign-in").click()
    page.wait_for_url(re.compile(r"/orders/?$"))
    expect(page.get_by_text("ORD-1003-1")).to_be_visible()  # the orders page's own socket is up
    return ctx, page, forger


def _db(app_server) -> sqlite3.Connection:
    return sqlite3.connect(app_server[1]["SUPPORT_DATABASE_URL"].removeprefix("sqlite:///"))


def test_customer_forged_events_are_refused(browser, base_url, app_server, sign_in):
    bob = sign_in("bob@example.com")
    bob_case = open_case(bob, "ORD-1002-2", "Press lid does not fit")

    ctx, page, forger = carol_forging(browser, base_url)
    own_case = open_case(page, "ORD-1003-1", "Chai tin dented")
    path = f"/cases/{own_case}"
    with _db(app_server) as db:
        before = db.execute("select status, assignee_id, version from support_cases where id=?", (own_case,)).fetchone()
        notes_before = db.execute("select count(*) from case_messages where visibility='internal'").fetchone()[0]

    # Agent-only actions on her own case.
    forger.send(CASE_STATE + ".add_note", {"form": {"body": "forged internal note"}}, path)
    forger.send(CASE_STATE + ".set_status", {"target": "resolved"}, path)
    forger.send(CASE_STATE + ".assign_to_me", {}, path)
    # Another customer's case and order, by route data.
    forger.send(CASE_STATE + ".load", {}, f"/cases/{bob_case}")
    forger.send(NEW_CASE_STATE + ".load", {}, "/cases/new?order=ORD-1002-1")
    forger.send(CASE_STATE + ".send_reply", {"form": {"body": "forged reply into bob's case"}}, f"/cases/{bob_case}")
    page.wait_for_timeout(3000)

    with _db(app_server) as db:
        after = db.execute("select status, assignee_id, version from support_cases where id=?", (own_case,)).fetchone()
        notes_after = db.execute("select count(*) from case_messages where visibility='internal'").fetchone()[0]
        decrypt = get_keyring().decrypt  # bodies are encrypted at rest (the app server shares data/'s keys)
        forged = sum(decrypt(body, "case_messages.body").startswith("forged")
                     for (body,) in db.execute("select body from case_messages"))
    assert after == before
    assert notes_after == notes_before
    assert forged == 0
    frames = "\n".join(forger.received)
    assert "Press lid does not fit" not in frames, frames[max(0, frames.find("Press lid") - 3000):][:4000]
    assert "That case was not found." in frames
    assert "not found among your orders" in frames
    # The reply into bob's case: this tab's page holds no case (its load was refused), so
    # it is refused before any service runs, as a page out of date, not a missing case.
    assert "This page is out of date. Please reload it" in frames
    ctx.close()


REFUND_FORM = BASE + ".support_app___state___refund_form____refund_form_state"
REFUND_PAGE = BASE + ".support_app___state___refund_page____refund_state"


def test_forged_refund_events_are_refused_and_double_submit_creates_one(browser, base_url, app_server, sign_in):
    bob = sign_in("bob@example.com")
    bob_case = open_case(bob, "ORD-1002-1", "Red mug chipped")
    bob.goto(f"/cases/{bob_case}/refund")
    bob.locator("#line-L1 .inc").click()
    bob.locator("#reason").select_option("damaged")
    expect(bob.locator("#submit-refund")).to_be_enabled()
    bob.locator("#submit-refund").click()
    bob.wait_for_url(re.compile(r"/refunds/\d+$"))
    bob_refund = bob.url.rsplit("/", 1)[-1]

    ctx, page, forger = carol_forging(browser, base_url)
    own_case = open_case(page, "ORD-1003-1", "Chai tin lid bent")
    page.goto(f"/cases/{own_case}/refund")
    expect(page.locator("#refund-total")).to_have_text("€0.00")
    with _db(app_server) as db:
        before = db.execute("select count(*), coalesce(sum(amount), 0) from refund_cases").fetchone()

    # Bob's refund form, Bob's refund: by route data.
    forger.send(REFUND_FORM + ".load", {}, f"/cases/{bob_case}/refund")
    forger.send(REFUND_FORM + ".increment", {"line_id": "L1"}, f"/cases/{bob_case}/refund")
    forger.send(REFUND_FORM + ".set_reason", {"value": "damaged"}, f"/cases/{bob_case}/refund")
    forger.send(REFUND_FORM + ".submit", {"form": {"note": ""}}, f"/cases/{bob_case}/refund")
    forger.send(REFUND_PAGE + ".load", {}, f"/refunds/{bob_refund}")
    forger.send(REFUND_PAGE + ".cancel", {}, f"/refunds/{bob_refund}")
    page.wait_for_timeout(2000)
    with _db(app_server) as db:
        assert db.execute("select count(*), coalesce(sum(amount), 0) from refund_cases").fetchone() == before
        assert db.execute("select status from refund_cases where id=?", (bob_refund,)).fetchone() == ("requested",)
    assert "Red mug" not in "\n".join(forger.received)

    # Her own form, submitted three times in a burst: one refund.
    page.goto(f"/cases/{own_case}/refund")
    page.locator("#line-L1 .inc").click()
    page.locator("#reason").select_option("damaged")
    expect(page.locator("#refund-total")).not_to_have_text("€0.00")
    path = f"/cases/{own_case}/refund"
    for _ in range(3):
        forger.send(REFUND_FORM + ".submit", {"form": {"note": "forged burst"}}, path)
    page.wait_for_url(re.compile(r"/refunds/\d+$"))
    page.wait_for_timeout(1500)
    with _db(app_server) as db:
        assert db.execute("select count(*) from refund_cases where support_case_id=?", (own_case,)).fetchone() == (1,)
    ctx.close()


def test_customer_cannot_decide_her_own_refund_by_forged_events(browser, base_url, app_server):
    ctx, page, forger = carol_forging(browser, base_url)
    case_id = open_case(page, "ORD-1003-1", "Would like my money")

    refund_id = request_refund(page, case_id, "L1", 1)
    path = f"/refunds/{refund_id}"
    forger.send(REFUND_PAGE + ".approve", {}, path)
    forger.send(REFUND_PAGE + ".settle", {"form": {"settle_type": "goodwill", "settle_amount": "9.00", "settle_message": "forged settlement message",
                                                 "settle_internal_note": "forged note"}}, path)
    forger.send(REFUND_PAGE + ".reject", {"form": {"reject_code": "other", "reject_message": "forged rejection text"}}, path)
    forger.send(REFUND_PAGE + ".retry", {}, path)
    forger.send(REFUND_PAGE + ".reconcile_now", {}, path)
    page.wait_for_timeout(2500)
    with _db(app_server) as db:
        assert db.execute("select status, version from refund_cases where id=?", (refund_id,)).fetchone() == ("requested", 1)
        assert db.execute("select count(*) from refund_attempts where refund_case_id=?", (refund_id,)).fetchone() == (0,)
    expect(page.locator("#refund-status")).to_have_text("Requested")
    ctx.close()
