"""Runs last in the browser suite: everything the app server logged during all the
walks above holds no password, token, cookie or customer email, and the app's own
lines are JSON with ids; security events were logged (a refused event is provoked here, so
the check holds whichever tests ran before); the server ran on uvloop."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from test_raw_events import CASE_STATE, carol_forging

pytestmark = pytest.mark.browser
SECRETS = ("demo-pass-2026", "eyJ", "sr_session=", "alice@example.com", "bob@example.com", "carol@example.com",
           "agent@example.com", "agent2@example.com")


def _refused_event_logged(browser, base_url, log: Path) -> None:
    """A signed-in customer's browser forges an event with an argument of the wrong kind:
    the guard refuses it, says so, and logs it as a security event."""
    ctx, page, forger = carol_forging(browser, base_url)
    forger.send(CASE_STATE + ".send_reply", {"form": [1, 2]}, "/orders")
    expect(page.get_by_text("could not be understood", exact=False).first).to_be_visible()
    ctx.close()
    deadline = time.monotonic() + 10
    while '"event_refused"' not in log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.2)


def test_the_server_log_of_every_walk_holds_no_secret_and_no_email(browser, base_url, app_server):
    log = Path(app_server[1]["TEST_APP_LOG"])
    _refused_event_logged(browser, base_url, log)
    text = log.read_text(errors="replace")
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} was logged"
    ours = [json.loads(line) for line in text.splitlines() if line.startswith('{"ts"')]
    assert ours, "the app logged nothing as JSON: the checks above would prove little"
    security = {line.get("security") for line in ours}
    assert {"sign_in_refused", "event_refused", "refund_decision"} <= security, security
    assert all("event_id" in line or "request_id" in line for line in ours if line.get("security") == "refund_decision")
    # The server that served the walks ran on uvloop (granian takes it when installed).
    assert {line.get("event_loop") for line in ours if "event_loop" in line} == {"uvloop"}
