"""Steps shared by the browser tests."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


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
