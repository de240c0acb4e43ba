"""User story 2 in a real browser: a customer asks for a refund of specific items."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from helpers import KOLKATA, expect_kolkata_times, open_case
from playwright.sync_api import expect

from support_app.integrations.order_data import OrderData, OrderLineData

pytestmark = pytest.mark.browser


def test_customer_refunds_two_of_three_mugs(sign_in):
    page = sign_in("alice@example.com")
    case_id = open_case(page, "ORD-1001-1", "Two mugs cracked")
    page.locator("#request-refund").click()
    page.wait_for_url(re.compile(rf"/cases/{case_id}/refund$"))
    mugs = page.locator("#line-L1")
    expect(mugs).to_contain_text("Bought 3")
    expect(mugs.locator(".refundable-now")).to_contain_text("3")
    expect(mugs.locator(".window")).to_contain_text("Refundable until")
    expect(mugs.locator(".window")).to_contain_text(re.compile(r"until \d{4}-\d{2}-\d{2} \d{2}:\d{2} \S+$"))  # zone named
    expect(page.locator("#refund-total")).to_have_text("€0.00")
    expect(page.locator("#submit-refund")).to_be_disabled()
    expect(page.locator("#submit-hint")).to_have_text("Choose at least one item.")  # the button says why it waits
    expect(mugs.locator(".dec")).to_be_disabled()

    for expected in ("1", "2", "3"):
        mugs.locator(".inc").click()
        expect(mugs.locator(".qty")).to_have_text(expected)
    expect(mugs.locator(".inc")).to_be_disabled()  # the stepper stops at what is refundable
    mugs.locator(".dec").click()
    expect(mugs.locator(".qty")).to_have_text("2")
    # 3 × €12.00 − €1.00 discount + €6.65 tax = €41.65 for the line; two units: €13.89 + €13.88.
    expect(page.locator("#refund-total")).to_have_text("€27.77")
    expect(page.locator("#submit-refund")).to_be_disabled()  # no reason yet
    expect(page.locator("#submit-hint")).to_have_text("Choose a reason.")
    expect(page.locator("#reason option[value=not_received]")).to_have_text("Never arrived (though marked delivered)")
    page.locator("#reason").select_option("damaged")
    page.locator("#note").fill("Handles snapped off in transit.")
    expect(page.locator("#submit-refund")).to_be_enabled()
    expect(page.locator("#submit-hint")).to_have_count(0)
    page.locator("#submit-refund").click()

    page.wait_for_url(re.compile(r"/refunds/\d+$"))
    expect(page.locator("#refund-number")).to_have_text(re.compile(r"RF-\d{6}"))
    expect(page.locator("#refund-status")).to_have_text("Requested")
    expect(page.locator("#refund-amount")).to_have_text("€27.77")
    expect(page.get_by_text("Note: Handles snapped off in transit.")).to_be_visible()  # the form's note went with it
    expect(page.locator(".refund-item")).to_contain_text("2 × Blue ceramic mug")
    expect(page.locator("#timeline")).to_contain_text("Requested the refund")
    number = page.locator("#refund-number").inner_text()

    # The support case's timeline shows the request, and the refund is listed there.
    page.locator("#refund-case-link").click()
    page.wait_for_url(re.compile(rf"/cases/{case_id}$"))
    expect(page.locator("#timeline")).to_contain_text(f"Requested refund {number} · €27.77")
    expect(page.locator("#case-refunds")).to_contain_text(number)

    # Only one mug is left to ask for now.
    page.locator("#request-refund").click()
    expect(page.locator("#line-L1 .refundable-now")).to_contain_text("1")
    expect(page.locator("#line-L1")).to_contain_text("Already requested or refunded 2")

    # An agent can open it, read-only.
    agent = sign_in("agent@example.com")
    agent.goto(f"/cases/{case_id}")
    agent.locator(".refund-row").first.click()
    expect(agent.locator("#refund-amount")).to_have_text("€27.77")
    expect(agent.locator("#cancel-refund")).to_have_count(0)

    # The customer withdraws it; the mugs are refundable again.
    page.go_back()
    page.locator(".refund-row", has_text=number).click()
    page.locator("#cancel-refund").click()
    page.locator("#confirm-cancel").click()
    expect(page.locator("#refund-status")).to_have_text("Cancelled")
    expect(page.locator("#cancel-refund")).to_have_count(0)
    expect(agent.locator("#refund-status")).to_have_text("Cancelled", timeout=15000)
    page.goto(f"/cases/{case_id}/refund")
    expect(page.locator("#line-L1 .refundable-now")).to_contain_text("3")


def test_out_of_window_and_undelivered_lines_cannot_be_chosen(sign_in):
    page = sign_in("alice@example.com", timezone=KOLKATA)
    old = open_case(page, "ORD-1001-3", "Teapot lid chipped")
    page.goto(f"/cases/{old}/refund")
    teapot = page.locator("#line-L1")
    expect(teapot.locator(".window")).to_contain_text("window ended on")
    expect_kolkata_times(teapot.locator(".window"))  # in her zone, named; not UTC
    expect_kolkata_times(page.locator("#blocked-why"))
    expect(teapot.locator(".refundable-now")).to_contain_text("0")
    expect(teapot.locator(".inc")).to_be_disabled()
    # Not a dead form: why nothing can be asked for, and what to do instead.
    expect(page.locator("#submit-refund")).to_have_count(0)
    expect(page.locator("#blocked-why")).to_contain_text(re.compile(r"14-day refund window for this order ended on \d{4}-\d{2}-\d{2}"))
    expect(page.locator("#blocked-help")).to_contain_text("reply to the agent on the case")
    page.locator("#back-to-case").click()
    page.wait_for_url(re.compile(rf"/cases/{old}$"))

    pending = open_case(page, "ORD-1001-4", "Grinder not here yet")
    page.goto(f"/cases/{pending}/refund")
    expect(page.locator("#line-L1 .window")).to_contain_text("not delivered yet")
    expect(page.locator("#line-L1 .inc")).to_be_disabled()
    expect(page.locator("#blocked-why")).to_contain_text("not been delivered yet")
    expect(page.locator("#reason")).to_have_count(0)  # no "Never arrived" to pick on a form that cannot be sent
    expect(page.locator("#back-to-case")).to_have_attribute("href", f"/cases/{pending}")


def test_an_order_delivered_after_the_case_was_opened_becomes_refundable(sign_in, app_server):
    """Bob opens a case while his new order is still on its way; when the order system
    reports it delivered, the refund form (and the request) take the new facts."""
    _, env = app_server
    admin = env["SUPPORT_ORDER_SYSTEM_URL"] + "/_admin/orders"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    order_id = f"ORD-1002-R{uuid.uuid4().hex[:6].upper()}"
    line = OrderLineData("L1", "LAMP-DESK", "Desk lamp", 1, 3900, 0, 741)

    def report(delivered_at):
        order = OrderData(order_id, "C-1002", now - timedelta(days=4), delivered_at,
                          "delivered" if delivered_at else "shipped", "EUR", (line,), 0, 0, 4641, f"PAY-{order_id}")
        httpx.post(admin, json=[order.to_json()], timeout=10).raise_for_status()

    report(None)
    page = sign_in("bob@example.com")
    case_id = open_case(page, order_id, "Lamp arrives broken?")
    page.goto(f"/cases/{case_id}/refund")
    expect(page.locator("#line-L1 .window")).to_contain_text("not delivered yet")
    expect(page.locator("#line-L1 .inc")).to_be_disabled()

    report(now - timedelta(hours=2))  # the courier delivered it
    page.goto(f"/cases/{case_id}/refund")
    lamp = page.locator("#line-L1")
    expect(lamp.locator(".window")).to_contain_text("Refundable until")
    lamp.locator(".inc").click()
    expect(lamp.locator(".qty")).to_have_text("1")
    page.locator("#reason").select_option("damaged")
    expect(page.locator("#refund-total")).to_have_text("€46.41")
    page.locator("#submit-refund").click()
    page.wait_for_url(re.compile(r"/refunds/\d+$"))
    expect(page.locator("#refund-status")).to_have_text("Requested")
    expect(page.locator("#refund-amount")).to_have_text("€46.41")
    # Nothing left on the lamp: no "Refundable until", and the form says why.
    page.goto(f"/cases/{case_id}/refund")
    expect(page.locator("#blocked-why")).to_have_text("Every item of this order is already in a refund request, refunded or settled.")
    expect(page.locator("#line-L1 .refundable-now")).to_contain_text("0")
    expect(page.locator("#line-L1 .window")).to_have_count(0)
