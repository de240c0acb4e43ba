"""Browser suite: the real app (reflex run --env prod) on a free port with its own
SQLite database and demo data, driven by Playwright in Debian's Chromium. The order
system and the gateway are the sandbox process (python -m support_app.sandbox) on
another free port with its own database, delivering webhooks to the app under test.

Set BROWSER_STATE_REDIS=1 to run the app with Reflex's Redis state manager
(REFLEX_REDIS_URL) and our Redis-backed rate limits and caches.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from fixtures_browser import ROOT, frontend_build_turn, launch_args, web_dir

# The app under test shares two cores with the browser and the test runner.
expect.set_options(timeout=15000)

DEMO_PASSWORD = "demo-pass-2026"
STARTUP_SECONDS = 300
WEBHOOK_SECRET = "whsec_browser_" + uuid.uuid4().hex


_HANDED_OUT: set[int] = set()


def _free_port() -> int:
    """A free port: any, or one of TEST_PORTS ("4800-4899") when a run must keep to its own range."""
    span = os.environ.get("TEST_PORTS", "")
    if not span:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    low, high = (int(part) for part in span.split("-"))
    for port in range(low, high + 1):
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port in TEST_PORTS={span}")


def _python(module: str) -> list[str]:
    """``python -m module``, under coverage when COVERAGE_APP=1 (saved when it exits on SIGINT)."""
    py = sys.executable
    if os.environ.get("COVERAGE_APP") == "1":
        return [py, "-m", "coverage", "run", "-p", "--rcfile", str(ROOT / "pyproject.toml"), "-m", module]
    return [py, "-m", module]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:  # it exited by itself (the start-up error is what gets reported)
        return
    os.killpg(proc.pid, 2)  # Ctrl-C: shuts down cleanly and coverage is saved
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory):
    """The sandbox process; yields (base_url, app_port): the app must listen on app_port,
    where the sandbox delivers its webhooks."""
    tmp = tmp_path_factory.mktemp("sandbox")
    port, app_port = _free_port(), _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp / "sandbox.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [*_python("support_app.sandbox"), "--port", str(port), "--db", str(tmp / "sandbox.db"),
             "--webhook-url", f"http://127.0.0.1:{app_port}/api/gateway/webhook"],
            cwd=ROOT, env={**os.environ, "SUPPORT_ENVIRONMENT": "test", "SUPPORT_GATEWAY_WEBHOOK_SECRET": WEBHOOK_SECRET},
            stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox not ready ({proc.poll()}):\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        yield base, app_port
    finally:
        _stop(proc)


def _wait_ready(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app exited early ({proc.returncode}):\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url + "/ping", timeout=2).status_code == 200 and httpx.get(url + "/login", timeout=5, follow_redirects=True).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"app not ready after {STARTUP_SECONDS}s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def app_server(tmp_path_factory, sandbox_server):
    """Start the app once per session; yields (base_url, env) and stops it after."""
    tmp = tmp_path_factory.mktemp("app")
    sandbox, port = sandbox_server
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        SUPPORT_ENVIRONMENT="test",
        SUPPORT_DATABASE_URL=f"sqlite:///{tmp / 'browser.db'}",
        SUPPORT_ORDER_SYSTEM_URL=f"{sandbox}/orders",
        SUPPORT_PAYMENT_GATEWAY_URL=f"{sandbox}/gateway",
        SUPPORT_GATEWAY_WEBHOOK_SECRET=WEBHOOK_SECRET,
        SUPPORT_ORDER_CACHE_SECONDS="0",
        # The stories open many cases as the same customers; the limit has its own service tests.
        SUPPORT_CASE_CREATE_MAX="1000",
    )
    redis_state = os.environ.get("BROWSER_STATE_REDIS") == "1"
    # Each pass compiles into its own directory, so that the two passes can run side by side.
    env["REFLEX_WEB_WORKDIR"] = str(web_dir("redis" if redis_state else "memory"))
    if redis_state:
        env["REFLEX_REDIS_URL"] = os.environ.get("TEST_REFLEX_REDIS_URL", "redis://127.0.0.1:6379/14")
        env["SUPPORT_REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
        # Rate-limit counters must not carry over from an earlier run into this one.
        env["SUPPORT_REDIS_PREFIX"] = f"browser-{uuid.uuid4().hex[:8]}:"
    else:
        env.pop("REFLEX_REDIS_URL", None)
        env.pop("SUPPORT_REDIS_URL", None)
    py = sys.executable
    subprocess.run([py, "-m", "support_app.cli", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    # The five demo accounts only: the walks need nothing else, and the 90-day history of `make run`
    # (tested in tests/test_demo_data.py) would cost its seconds and fill the queues the walks read.
    subprocess.run([py, "-m", "support_app.cli", "seed-demo", "--accounts-only"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    log = tmp / "app.log"
    env["TEST_APP_LOG"] = str(log)  # for tests that read what the server logged
    reflex = [str(Path(py).parent / "reflex")]
    if os.environ.get("COVERAGE_APP") == "1":  # measure the app's own process too
        reflex = [py, "-m", "coverage", "run", "-p", "--rcfile", str(ROOT / "pyproject.toml"), reflex[0]]
    with frontend_build_turn(), open(log, "w") as fh:
        proc = subprocess.Popen(
            [*reflex, "run", "--env", "prod", "--frontend-port", str(port), "--backend-port", str(port), "--loglevel", "warning"],
            cwd=ROOT,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:  # the next build waits until this app serves its own
            _wait_ready(base, proc, log)
        except BaseException:
            _stop(proc)
            raise
    try:
        yield base, env
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def base_url(app_server):
    return app_server[0]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return launch_args(browser_type_launch_args)


@pytest.fixture
def sign_in(browser, base_url):
    """sign_in(email) -> a signed-in Page in its own browser context (its own cookies)."""
    contexts = []

    def _sign_in(email: str, width: int = 1280, timezone: str | None = None):
        """``timezone``: the browser's IANA time zone (Chromium's own when None)."""
        ctx = browser.new_context(base_url=base_url, viewport={"width": width, "height": 900}, timezone_id=timezone)
        ctx.set_default_timeout(15000)
        contexts.append(ctx)
        page = ctx.new_page()
        page.goto("/login")
        page.locator("#email").fill(email)
        page.locator("#password").fill(DEMO_PASSWORD)
        page.locator("#sign-in").click()
        page.wait_for_url(lambda url: "/login" not in url)
        return page

    yield _sign_in
    for ctx in contexts:
        ctx.close()
