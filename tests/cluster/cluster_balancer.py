"""Knowing, and choosing, which app the balancer gives a request or a websocket to.

nginx runs one worker process with plain round robin over two apps, so the request after
one that went to app X goes to the other app. A probe (GET /ping) answered with the
harness's X-Cluster-Upstream header tells where the rotation stands; ``steer(app)``
probes until the next request is the app's. That steers a single request, such as a
browser-less tab's websocket. A browser page load is many requests (its document and
assets, then the websocket), so a page is instead reloaded until its websocket is the
app's (``load_on``); Chromium reports the 101's headers through the DevTools protocol.
The access log stays the record every assertion is checked against.
"""

from __future__ import annotations

import time

import httpx

from cluster_stack import UPSTREAM_HEADER, Stack

TRIES = 24  # page loads before giving up on reaching an app: a guard, never a measure


class Balancer:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    @property
    def apps(self) -> list[str]:
        return [app.address for app in self.stack.app.values()]

    def other(self, address: str) -> str:
        [other] = [a for a in self.apps if a != address]
        return other

    def probe(self) -> str:
        """One request through the balancer; the app that answered it."""
        response = httpx.get(f"{self.stack.url}/ping", headers={"User-Agent": "cluster-probe"}, timeout=10)
        response.raise_for_status()
        return response.headers[UPSTREAM_HEADER]

    def steer(self, address: str) -> None:
        """Make ``address`` take the balancer's next request."""
        for _ in range(4):
            if self.probe() != address:
                return
        raise AssertionError(f"round robin did not alternate away from {address}")


class SocketWatch:
    """The apps that served a page's websockets, in order, from their handshake answers."""

    def __init__(self, page) -> None:
        self.page = page
        self.upstreams: list[str] = []
        cdp = page.context.new_cdp_session(page)
        cdp.on("Network.webSocketHandshakeResponseReceived", self._answered)
        cdp.send("Network.enable")

    def _answered(self, event: dict) -> None:
        headers = {k.lower(): v for k, v in event["response"]["headers"].items()}
        if upstream := headers.get(UPSTREAM_HEADER.lower()):
            self.upstreams.append(upstream)

    def next_socket(self, before: int, timeout: float = 30) -> str:
        """The app of the first websocket opened after ``before`` were seen."""
        deadline = time.monotonic() + timeout
        while len(self.upstreams) <= before:
            if time.monotonic() > deadline:
                raise AssertionError(f"no websocket opened by {self.page.url}")
            self.page.wait_for_timeout(25)  # lets Playwright deliver the DevTools events
        return self.upstreams[before]


def load_on(page, watch: SocketWatch, balancer: Balancer, url: str, address: str, check=None) -> int:
    """Load ``url`` in ``page`` until its websocket is served by ``address``; ``check(page)``
    after every load (each load is a real visit, wherever it lands). Returns the loads made.

    A load is a fixed number of requests more often than not, so when one lands where the
    previous one did, a probe before the next shifts the rotation by one."""
    nudge, last = False, None
    for n in range(1, TRIES + 1):
        if nudge:
            balancer.probe()
        before = len(watch.upstreams)
        page.goto(url)
        got = watch.next_socket(before)
        if check is not None:
            check(page)
        if got == address:
            return n
        if got == last:
            nudge = not nudge
        last = got
    raise AssertionError(f"{url}: {TRIES} loads, none served by {address}: {watch.upstreams}")
