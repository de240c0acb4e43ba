"""User story 3 in a real browser: agents approve, reject or settle; money moves once."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from helpers import open_case, request_refund
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _db(app_server) -> sqlite3.Connection:
    return sqlite3.connect(app_server[1]["SUPPORT_DATABASE_URL"].removeprefix("sqlite:///"))


def test_agent_approves_and_customer_sees_refunded(sign_in, app_server):
    customer = sign_in("alice@example.com")
    case_id = open_case(customer, "ORD-1001-1", "Mugs cracked, want money back")
    refund_id = request_refund(customer, case_id, "L1", 2)
    expect(customer.locator("#refund-status")).to_have_text("Requested")

    agent = sign_in("agent@example.com")
    agent.locator("#nav-refunds").click()
    agent.wait_for_url(re.compile(r"/refunds$"))
    row = agent.locator(".refund-queue-row", has_text="Alice Martin").first
    expect(row).to_contain_text("€27.77")
    agent.goto(f"/refunds/{refund_id}")
    expect(agent.locator("#window-verdict")).to_contain_text("within window")
    agent.locator("#approve").click()
    agent.locator("#approve-confirm").click()
    expect(agent.locator("#refund-status")).to_have_text("Refunded", timeout=20000)
    expect(agent.locator(".attempt")).to_contain_text("succeeded")

    # The customer's open page turns Refunded by itself, with the amount and reference.
    expect(customer.locator("#refund-status")).to_have_text("Refunded", timeout=20000)
    expect(customer.locator("#refund-outcome")).to_contain_text("€27.77 was refunded")
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
    agent.locator("#reject-submit").click()
    expect(agent.locator("#error-reject_code")).to_be_visible()
    agent.locator("#reject_code").select_option("outside_policy")
    agent.locator("#reject_message").fill("Opened cutlery sets cannot be returned for hygiene reasons.")
    agent.locator("#reject-submit").click()
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


def test_settlement_for_an_out_of_window_complaint(sign_in, app_server):
    """Out-of-window items cannot be requested online; an agent settles on a request
    that was made in time, and the customer sees how."""
    customer = sign_in("alice@example.com")
    case_id = open_case(customer, "ORD-1001-2", "Kettle lid loose")
    refund_id = request_refund(customer, case_id, "L1", 1)
    agent = sign_in("agent@example.com")
    agent.goto(f"/refunds/{refund_id}")
    agent.locator("#settle_type").select_option("store_credit")
    agent.locator("#settle_amount").fill("20.00")
    agent.locator("#settle_note").fill("Store credit instead; customer agreed by phone.")
    agent.locator("#settle-submit").click()
    expect(agent.locator("#refund-status")).to_have_text("Settled")
    expect(customer.locator("#refund-outcome")).to_contain_text("Store credit of €20.00", timeout=20000)
    with _db(app_server) as db:
        assert db.execute("select count(*) from refund_attempts where refund_case_id=?", (refund_id,)).fetchone() == (0,)


def test_agent_settles_out_of_window_items_from_the_case(sign_in, app_server):
    customer = sign_in("alice@example.com")
    case_id = open_case(customer, "ORD-1001-3", "Teapot lid chipped, too late?")
    agent = sign_in("agent@example.com")
    agent.goto(f"/cases/{case_id}")
    agent.locator("#record-settlement").click()
    agent.wait_for_url(re.compile(rf"/cases/{case_id}/settle$"))
    teapot = agent.locator("#line-L1")
    expect(teapot.locator(".window")).to_contain_text("window ended on")
    teapot.locator(".inc").click()
    expect(teapot.locator(".qty")).to_have_text("1")
    agent.locator("#reason").select_option("damaged")
    agent.locator("#settle-type").select_option("replacement")
    agent.locator("#settle-amount").fill("0")
    agent.locator("#note").fill("Replacement teapot sent with tracking 4711.")
    expect(agent.locator("#submit-refund")).to_be_enabled()
    agent.locator("#submit-refund").click()
    agent.wait_for_url(re.compile(r"/refunds/\d+$"))
    expect(agent.locator("#refund-status")).to_have_text("Settled")
    refund_id = agent.url.rsplit("/", 1)[-1]
    customer.goto(f"/refunds/{refund_id}")
    expect(customer.locator("#refund-outcome")).to_contain_text("Replacement of €0.00")
    with _db(app_server) as db:
        assert db.execute("select count(*) from refund_attempts where refund_case_id=?", (refund_id,)).fetchone() == (0,)
