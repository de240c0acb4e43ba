"""One walk over every page, as a customer and as an agent, at a desk (1280 px) and a
phone (390 px): axe-core finds no serious or critical violation, a screenshot of each
page is saved (test-results/screenshots/<width>/), and on a phone nothing scrolls
sideways and every control is at least 44 px tall.

axe-core comes bundled in the PyPI package axe-playwright-python (no download at run time).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from helpers import case_with_refund

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
BLOCKING = {"serious", "critical"}
# Controls a thumb must hit; labels around check boxes count as their target. Toasts are left out
# (their close button is the toaster library's).
CONTROLS = ("button, select, textarea, .rt-TextFieldRoot, label:has(input[type=checkbox]), label:has(button[role=checkbox]), "
            "label.filters-toggle-label")
AXE = Axe()


def _pages(case_id: str, refund_id: str) -> dict[str, list[tuple[str, str]]]:
    """(name, path) per person, every page of the app each of them can open."""
    return {
        "customer": [
            ("orders", "/orders"),
            ("my-cases", "/cases"),
            ("new-case", "/cases/new?order=ORD-1002-2"),
            ("case", f"/cases/{case_id}"),
            ("refund-form", f"/cases/{case_id}/refund"),
            ("refund", f"/refunds/{refund_id}"),
            ("my-refunds", "/my/refunds"),
            ("404", "/no-such-page"),
        ],
        "agent": [
            ("workspace", f"/workspace?case={case_id}"),
            ("queue", "/queue"),
            ("refund-queue", "/refunds"),
            ("cases-overview", "/overview/cases"),
            ("refunds-overview", "/overview/refunds"),
            ("metrics", "/metrics"),
            ("case", f"/cases/{case_id}"),
            ("refund", f"/refunds/{refund_id}"),
            ("settle-form", f"/cases/{case_id}/settle"),
            ("404", "/no-such-page"),
        ],
    }


def _blocking(page: Page) -> list[str]:
    results = AXE.run(page)
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] in BLOCKING:
            targets = [", ".join(map(str, node["target"])) for node in violation["nodes"]][:5]
            found.append(f"{violation['impact']} {violation['id']}: {violation['help']} at {targets}")
    return found


def _small_controls(page: Page) -> list[str]:
    return page.evaluate(
        """selector => [...document.querySelectorAll(selector)]
            .filter(e => !e.closest('[data-sonner-toaster]') && e.offsetParent !== null && e.type !== 'hidden')
            .filter(e => !e.matches('button[role=checkbox]'))  // its label is the target
            .map(e => [e, e.getBoundingClientRect()])
            .filter(([e, box]) => box.height < 43.5 || (e.matches('button') && box.width < 43.5))
            .map(([e, box]) => `${e.outerHTML.slice(0, 100)} ${Math.round(box.width)}x${Math.round(box.height)}`)""",
        CONTROLS,
    )


def _check(page: Page, width: int, who: str, name: str, problems: list[str]) -> None:
    where = f"{who} {name} at {width}px"
    shot = SHOTS / str(width) / f"{who}-{name}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    problems += [f"{where}: {v}" for v in _blocking(page)]
    if width < 640:
        scroll = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if scroll[0] > scroll[1]:
            problems.append(f"{where}: scrolls sideways ({scroll[0]}px wide in {scroll[1]}px)")
        problems += [f"{where}: control under 44px: {c}" for c in _small_controls(page)]


def _ready(page: Page) -> None:
    expect(page.locator("#page-title")).to_be_visible()
    expect(page.locator("#page-skeleton")).to_have_count(0)
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_is_accessible_and_fits(width, sign_in, browser, base_url):
    problems: list[str] = []
    stranger = browser.new_context(base_url=base_url, viewport={"width": width, "height": 900})
    try:
        login = stranger.new_page()
        login.goto("/login")
        expect(login.locator("#sign-in")).to_be_visible()
        _check(login, width, "anyone", "login", problems)
        login.locator("#email").fill("nobody@example.com")
        login.locator("#password").fill("wrong password")
        login.locator("#sign-in").click()
        expect(login.locator("#login-error")).to_be_visible()
        _check(login, width, "anyone", "login-refused", problems)
    finally:
        stranger.close()

    people = {"customer": sign_in("bob@example.com", width=width), "agent": sign_in("agent@example.com", width=width)}
    case_id, refund_id = case_with_refund(people["customer"], "ORD-1002-2", "L2", f"Accessibility walk at {width}px")
    for who, pages in _pages(case_id, refund_id).items():
        page = people[who]
        for name, path in pages:
            page.goto(path)
            _ready(page)
            _check(page, width, who, name, problems)
        if width < 640:  # the phone menu, open
            page.locator("#nav-menu").click()
            expect(page.locator("#nav-menu-content")).to_be_visible()
            page.locator("#nav-menu-content").evaluate("e => Promise.all(e.getAnimations().map(a => a.finished))")
            _check(page, width, who, "menu", problems)
            page.keyboard.press("Escape")
    assert not problems, "\n".join(problems)
