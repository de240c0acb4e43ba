"""Runs last in the browser suite: everything the app server logged during all the
walks above holds no password, token, cookie or customer email, and the app's own
lines are JSON with ids; security events were logged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
SECRETS = ("demo-pass-2026", "eyJ", "sr_session=", "alice@example.com", "bob@example.com", "carol@example.com",
           "agent@example.com", "agent2@example.com")


def test_the_server_log_of_every_walk_holds_no_secret_and_no_email(app_server):
    text = Path(app_server[1]["TEST_APP_LOG"]).read_text(errors="replace")
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} was logged"
    ours = [json.loads(line) for line in text.splitlines() if line.startswith('{"ts"')]
    assert ours, "the app logged nothing as JSON: the checks above would prove little"
    security = {line.get("security") for line in ours}
    assert {"sign_in_refused", "event_refused", "refund_decision"} <= security, security
    assert all("event_id" in line or "request_id" in line for line in ours if line.get("security") == "refund_decision")
