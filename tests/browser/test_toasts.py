"""Toasts: bottom-right, clear of the navigation, one at a time (a success replaces a
stale error; a double click leaves one toast)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from helpers import open_case

pytestmark = pytest.mark.browser
SHOWN = "[data-sonner-toast]:not([data-removed='true'])"


def _settled_toasts(page: Page) -> list[str]:
    page.wait_for_timeout(1500)  # a second answer would have arrived by now
    return page.locator(SHOWN).all_inner_texts()


def test_a_success_replaces_a_stale_error_bottom_right(sign_in):
    customer = sign_in("bob@example.com")
    case_id = open_case(customer, "ORD-1002-2", "Toasts: one at a time")
    customer.goto(f"/cases/{case_id}")
    customer.locator("#send-reply").click()  # nothing written: an error
    expect(customer.locator(SHOWN)).to_have_count(1)
    error_text = customer.locator(SHOWN).inner_text()
    toaster = customer.locator("[data-sonner-toaster]")
    expect(toaster).to_have_attribute("data-y-position", "bottom")
    expect(toaster).to_have_attribute("data-x-position", "right")
    header = customer.locator("#page-header").bounding_box()
    toast = customer.locator(SHOWN).bounding_box()
    assert toast["y"] > header["y"] + header["height"], "the toast covers the navigation"

    customer.locator("#reply-text").fill("The handles came off in the box.")
    customer.locator("#send-reply").click()
    expect(customer.locator(".message.reply")).to_have_count(1)
    shown = _settled_toasts(customer)
    assert len(shown) == 1 and "Reply sent" in shown[0] and error_text not in shown[0], shown


def test_a_double_click_shows_one_toast(sign_in):
    customer = sign_in("bob@example.com")
    case_id = open_case(customer, "ORD-1002-2", "Toasts: double click")
    agent = sign_in("agent@example.com")
    agent.goto(f"/cases/{case_id}")
    agent.locator("#assign-me").dblclick()
    expect(agent.locator("#case-assignee")).to_have_text("Assigned to Sam Rivera")
    shown = _settled_toasts(agent)
    assert len(shown) == 1, shown
