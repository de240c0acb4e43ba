"""User story 3 in a real browser: agents approve, reject or settle; money moves once."""

from __future__ import annotations

import re
import sqlite3

import httpx
import pytest
from helpers import KOLKATA, expect_kolkata_times, open_case, request_refund
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.browser
MESSAGE = "Store credit instead; you agreed by phone."
INTERNAL = "Internal: kettle batch 7 has loose lids, supplier notified"


def _db(app_server) -> sqlite3.Connection:
    return sqlite3.connect(app_server[1]["SUPPORT_DATABASE_URL"].removeprefix("sqlite:///"))


def test_agent_approves_and_customer_sees_refunded(sign_in, app_server):
    customer = sign_in("alice@example.com")
    case_id = open_case(customer, "ORD-1001-1", "Mugs cracked, want money back")
    refund_id = request_refund(customer, case_id, "L1", 2)
    expect(customer.locator("#refund-status")).to_have_text("Requested")

    agent = sign_in("agent@example.com", timezone=KOLKATA)
    agent.locator("#nav-refunds").click()
    agent.wait_for_url(re.compile(r"/refunds$"))
    row = agent.locator(f".refund-queue-row[href='/refunds/{refund_id}']")  # hers, whatever else is queued
    expect(row).to_contain_text("Alice Martin")
    expect(row).to_contain_text("€27.77")
    expect(row.locator(".queue-age")).to_have_text(re.compile(r"^waiting (a few seconds|a minute|\d+ minutes)$"))  # not "… ago"
    agent.goto(f"/refunds/{refund_id}")
    expect(agent.locator("#window-verdict")).to_contain_text("within window")
    agent.locator("#approve").click()
    expect(agent.get_by_role("alertdialog")).to_contain_text("Refund €27.77 to the customer's original payment method?")
    agent.locator("#approve-confirm").click()
    expect(agent.locator("#refund-status")).to_have_text("Refunded", timeout=20000)
    expect(agent.locator(".attempt")).to_contain_text("succeeded")
    expect(agent.locator("#refund-outcome")).to_contain_text("refunded to the customer's original payment method")
    for where in ("#refund-opened", "#timeline", "#agent-panel"):  # requested, history, gateway attempts: the agent's zone
        expect_kolkata_times(agent.locator(where))

    # The customer's open page turns Refunded by itself, with the amount and reference.
    expect(customer.locator("#refund-status")).to_have_text("Refunded", timeout=20000)
    expect(customer.locator("#refund-outcome")).to_contain_text("€27.77 was refunded to your original payment method")
    with _db(app_server) as db:
        (attempts,) = db.execute("select count(*) from refund_attempts where refund_case_id=?", (refund_id,)).fetchone()
    assert attempts == 1
    customer.goto(f"/cases/{case_id}")
    expect(customer.locator("#timeline")).to_contain_text("refunded")


def test_agent_rejects_and_customer_reads_why(sign_in):
    customer = sign_in("bob@example.com")
    case_id = open_case(customer, "ORD-1002-1", "Changed my mind on the spoons")
    refund_id = request_refund(customer, case_id, "L2", 1, reason="changed_mind")
    agent = sign_in("agent2@example.com")
    agent.goto(f"/refunds/{refund_id}")
    agent.locator("#reject-submit").click()  # asks first; backing out sends nothing
    dialog = agent.get_by_role("alertdialog")
    expect(dialog).to_contain_text("Reject RF-")
    dialog.get_by_role("button", name="Back").click()
    expect(dialog).to_have_count(0)
    expect(agent.locator("#refund-status")).to_have_text("Requested")
    agent.locator("#reject-submit").click()
    agent.locator("#reject-submit-confirm").click()
    expect(agent.locator("#error-reject_code")).to_be_visible()
    agent.locator("#reject_code").select_option("outside_policy")
    agent.locator("#reject_message").fill("Opened cutlery sets cannot be returned for hygiene reasons.")
    agent.locator("#reject-submit").click()
    agent.locator("#reject-submit-confirm").click()
    expect(agent.locator("#refund-status")).to_have_text("Rejected")
    expect(customer.locator("#refund-status")).to_have_text("Rejected", timeout=20000)
    expect(customer.locator("#refund-outcome")).to_contain_text("hygiene reasons")
    customer.goto(f"/cases/{case_id}")
    expect(customer.locator("#conversation")).to_contain_text("was not approved (Outside our refund policy)")


def test_second_agent_sees_the_approval_and_cannot_approve_again(sign_in, app_server):
    customer = sign_in("carol@example.com")
    case_id = open_case(customer, "ORD-1003-1", "Tins dented")
    refund_id = request_refund(customer, case_id, "L1", 1)
    first, second = sign_in("agent@example.com"), sign_in("agent2@example.com")
    for page in (first, second):
        page.goto(f"/refunds/{refund_id}")
        expect(page.locator("#approve")).to_be_visible()
    second.locator("#approve").click()  # the second agent hesitates in the dialog…
    first.locator("#approve").click()
    first.locator("#approve-confirm").click()
    expect(first.locator("#refund-status")).to_have_text("Refunded", timeout=20000)
    # …and their page changes under them: either the live update already took the
    # dialog away, or the confirm reaches the server and finds the refund decided.
    confirm = second.locator("#approve-confirm")
    if confirm.is_visible():
        try:
            confirm.click(timeout=3000)
        except PlaywrightTimeout:
            pass  # the dialog went away between the check and the click
    expect(second.locator("#refund-status")).to_have_text("Refunded", timeout=20000)
    expect(second.locator("#approve")).to_have_count(0)
    with _db(app_server) as db:
        (attempts,) = db.execute("select count(*) from refund_attempts where refund_case_id=?", (refund_id,)).fetchone()
        (events,) = db.execute(
            "select count(*) from refund_events where refund_case_id=? and to_status='processing'", (refund_id,)
        ).fetchone()
    assert attempts == 1 and events == 1


def _frames(page: Page) -> list[str]:
    """Everything the server sends this page over its websockets from now on (the
    listener sees sockets opened after it: navigate afterwards)."""
    seen: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: seen.append(
        payload if isinstance(payload, str) else payload.decode("utf-8", "replace"))))
    return seen


def test_settlement_for_an_out_of_window_complaint(sign_in, app_server):
    """Out-of-window items cannot be requested online; an agent settles on a request
    that was made in time, within what is left of the payment, and the customer sees
    how — the message as from support, never the agent's internal note."""
    customer = sign_in("alice@example.com")
    case_id = open_case(customer, "ORD-1001-2", "Kettle lid loose")
    refund_id = request_refund(customer, case_id, "L1", 1)
    frames = _frames(customer)
    customer.goto(f"/refunds/{refund_id}")  # a new socket: its frames are watched
    expect(customer.locator("#refund-status")).to_have_text("Requested")
    agent = sign_in("agent@example.com")
    agent.goto(f"/refunds/{refund_id}")
    expect(agent.locator("#settle_hint")).to_contain_text("at most €53.54, what is left of this order's payment")
    agent.locator("#settle_type").select_option("store_credit")
    agent.locator("#settle_amount").fill("53.55")
    agent.locator("#settle_message").fill(MESSAGE)
    agent.locator("#settle_internal_note").fill(INTERNAL)
    agent.locator("#settle-submit").click()
    expect(agent.locator("#error-settle_amount")).to_have_text("Enter at most €53.54: that is what was paid for this order.")
    expect(agent.locator("#refund-status")).to_have_text("Requested")
    agent.locator("#settle_amount").fill("1,234,5")  # the comma is named as the problem, under the amount
    agent.locator("#settle-submit").click()
    expect(agent.locator("#error-settle_amount")).to_contain_text("The comma in this amount cannot be read")
    expect(agent.locator("#refund-status")).to_have_text("Requested")
    agent.locator("#settle_amount").fill("20,00")  # a decimal comma is read as one
    agent.locator("#settle-submit").click()
    expect(agent.locator("#refund-status")).to_have_text("Settled")
    expect(agent.locator("#internal-note")).to_contain_text(INTERNAL)
    expect(agent.locator("#timeline")).to_contain_text("Sam Rivera Recorded a settlement: Store credit of €20.00")

    # The customer's open page changes by itself: the decision, and the message labelled as from support.
    expect(customer.locator("#refund-outcome")).to_have_text("Store credit of €20.00.", timeout=20000)
    expect(customer.locator("#support-message")).to_contain_text("Message from support")
    expect(customer.locator("#support-message")).to_contain_text(MESSAGE)
    expect(customer.locator("#refund-opened")).to_contain_text("by Alice Martin")  # she asked; the agent recorded
    expect(customer.locator("#timeline")).to_contain_text("Sam Rivera Recorded a settlement: Store credit of €20.00")
    customer.goto(f"/cases/{case_id}")
    expect(customer.locator("#conversation")).to_contain_text(MESSAGE)
    expect(customer.locator("#conversation .message.reply").last).to_contain_text("Support")
    assert INTERNAL not in customer.content()
    assert frames and not any(INTERNAL in f for f in frames), "the internal note reached the customer's browser"
    agent.goto(f"/cases/{case_id}")
    expect(agent.locator("#conversation .internal-note")).to_contain_text(INTERNAL)
    with _db(app_server) as db:
        assert db.execute("select count(*) from refund_attempts where refund_case_id=?", (refund_id,)).fetchone() == (0,)


def test_agent_settles_out_of_window_items_from_the_case(sign_in, app_server):
    customer = sign_in("alice@example.com")
    case_id = open_case(customer, "ORD-1001-3", "Teapot lid chipped, too late?")
    agent = sign_in("agent@example.com", timezone=KOLKATA)
    agent.goto(f"/cases/{case_id}")
    agent.locator("#record-settlement").click()
    agent.wait_for_url(re.compile(rf"/cases/{case_id}/settle$"))
    teapot = agent.locator("#line-L1")
    expect(teapot.locator(".window")).to_contain_text("window ended on")
    teapot.locator(".inc").click()
    expect(teapot.locator(".qty")).to_have_text("1")
    expect(agent.locator("#settle-hint")).to_contain_text("A replacement counts what the replaced items cost")
    agent.locator("#reason").select_option("damaged")
    agent.locator("#settle-type").select_option("replacement")
    agent.locator("#settle-amount").fill("0")
    agent.locator("#settle-message").fill("A replacement teapot is on its way, tracking 4711.")
    agent.locator("#settle-internal-note").fill(INTERNAL)
    expect(agent.locator("#submit-refund")).to_be_enabled()
    agent.locator("#submit-refund").click()
    expect(agent.locator("#error-settle_amount")).to_contain_text("Enter an amount above €0.00")
    agent.locator("#settle-amount").fill("38.09")  # one cent more than the teapot cost
    agent.locator("#submit-refund").click()
    expect(agent.locator("#error-settle_amount")).to_have_text("Enter at most €38.08: a replacement counts what the replaced items cost.")
    agent.locator("#settle-amount").fill("38.08")
    agent.locator("#submit-refund").click()
    agent.wait_for_url(re.compile(r"/refunds/\d+$"))
    expect(agent.locator("#refund-status")).to_have_text("Settled")
    expect(agent.locator("#refund-opened")).to_contain_text("Recorded")
    expect(agent.locator("#refund-opened")).to_contain_text("by Sam Rivera")
    expect(agent.locator("#window-verdict")).to_contain_text("requested 15 days after delivery — window ended on")
    expect_kolkata_times(agent.locator("#window-verdict"))  # the window's end in the agent's zone, like every other time
    refund_id = agent.url.rsplit("/", 1)[-1]
    customer.goto(f"/refunds/{refund_id}")
    expect(customer.locator("#refund-outcome")).to_have_text("Replacement of €38.08.")
    expect(customer.locator("#refund-opened")).to_contain_text("by Sam Rivera")
    expect(customer.locator("#support-message")).to_contain_text("tracking 4711")
    assert INTERNAL not in customer.content()
    with _db(app_server) as db:
        assert db.execute("select count(*) from refund_attempts where refund_case_id=?", (refund_id,)).fetchone() == (0,)


def test_a_gateway_answer_for_another_amount_is_put_in_front_of_an_agent(sign_in, app_server):
    """The sandbox gateway answers the approval with €1,000.00 for a €9.52 refund: the
    refund stays processing, its page alerts the agent with both figures, the queue
    shows it above everything else; the customer sees no change."""
    _, env = app_server
    faults = env["SUPPORT_PAYMENT_GATEWAY_URL"] + "/_faults"
    customer = sign_in("carol@example.com")
    case_id = open_case(customer, "ORD-1003-1", "Chai tin dented")
    refund_id = request_refund(customer, case_id, "L1", 1)
    agent = sign_in("agent@example.com")
    agent.goto(f"/refunds/{refund_id}")
    # €9.52 for the unit; plus shipping when earlier tests already hold Carol's other units.
    expect(agent.locator("#refund-amount")).to_have_text(re.compile(r"^€(9\.52|15\.41)$"))
    amount = agent.locator("#refund-amount").inner_text()
    httpx.post(faults, json={"mode": "mismatch", "answer_amount": 100000, "count": 1}, timeout=10).raise_for_status()
    try:
        agent.locator("#approve").click()
        agent.locator("#approve-confirm").click()
        alert = agent.locator("#mismatch-alert")
        expect(alert).to_contain_text(f"refunded €1,000.00 for this attempt of {amount}", timeout=20000)
        expect(alert).to_contain_text("will not be sent again")
        expect(alert).to_contain_text("What to do")
    finally:
        httpx.post(faults, json={"mode": "none"}, timeout=10).raise_for_status()
    expect(agent.locator("#refund-status")).to_have_text("Processing")
    expect(agent.locator(".attempt")).to_contain_text("mismatch")
    number = agent.locator("#refund-number").inner_text()
    agent.locator("#nav-refunds").click()
    agent.wait_for_url(re.compile(r"/refunds$"))
    expect(agent.locator("#refund-attention")).to_contain_text(number)
    customer.goto(f"/refunds/{refund_id}")
    expect(customer.locator("#refund-status")).to_have_text("Processing")
    expect(customer.locator("#mismatch-alert")).to_have_count(0)
    assert "1,000.00" not in customer.content()
    with _db(app_server) as db:
        assert db.execute("select status, reported_amount from refund_attempts where refund_case_id=?",
                          (refund_id,)).fetchall() == [("mismatch", 100000)]
        assert db.execute("select status from refund_cases where id=?", (refund_id,)).fetchone() == ("processing",)
