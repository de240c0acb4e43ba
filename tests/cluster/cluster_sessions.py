"""Sessions against the cluster: a sign-in through the real sign-in page (Playwright,
Chromium), and browser-less tabs speaking Reflex's websocket protocol
(bench/load_wire.py) that carry that sign-in's cookies, as new tabs of the same
browser would.

Why the tabs start from a UI sign-in instead of signing in over the socket: how the
sign-in is carried (a cookie the page's state writes, or an HttpOnly cookie set by a
form POST) is the sign-in page's business; a tab only needs the browser's cookies.
They go both ways a browser sends them: in the websocket handshake's Cookie header and,
for cookies the page's state owns (rx.Cookie), in the hydrate event. Tabs open one
after the other sharing one cookie jar, so a cookie rotated by one tab is the one the
next tab presents.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.load_wire import Outcome, Protocol, Tab, known_states, load_protocol

PASSWORD = "demo-pass-2026"
ROUTES = ["/refunds/[refund_id]", "/cases/[case_id]", "/cases/[case_id]/refund"]
APP_STATE = "support_app___state___base____app_state"
REFUND_STATE = APP_STATE + ".support_app___state___refund_page____refund_state"


def protocol(web: Path) -> Protocol:
    """What the frontend built in ``web`` sends; checks that the states used here exist in it."""
    proto = load_protocol(web, ROUTES)
    missing = {full(proto, REFUND_STATE)} - known_states(web)
    if missing:
        raise RuntimeError(f"states not in the compiled frontend: {missing}")
    return proto


def full(proto: Protocol, state: str) -> str:
    return f"{proto.root}.{state}"


class SocketTab(Tab):
    """A tab whose page load is its websocket alone (no document request): each page load
    is then one request to the balancer, so tabs opened one after the other alternate
    between the apps under round robin. Which app served a tab is read afterwards from
    the balancer's access log (the websocket's ?token=)."""

    async def _get_document(self, url: str) -> None:
        return None

    def outcome_of(self) -> Outcome:
        return self.outcome or Outcome()


def ui_sign_in(context, email: str, password: str = PASSWORD, page=None):
    """Sign in through the sign-in page only (#email, #password, #sign-in); the page, signed in."""
    page = page or context.new_page()
    page.goto("/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.locator("#sign-in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    return page


def cookie_jar(context) -> dict[str, str]:
    """The browser context's cookies (HttpOnly ones included), name -> value."""
    return {c["name"]: c["value"] for c in context.cookies()}


async def open_tabs(proto: Protocol, port: int, jar: dict[str, str], urls: list[str], timeout: float = 30.0,
                    before_each=None) -> list[SocketTab]:
    """One tab per url, opened one after the other from ``jar`` (``before_each(i)`` first)."""
    tabs: list[SocketTab] = []
    try:
        for i, url in enumerate(urls):
            tab = SocketTab(proto, "127.0.0.1", port, error_vars={}, timeout=timeout)
            tab.cookies = jar
            tabs.append(tab)
            if before_each is not None:
                before_each(i)
            await tab.full_load(url)
    except BaseException:
        await close_tabs(tabs)
        raise
    return tabs


async def open_refund_tabs(proto: Protocol, port: int, jar: dict[str, str], refund_ids: list[int],
                           timeout: float = 30.0, before_each=None) -> list[SocketTab]:
    """One agent tab per refund page; each must show its refund (so it is signed in on
    whichever app served it)."""
    tabs = await open_tabs(proto, port, jar, [f"/refunds/{rid}" for rid in refund_ids], timeout, before_each)
    for n, (tab, refund_id) in enumerate(zip(tabs, refund_ids)):
        shown = tab.var(full(proto, REFUND_STATE), "refund")
        if not shown or shown.get("id") != refund_id:
            await close_tabs(tabs)
            raise RuntimeError(f"tab {n} does not show refund {refund_id}: {shown!r:.200}")
    return tabs


def run_async(coro):
    """asyncio.run in a thread of its own: Playwright's sync API keeps an event loop
    running in the caller's thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def close_tabs(tabs: list[Tab]) -> None:
    await asyncio.gather(*(tab.close() for tab in tabs), return_exceptions=True)


async def approve(proto: Protocol, tab: SocketTab) -> Outcome:
    """The refund page's approve (what its confirm button sends); returns what the server said."""
    tab.outcome = Outcome()
    await tab.call((f"{full(proto, REFUND_STATE)}.approve", {}))
    outcome, tab.outcome = tab.outcome, None
    return outcome
