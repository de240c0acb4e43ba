"""Sessions in a real browser: the HttpOnly cookie, deep links through sign-in, tabs
opening together, sign-out emptying every tab, cross-site posts, throttling, and CSV
links that work once for their own sign-in."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from helpers import open_case

pytestmark = pytest.mark.browser
PW = "demo-pass-2026"


def _session_cookie(context) -> dict:
    return next(c for c in context.cookies() if c["name"] == "sr_session")


def test_the_sign_in_cookie_is_httponly_strict_and_secure(sign_in):
    page = sign_in("alice@example.com")
    cookie = _session_cookie(page.context)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["secure"]
    assert "sr_session" not in page.evaluate("document.cookie")  # no script on the page can read it


def test_a_deep_link_survives_signing_in(browser, base_url, sign_in):
    alice = sign_in("alice@example.com")
    case_id = open_case(alice, "ORD-1001-1", "Deep link through sign-in")
    ctx = browser.new_context(base_url=base_url)
    page = ctx.new_page()
    page.goto(f"/cases/{case_id}")
    page.wait_for_url(re.compile(rf"/login/?\?next=%2Fcases%2F{case_id}$"))
    page.locator("#email").fill("alice@example.com")
    page.locator("#password").fill(PW)
    page.locator("#sign-in").click()
    page.wait_for_url(re.compile(rf"/cases/{case_id}$"))
    expect(page.locator("#case-subject")).to_have_text("Deep link through sign-in")
    ctx.close()


def test_tabs_opened_at_once_stay_signed_in(sign_in):
    page = sign_in("bob@example.com")
    page.evaluate("window.open('/cases'); window.open('/orders'); window.open('/cases')")
    for _ in range(100):  # the browser opens them in its own time (over 500 ms on a busy machine)
        tabs = [p for p in page.context.pages if p is not page]
        if len(tabs) == 3:
            break
        page.wait_for_timeout(100)
    assert len(tabs) == 3
    for tab in tabs:
        expect(tab.locator("#page-title")).to_have_text(re.compile("My cases|My orders"))
        expect(tab.locator("#nav-user")).to_have_text("Bob Chen")
    page.goto("/orders")  # the first tab, and the sign-in, are still fine
    expect(page.locator("#page-title")).to_have_text("My orders")


def test_signing_out_empties_every_tab_of_the_sign_in(sign_in):
    agent = sign_in("agent@example.com")
    secret = f"internal note {uuid.uuid4().hex[:8]}"
    customer = sign_in("carol@example.com")
    case_id = open_case(customer, "ORD-1003-1", "Tin lid is bent")
    agent.goto(f"/cases/{case_id}")
    agent.locator("#note-text").fill(secret)
    agent.locator("#add-note").click()
    expect(agent.locator(".internal-note")).to_contain_text(secret)

    frames: list[str] = []
    agent.route_web_socket(re.compile(r".*/_event.*"), lambda ws: _record(ws, frames))
    other_tab = agent.context.new_page()
    other_tab.goto("/queue")
    other_tab.locator("#sign-out").click()
    other_tab.wait_for_url(re.compile(r"/login/?$"))

    agent.reload()  # the hydrate of the first tab would send whatever its state still held
    agent.wait_for_url(re.compile(r"/login"))
    agent.wait_for_timeout(1000)
    assert frames, "the reloaded tab received nothing: the check below would prove nothing"
    assert not [f for f in frames if secret in f or "Tin lid is bent" in f]


def _record(ws, frames: list[str]) -> None:
    server = ws.connect_to_server()
    server.on_message(lambda m: (frames.append(str(m)), ws.send(m)))


def _hold_links(ws, links: list[str]) -> None:
    server = ws.connect_to_server()

    def relay(message) -> None:
        found = re.search(r"/api/export/cases\.csv\?[^\"\\]+", str(message))
        if found:
            links.append(found.group(0))
        else:
            ws.send(message)

    server.on_message(relay)


def test_sign_in_and_out_refuse_other_sites_and_keep_next_on_this_site(base_url):
    host = base_url.removeprefix("http://")
    with httpx.Client(base_url=base_url, follow_redirects=False) as http:
        form = {"email": "alice@example.com", "password": PW}
        evil = http.post("/api/auth/login", data=form, headers={"Origin": "https://evil.example"})
        assert evil.status_code == 403 and "sr_session" not in evil.headers.get("set-cookie", "")
        assert http.post("/api/auth/logout", headers={"Origin": "https://evil.example"}).status_code == 403
        for next_path, landing in (("/cases", "/cases"), ("//evil.example/x", "/orders"),
                                   ("https://evil.example", "/orders"), ("/api/export/cases.csv", "/orders")):
            answer = http.post("/api/auth/login", data={**form, "next": next_path}, headers={"Origin": f"http://{host}"})
            assert answer.status_code == 303 and answer.headers["location"] == landing, next_path


def test_failed_sign_ins_are_slowed_down_with_a_clear_wait(browser, base_url):
    email = f"ghost-{uuid.uuid4().hex[:6]}@example.com"
    ctx = browser.new_context(base_url=base_url)
    page = ctx.new_page()
    page.goto("/login")
    for _ in range(5):
        page.locator("#email").fill(email)
        page.locator("#password").fill("wrong-password")
        page.locator("#sign-in").click()
        expect(page.locator("#login-error")).to_have_text("That email and password do not match an account.")
    expect(page.locator("#email")).to_have_value(email)  # kept for the next try
    page.locator("#password").fill("wrong-password")
    page.locator("#sign-in").click()
    expect(page.locator("#login-error")).to_contain_text("Too many failed sign-in attempts. Please wait")
    ctx.close()


def test_a_csv_link_works_once_and_only_for_its_own_sign_in(sign_in, base_url):
    agent = sign_in("agent@example.com")
    agent.goto("/overview/cases")
    with agent.expect_download() as first:
        agent.locator("#export-csv").click()
    url = first.value.url
    assert first.value.path().read_text(encoding="utf-8").startswith("\ufeffCase,")  # BOM, human headers
    cookie = {"sr_session": _session_cookie(agent.context)["value"]}
    with httpx.Client(base_url=base_url, cookies=cookie) as http:
        again = http.get(url)
        assert again.status_code == 403 and "already used" in again.json()["message"]
    links: list[str] = []  # the next link is taken out of the server's answer, so the page never uses it
    agent.route_web_socket(re.compile(r".*/_event.*"), lambda ws: _hold_links(ws, links))
    agent.reload()
    expect(agent.locator("#export-csv")).to_be_visible()
    agent.locator("#export-csv").click()
    for _ in range(50):
        if links:
            break
        agent.wait_for_timeout(200)
    fresh = links[0]
    with httpx.Client(base_url=base_url) as http:
        assert http.get(fresh).status_code == 403  # no cookie: a copied link is useless
    agent.locator("#sign-out").click()
    agent.wait_for_url(re.compile(r"/login/?$"))
    with httpx.Client(base_url=base_url, cookies=cookie) as http:
        assert http.get(fresh).status_code == 403  # dead with its sign-in
