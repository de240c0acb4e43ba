"""The page shell on a phone and a desk: one-line header with a menu under 640 px,
touch targets of at least 44 px, filters folded away on a phone."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from helpers import open_case, request_refund

pytestmark = pytest.mark.browser
PHONE = 390


def test_phone_header_is_one_line_with_the_roles_menu(sign_in):
    agent = sign_in("agent@example.com", width=PHONE)
    expect(agent.locator("#page-title")).to_have_text("Workspace")
    header = agent.locator("#page-header").bounding_box()
    assert header["height"] <= 72, f"the header wraps on a phone: {header['height']}px"
    expect(agent.locator("#nav-queue")).to_be_hidden()
    menu = agent.locator("#nav-menu")
    box = menu.bounding_box()
    assert box["width"] >= 44 and box["height"] >= 44, box
    menu.click()
    content = agent.locator("#nav-menu-content")
    expect(content).to_be_visible()
    content.evaluate("e => Promise.all(e.getAnimations({subtree: true}).map(a => a.finished))")  # sizes after the zoom-in
    expect(agent.locator("#menu-user")).to_have_text("Sam Rivera")
    expect(content.get_by_role("menuitem")).to_have_text(
        ["Workspace", "Case queue", "Refund queue", "Cases", "Refunds", "Metrics", "Sign out"])
    for item in content.get_by_role("menuitem").all():
        assert item.bounding_box()["height"] >= 44
    agent.locator("#menu-nav-refunds").click()
    agent.wait_for_url(re.compile(r"/refunds/?$"))
    expect(agent.locator("#page-title")).to_have_text("Refund queue")

    customer = sign_in("bob@example.com", width=PHONE)
    customer.locator("#nav-menu").click()
    expect(customer.locator("#nav-menu-content").get_by_role("menuitem")).to_have_text(
        ["My orders", "My cases", "My refunds", "Sign out"])
    customer.locator("#menu-sign-out").click()
    customer.wait_for_url(re.compile(r"/login"))
    customer.goto("/orders")
    customer.wait_for_url(re.compile(r"/login"))  # signed out, not just sent to another page


def test_desktop_header_shows_the_links_and_no_menu(sign_in):
    agent = sign_in("agent@example.com")
    expect(agent.locator("#nav-queue")).to_be_visible()
    expect(agent.locator("#nav-metrics")).to_be_visible()
    expect(agent.locator("#nav-menu")).to_be_hidden()
    expect(agent.locator("#nav-orders")).to_have_count(0)


def test_refund_steppers_are_touch_sized_on_a_phone(sign_in):
    customer = sign_in("bob@example.com", width=PHONE)
    case_id = open_case(customer, "ORD-1002-1", "Shell: steppers")
    customer.goto(f"/cases/{case_id}/refund")
    row = customer.locator("#line-L1")
    for stepper in (row.locator(".inc"), row.locator(".dec")):
        box = stepper.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44, box
    row.locator(".inc").click()
    expect(row.locator(".qty")).to_have_text("1")
    for control in customer.locator("main button:visible, main select:visible").all():
        box = control.bounding_box()
        assert box["height"] >= 44, (control.evaluate("e => e.outerHTML.slice(0, 120)"), box)


def test_overview_filters_fold_away_on_a_phone(sign_in):
    agent = sign_in("agent@example.com", width=PHONE)
    agent.goto("/overview/cases")
    expect(agent.locator("#page-title")).to_have_text("Support cases")
    filters = agent.locator("#overview-filters")
    expect(filters).to_be_hidden()
    toggle = agent.locator("label[for=overview-filters-toggle]")
    assert toggle.bounding_box()["height"] >= 44
    toggle.click()
    expect(filters).to_be_visible()
    expect(agent.locator("#apply-filters")).to_be_visible()
    for box in agent.locator("#overview-filters label.touch-target").all():
        assert box.bounding_box()["height"] >= 44
    toggle.click()
    expect(filters).to_be_hidden()

    desk = sign_in("agent@example.com")
    desk.goto("/overview/cases")
    expect(desk.locator("#overview-filters")).to_be_visible()
    expect(desk.locator("label[for=overview-filters-toggle]")).to_be_hidden()


def _held(page: Page) -> Page:
    """Another tab of the same sign-in whose websocket never reaches the server: it
    shows what a full page load shows before the first answer, for as long as we look."""
    held = page.context.new_page()
    held.route_web_socket(re.compile(r"/_event"), lambda ws: None)
    return held


def test_a_full_page_load_shows_skeletons_and_no_role_links_before_the_role_is_known(sign_in):
    customer = sign_in("bob@example.com")
    case_id = open_case(customer, "ORD-1002-2", "Shell: skeletons")
    refund_id = request_refund(customer, case_id, "L2", 1)
    agent = sign_in("agent@example.com")
    pages = {
        customer: ["/orders", "/cases", "/cases/new?order=ORD-1002-2", f"/cases/{case_id}", f"/cases/{case_id}/refund",
                   f"/refunds/{refund_id}", "/overview/refunds"],
        agent: ["/queue", "/refunds", "/overview/cases", "/overview/refunds", "/metrics", f"/cases/{case_id}",
                f"/refunds/{refund_id}"],
    }
    for person, paths in pages.items():
        held = _held(person)
        for path in paths:
            held.goto(path)
            expect(held.locator("#page-title")).to_be_visible()
            expect(held.locator("#page-skeleton")).to_be_visible()
            expect(held.locator("#page-header a[id^='nav-'], #sign-out, #nav-menu")).to_have_count(0)
        held.close()
        for path in paths:  # connected: the data replaces the placeholders, the role's links appear
            person.goto(path)
            expect(person.locator("#page-skeleton")).to_have_count(0)
            expect(person.locator("#page-header a[id^='nav-']").first).to_be_visible()
    expect(agent.locator("#nav-orders")).to_have_count(0)


def test_an_unknown_address_is_a_404_page_in_the_shell_with_a_way_home(sign_in, browser, base_url):
    answer = httpx.get(base_url + "/no-such-page")
    assert answer.status_code == 404  # the page itself is drawn in the browser
    icon = httpx.get(base_url + "/favicon.ico")
    assert icon.status_code == 200 and icon.content[:4] == b"\x00\x00\x01\x00", (icon.status_code, icon.content[:8])

    agent = sign_in("agent@example.com")
    agent.goto("/no-such-page/deeper")
    expect(agent.locator("#page-title")).to_have_text("Page not found")
    expect(agent.locator("#nav-queue")).to_be_visible()
    agent.locator("#go-home").click()
    agent.wait_for_url(re.compile(r"/workspace/?$"))

    stranger = browser.new_context(base_url=base_url)
    try:
        page = stranger.new_page()
        page.goto("/no-such-page")
        expect(page.locator("#page-title")).to_have_text("Page not found")
        expect(page.locator("#go-home")).to_be_visible()
        page.wait_for_timeout(1000)  # its load has answered: still here, with no links
        assert "/no-such-page" in page.url
        expect(page.locator("#page-header a[id^='nav-']")).to_have_count(0)
    finally:
        stranger.close()
