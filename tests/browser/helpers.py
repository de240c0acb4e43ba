"""Steps shared by the browser tests."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import Locator, Page, expect

# A zone with no daylight saving time, so its name never depends on the date.
KOLKATA = "Asia/Kolkata"


def expect_kolkata_times(where: Locator, at_least: int = 1) -> None:
    """Every time shown in ``where`` reads as the browser's zone (Asia/Kolkata) reads the
    UTC instant behind it, with the zone named: "2026-11-05 19:30 GMT+5:30"."""
    times = where.locator("time.local-time")
    expect(times.first).to_be_visible()
    assert times.count() >= at_least
    for n in range(times.count()):
        instant = datetime.fromisoformat(times.nth(n).get_attribute("datetime").replace("Z", "+00:00"))
        local = instant.astimezone(ZoneInfo(KOLKATA))
        text = times.nth(n).inner_text()
        assert text.endswith(" GMT+5:30"), (text, instant)
        assert text.removesuffix(" GMT+5:30") in (f"{local:%Y-%m-%d %H:%M}", f"{local:%Y-%m-%d %H:%M:%S}", f"{local:%H:%M:%S}"), (
            text, instant)


def open_case(page: Page, order_id: str, subject: str) -> str:
    page.goto("/orders")
    page.locator(f"#open-case-{order_id}").click()
    page.wait_for_url(re.compile(r"/cases/new\?order="))
    expect(page.locator("#case-order")).to_contain_text(order_id)
    # Nothing filled in: field messages, no case.
    page.locator("#submit-case").click()
    expect(page.locator("#error-subject")).to_be_visible()
    expect(page.locator("#error-category")).to_be_visible()
    page.locator("#category").select_option("damaged_item")
    page.locator("#subject").fill(subject)
    page.locator("#description").fill("Two of the three mugs arrived with cracked handles.")
    page.locator("#submit-case").click()
    page.wait_for_url(re.compile(r"/cases/\d+$"))
    expect(page.locator("#case-number")).to_have_text(re.compile(r"SC-\d{6}"))
    return page.url.rsplit("/", 1)[-1]


def request_refund(page: Page, case_id: str, line: str, quantity: int, reason: str = "damaged") -> str:
    """From the case page's refund form; returns the new refund's id."""
    page.goto(f"/cases/{case_id}/refund")
    row = page.locator(f"#line-{line}")
    for n in range(1, quantity + 1):
        row.locator(".inc").click()
        expect(row.locator(".qty")).to_have_text(str(n))
    page.locator("#reason").select_option(reason)
    expect(page.locator("#submit-refund")).to_be_enabled()
    page.locator("#submit-refund").click()
    page.wait_for_url(re.compile(r"/refunds/\d+$"))
    return page.url.rsplit("/", 1)[-1]


def case_with_refund(page: Page, order_id: str, line: str, subject: str) -> tuple[str, str]:
    """A new case on the order with a refund requested for one unit of ``line``: (case id, refund id)."""
    case_id = open_case(page, order_id, subject)
    return case_id, request_refund(page, case_id, line, 1)
