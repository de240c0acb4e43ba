"""The production topology, for real: a fresh PostgreSQL database migrated by two
runners at once, Redis, the sandbox, ONE frontend build, TWO app processes
(`cli serve`, two Reflex workers each, no embedded worker), ONE worker process, and
Debian's nginx from deploy/nginx.conf.template as the only entry point (round robin,
no sticky sessions). Everything below goes through nginx.

Which app served what is read from nginx's access log ($upstream_addr per request; a
websocket's line, written when it closes, carries its Reflex client token). Where a
test needs a given app, it steers round robin (cluster_balancer.py) and still checks
the log. Browser pages sign in only through the sign-in page (#email, #password,
#sign-in); browser-less tabs (bench/load_wire.py) carry a browser's cookies after such
a sign-in. The tests run in file order; the last one kills processes.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections import Counter

import httpx
import pytest
import redis
from playwright.sync_api import Page, expect
from sqlmodel import func, select

from bench.load_wire import Outcome
from cluster_balancer import Balancer, SocketWatch, load_on
from cluster_data import UNIT, payment_of
from cluster_sessions import (
    APP_STATE, approve, close_tabs, cookie_jar, full, open_refund_tabs, open_tabs, protocol, run_async, ui_sign_in,
)
from cluster_stack import PASSWORD, REDIS_URL, Access, Stack
from support_app.db import session_scope
from support_app.models import RefundAttempt, RefundCase, RefundEvent
from tests.browser.helpers import open_case, request_refund

pytestmark = pytest.mark.cluster

HUNG = 90.0  # seconds: a guard against hanging, never a performance claim
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


# -- helpers ---------------------------------------------------------------------------


def new_context(browser, stack: Stack, tag: str, **kw):
    """A browser context whose requests the access log tells apart (its user agent ends in cluster/<tag>)."""
    ctx = browser.new_context(base_url=stack.url, user_agent=f"{UA} cluster/{tag}", viewport={"width": 1280, "height": 900},
                              **kw)
    ctx.set_default_timeout(20000)
    return ctx


def tagged(stack: Stack, tag: str) -> list[Access]:
    return [a for a in stack.accesses() if a.ua.endswith(f" cluster/{tag}")]


def sockets_of(stack: Stack, token: str) -> list[Access]:
    return [a for a in stack.accesses() if a.is_socket and a.token == token]


def token_of(page: Page) -> str:
    return page.evaluate("() => window.sessionStorage.getItem('token')")


def wait_until(predicate, what: str, timeout: float = HUNG, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)
    return value


def leave(stack: Stack, page: Page) -> Access:
    """Close the page's websocket (about:blank); its line in the access log."""
    token = token_of(page)
    before = len(sockets_of(stack, token))
    page.goto("about:blank")
    return wait_until(lambda: sockets_of(stack, token)[before:], "the closed websocket in the access log")[-1]


def apps(stack: Stack) -> set[str]:
    return {a.address for a in stack.app.values()}


def refund_row(engine, refund_id: int) -> RefundCase:
    with session_scope(engine) as s:
        return s.get(RefundCase, refund_id)


def attempts_of(engine, refund_id: int) -> list[RefundAttempt]:
    with session_scope(engine) as s:
        return list(s.exec(select(RefundAttempt).where(RefundAttempt.refund_case_id == refund_id)))


def refunded(engine, refund_ids: list[int]) -> bool:
    return all(refund_row(engine, rid).status == "refunded" for rid in refund_ids)


def gateway(stack: Stack, path: str, **params) -> httpx.Response:
    return httpx.get(f"{stack.sandbox}/gateway{path}", params=params, timeout=10)


def assert_ledger_equals_database(stack: Stack, engine, payment: str, refund_ids: list[int]) -> None:
    """Each refund: refunded, one attempt, and the gateway's record for that attempt's key
    has the refund's reference, amount and currency; the payment shows exactly these."""
    for rid in refund_ids:
        refund, attempts = refund_row(engine, rid), attempts_of(engine, rid)
        assert refund.status == "refunded", (rid, refund.status)
        assert [a.status for a in attempts] == ["succeeded"], (rid, attempts)
        found = gateway(stack, "/refunds", idempotency_key=attempts[0].idempotency_key)
        assert found.status_code == 200, found.text
        record = found.json()
        assert (record["id"], record["status"], record["amount"], record["currency"], record["payment_reference"]) == (
            refund.gateway_reference, "succeeded", refund.amount, refund.currency, payment)
        assert attempts[0].gateway_reference == refund.gateway_reference
    money = gateway(stack, f"/payments/{payment}").json()
    assert (money["refund_count"], money["refunded"]) == (
        len(refund_ids), sum(refund_row(engine, rid).amount for rid in refund_ids))


# -- the stack itself --------------------------------------------------------------------


def test_migrations_ran_from_two_processes_one_after_the_other(stack, db):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from support_app.settings import ROOT

    assert [code for code, _ in stack.migrations] == [0, 0]
    assert all("another migration holds the lock; waiting" in err for _, err in stack.migrations)
    upgraded = [err for _, err in stack.migrations if "Running upgrade" in err]
    assert len(upgraded) == 1  # the second runner found the schema at head
    head = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_current_head()
    with db.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [(head,)]


# -- (a) the walk ----------------------------------------------------------------------


def test_customer_requests_a_refund_and_an_agent_approves_it_through_the_balancer(browser, stack, db):
    customer_ctx = new_context(browser, stack, "a-customer")
    agent_ctx = new_context(browser, stack, "a-agent")
    try:
        customer = ui_sign_in(customer_ctx, "alice@example.com")
        case_id = open_case(customer, "ORD-1001-1", "Cluster: mugs cracked")
        refund_id = int(request_refund(customer, case_id, "L1", 1))
        expect(customer.locator("#refund-status")).to_have_text("Requested")

        agent = ui_sign_in(agent_ctx, "agent@example.com")
        agent.goto(f"/refunds/{refund_id}")
        expect(agent.locator("#window-verdict")).to_contain_text("within window")
        agent.locator("#approve").click()
        agent.locator("#approve-confirm").click()
        expect(agent.locator("#refund-status")).to_have_text("Refunded", timeout=30000)
        expect(agent.locator(".attempt")).to_contain_text("succeeded")
        # The customer's open page turns Refunded by itself, whichever app holds its socket.
        expect(customer.locator("#refund-status")).to_have_text("Refunded", timeout=30000)
        expect(customer.locator("#refund-outcome")).to_contain_text("was refunded")
    finally:
        customer_ctx.close()
        agent_ctx.close()
    assert_ledger_equals_database(stack, db, "PAY-1001-1", [refund_id])
    served = Counter(a.upstream for a in tagged(stack, "a-customer") + tagged(stack, "a-agent") if a.upstream)
    assert set(served) == apps(stack), served  # the walk went through both apps


# -- (b) 50 approvals at once ------------------------------------------------------------


def test_fifty_concurrent_approvals_over_both_apps_make_one_gateway_refund(browser, stack, db, customer):
    [refund_id] = customer.requested_refunds(db, "ORD-CLUSTER-B", 1)
    ctx = new_context(browser, stack, "b-agent")
    try:
        ui_sign_in(ctx, "agent@example.com")
        jar = cookie_jar(ctx)
    finally:
        ctx.close()  # its cookies now belong to the 50 tabs below
    proto, balancer = protocol(stack.web), Balancer(stack)

    async def fifty():
        tabs = await open_refund_tabs(proto, stack.nginx_port, jar, [refund_id] * 50,
                                      before_each=lambda i: balancer.steer(balancer.apps[i % 2]))
        try:
            return tabs, await asyncio.gather(*(approve(proto, tab) for tab in tabs))
        finally:
            await close_tabs(tabs)

    tabs, outcomes = run_async(fifty())

    # Every approval was answered: one went through, 49 were told the refund had moved on.
    assert sum(1 for o in outcomes if not o.errors) == 1, [o.errors for o in outcomes]
    assert all(len(o.errors) == 1 for o in outcomes if o.errors)
    # Both apps received approvals (the websocket of each tab, from the balancer's log).
    wait_until(lambda: len({a.token for a in stack.accesses() if a.is_socket} & {t.token for t in tabs}) == 50,
               "the 50 closed websockets in the access log")
    by_token = {a.token: a.upstream for a in stack.accesses() if a.is_socket}
    per_app = Counter(by_token[t.token] for t in tabs)
    assert per_app == Counter({app: 25 for app in apps(stack)}), per_app

    wait_until(lambda: refunded(db, [refund_id]), "the approved refund refunded")
    assert_ledger_equals_database(stack, db, payment_of("ORD-CLUSTER-B"), [refund_id])
    with session_scope(db) as s:
        to_processing = s.exec(select(func.count()).select_from(RefundEvent).where(
            RefundEvent.refund_case_id == refund_id, RefundEvent.to_status == "processing")).one()
    assert to_processing == 1


# -- (d) one failure budget, whichever app counts -------------------------------------------


def attempt_sign_in(page: Page, email: str, password: str, load: bool = True) -> None:
    if load:
        page.goto("/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.locator("#sign-in").click()


def sign_in_carriers(stack: Stack, tag: str, sockets: list[Access]) -> list[Access]:
    """What carried the sign-in attempts of context ``tag``: its form posts to the sign-in
    route when the page posts one, else ``sockets``, the sign-in pages' websockets."""
    posts = [a for a in tagged(stack, tag) if a.request.startswith("POST /api/auth/")]
    return posts or sockets


def test_failed_sign_ins_spread_over_both_apps_share_one_budget(browser, stack):
    budget = int(stack.settings["SUPPORT_LOGIN_MAX_FAILURES"])
    balancer = Balancer(stack)
    ctx = new_context(browser, stack, "d")
    sockets = []
    try:
        page = ctx.new_page()
        watch = SocketWatch(page)
        for n in range(budget):  # failures, taken by the two apps in turn
            app = balancer.apps[n % 2]
            load_on(page, watch, balancer, "/login", app)
            balancer.steer(app)  # a form post would be the next request
            attempt_sign_in(page, "carol@example.com", f"not-her-password-{n}", load=False)
            expect(page.locator("#login-error")).to_contain_text("do not match")
            sockets.append(leave(stack, page))
        # The right password, now: refused, whichever app the balancer picks.
        attempt_sign_in(page, "carol@example.com", PASSWORD)
        expect(page.locator("#login-error")).to_contain_text("Too many")
        expect(page).to_have_url(re.compile(r"/login"))
        sockets.append(leave(stack, page))
    finally:
        ctx.close()
    carriers = sign_in_carriers(stack, "d", sockets)
    assert len(carriers) == budget + 1, carriers
    assert [a.upstream for a in carriers[:budget]] == [balancer.apps[n % 2] for n in range(budget)], carriers


# -- X-Forwarded-For: one trusted hop --------------------------------------------------------


def client_counter(stack: Stack, address: str) -> int:
    """The per-client sign-in counter of ``address`` in Redis (keys hold a digest of it)."""
    digest = hashlib.sha256(address.encode()).hexdigest()[:32]
    with redis.Redis.from_url(REDIS_URL, decode_responses=True) as r:
        keys = [k for k in r.scan_iter(f"{stack.redis_prefix}rl:*client:{digest}")]
        return sum(int(r.get(k) or 0) for k in keys)


def keys_naming(stack: Stack, address: str) -> list[str]:
    digest = hashlib.sha256(address.encode()).hexdigest()[:32]
    with redis.Redis.from_url(REDIS_URL, decode_responses=True) as r:
        return [k for k in r.scan_iter(f"{stack.redis_prefix}*{digest}*")]


def test_a_forged_x_forwarded_for_is_counted_against_the_real_address(browser, stack):
    """nginx appends the address it saw; with one trusted hop the app takes that last
    entry, so sign-in failures sent with forged headers count against 127.0.0.1."""
    forged = ["203.0.113.7", "198.51.100.23", "192.0.2.99"]
    before = client_counter(stack, "127.0.0.1")
    for n, address in enumerate(forged):
        ctx = new_context(browser, stack, f"xff-{n}", extra_http_headers={"X-Forwarded-For": address})
        try:
            attempt_sign_in(page := ctx.new_page(), "nobody@example.com", "guessing-123")
            expect(page.locator("#login-error")).to_contain_text("do not match")
            socket = leave(stack, page)
        finally:
            ctx.close()
        [carrier] = sign_in_carriers(stack, f"xff-{n}", [socket])
        assert carrier.xff == address  # the forged header did reach the balancer with the attempt
    assert client_counter(stack, "127.0.0.1") == before + len(forged)
    for address in forged:
        assert keys_naming(stack, address) == [], address


# -- (e) a sign-in and a sign-out, seen by both apps --------------------------------------------


def test_a_sign_in_works_on_both_apps_and_a_sign_out_is_seen_by_both(browser, stack):
    balancer, proto = Balancer(stack), protocol(stack.web)
    ctx = new_context(browser, stack, "e")

    def signed_in(page: Page) -> None:
        expect(page).to_have_url(re.compile(r"/orders/?$"))
        expect(page.locator("#nav-user")).to_have_text("Bob Chen")

    def signed_out(page: Page) -> None:
        expect(page).to_have_url(re.compile(r"/login"))
        expect(page.locator("#sign-in")).to_be_visible()

    try:
        first = ctx.new_page()
        watch = SocketWatch(first)
        ui_sign_in(ctx, "bob@example.com", page=first)
        # The same tab, reloaded until each app has served it: signed in on both.
        for app in balancer.apps:
            load_on(first, watch, balancer, "/orders", app, check=signed_in)
        token = token_of(first)
        leave(stack, first)
        served = [a.upstream for a in sockets_of(stack, token)]
        assert set(served) == apps(stack), served  # the access log agrees

        # More tabs of this sign-in: two in the browser, two browser-less (one request each).
        old_pages = [ctx.new_page() for _ in range(2)]
        watches = [SocketWatch(page) for page in old_pages]
        for page in old_pages:
            page.goto("/orders")
            signed_in(page)
        old_tabs = run_async(_tabs_then_close(proto, stack, cookie_jar(ctx)))
        assert [tab.var(full(proto, APP_STATE), "user_name") for tab in old_tabs] == ["Bob Chen"] * 2

        first.goto("/orders")
        first.locator("#sign-out").click()
        signed_out(first)

        # Every old tab is sent to sign in, on whichever app serves it...
        for page, page_watch in zip(old_pages, watches):
            before = len(page_watch.upstreams)
            page.reload()
            signed_out(page)
            page_watch.next_socket(before)
        # ...the browser-less ones on each app in turn, chosen (a tab is one request).
        redirects = run_async(_reopen(proto, old_tabs, lambda i: balancer.steer(balancer.apps[i])))
        assert all(any(path.startswith("/login") for path in r) for r in redirects), redirects
        after = [wait_until(lambda: sockets_of(stack, tab.token)[1:], "the reopened tab's line")[-1].upstream
                 for tab in old_tabs]
        assert after == balancer.apps, after
    finally:
        ctx.close()


async def _tabs_then_close(proto, stack: Stack, jar: dict[str, str]):
    tabs = await open_tabs(proto, stack.nginx_port, jar, ["/orders", "/orders"])
    await close_tabs(tabs)
    return tabs


async def _reopen(proto, tabs, before_each) -> list[list[str]]:
    """Each tab loaded again (its token, its state on the server); the redirects it got."""
    out = []
    for i, tab in enumerate(tabs):
        before_each(i)
        tab.outcome = Outcome()
        await tab.full_load("/orders")
        out.append(tab.outcome.redirects)
        await tab.close()
    return out


# -- (c) kill -9 between the approval's commit and the gateway's answer --------------------------


def test_killed_app_and_worker_mid_approval_are_taken_over_one_refund_each(browser, stack, db, customer):
    mid_call, while_dead = customer.requested_refunds(db, "ORD-CLUSTER-C", 2)
    ctx = new_context(browser, stack, "c-agent")
    try:
        ui_sign_in(ctx, "agent2@example.com")
        jar = cookie_jar(ctx)
    finally:
        ctx.close()
    proto = protocol(stack.web)
    creates = lambda: gateway(stack, "/_faults").json()["create_requests"]  # noqa: E731
    httpx.post(f"{stack.sandbox}/gateway/_faults", json={"mode": "latency", "latency_ms": 1500}, timeout=10).raise_for_status()
    sent_before = creates()

    async def approve_one(refund_id: int) -> str:
        """Approve on a tab of its own; returns the tab's token once the approval committed."""
        [tab] = await open_refund_tabs(proto, stack.nginx_port, jar, [refund_id])
        try:
            outcome = await approve(proto, tab)
        finally:
            await close_tabs([tab])
        assert outcome.errors == [], outcome.errors
        return tab.token

    # 1. Approved; the worker claims the attempt and is inside the gateway call (1.5 s).
    token = run_async(approve_one(mid_call))
    wait_until(lambda: creates() > sent_before, "the worker's call reaching the gateway", every=0.01)
    [attempt] = attempts_of(db, mid_call)
    assert (attempt.status, attempt.tries, attempt.claimed_by is not None) == ("pending", 1, True)
    stack.worker.kill()
    [handled_by] = [a.upstream for a in wait_until(lambda: sockets_of(stack, token), "the approving tab's log line")]
    victim = next(app for app in stack.app.values() if app.address == handled_by)
    victim.service.kill()

    # 2. Approved while no worker runs (through the app that is left).
    run_async(approve_one(while_dead))
    [waiting] = attempts_of(db, while_dead)
    assert (waiting.status, waiting.claimed_by, waiting.sends) == ("pending", None, 0)
    assert refund_row(db, mid_call).status == "processing"

    # 3. A new worker and the app again; the dead worker's claim runs out and is taken over.
    httpx.post(f"{stack.sandbox}/gateway/_faults", json={"mode": "none"}, timeout=10).raise_for_status()
    stack.worker = stack.start_worker()
    victim.service.start()
    stack.wait_ready(victim)
    wait_until(lambda: refunded(db, [while_dead]), "the attempt nobody had sent")
    wait_until(lambda: refunded(db, [mid_call]), "the taken-over attempt", timeout=HUNG)
    [taken_over] = attempts_of(db, mid_call)
    assert taken_over.tries == 2 and taken_over.claimed_by is None

    assert_ledger_equals_database(stack, db, payment_of("ORD-CLUSTER-C"), [mid_call, while_dead])
    with session_scope(db) as s:
        open_attempts = s.exec(select(func.count()).select_from(RefundAttempt).where(
            RefundAttempt.status.in_(("pending", "unknown")))).one()  # type: ignore[attr-defined]
        succeeded = s.exec(select(func.count()).select_from(RefundAttempt).where(RefundAttempt.status == "succeeded")).one()
    assert open_attempts == 0
    # Every refund the gateway holds is one the database holds, and the other way round.
    assert gateway(stack, "/health").json()["refunds_committed"] == succeeded
    assert refund_row(db, mid_call).amount == refund_row(db, while_dead).amount == UNIT
    # Both apps serve again behind the balancer.
    for app in stack.app.values():
        assert httpx.get(f"{app.url}/api/health/ready", timeout=10).status_code == 200
