"""Hostile input through raw websocket events, against the real server: every one gets
a message a person can read, nothing is stored, the tab stays usable, and the log
line about it is bounded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import expect

from helpers import open_case
from test_raw_events import CASE_STATE, NEW_CASE_STATE, REFUND_FORM, carol_forging

pytestmark = pytest.mark.browser
PROBLEM = "[data-sonner-toast]"


def _messages(app_server) -> int:
    path = app_server[1]["SUPPORT_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return db.execute("select count(*) from case_messages").fetchone()[0]


def test_bad_events_get_a_clear_answer_and_nothing_is_stored(browser, base_url, app_server):
    ctx, page, forger = carol_forging(browser, base_url)
    case_id = open_case(page, "ORD-1003-1", "Tin arrived open")
    path = f"/cases/{case_id}"
    before = _messages(app_server)
    toast = page.locator(PROBLEM).last
    long_name = CASE_STATE + "." + "x" * 100_000

    hostile = [
        (CASE_STATE + ".send_reply", {"form": {"body": "y" * 1_100_000}}, "too large"),
        (CASE_STATE + ".send_reply", {"form": "body=hello"}, "could not be understood"),
        (CASE_STATE + ".send_reply", {"form": {"body": "nul \x00 byte"}}, "cannot be saved"),
        (CASE_STATE + ".send_reply", {"form": {"body": "lone \ud800 surrogate"}}, "cannot be saved"),
        (CASE_STATE + ".send_reply", {"form": {"body": {"a": [1, 2]}}}, "need your attention"),
        (CASE_STATE + ".send_reply", {}, "could not be understood"),
        (NEW_CASE_STATE + ".submit", {"form": "subject=x"}, "could not be understood"),
        (NEW_CASE_STATE + ".submit", {"form": ["subject", "x"]}, "could not be understood"),
        (NEW_CASE_STATE + ".submit", {}, "could not be understood"),
        (REFUND_FORM + ".submit", {"form": "note=x"}, "could not be understood"),
        (REFUND_FORM + ".submit", {}, "could not be understood"),
        (CASE_STATE + "._caller", {}, "not available"),
        (CASE_STATE + ".no_such_handler", {}, "not available"),
        (long_name, {}, "could not be understood"),
    ]
    for name, payload, answer in hostile:
        seen = len(forger.received)
        forger.send(name, payload, path)
        for _ in range(100):  # the answer to this event (each arrives as a toast event frame)
            if any(answer in frame for frame in forger.received[seen:]):
                break
            page.wait_for_timeout(100)
        else:
            pytest.fail(f"no answer {answer!r} to {name[:80]}: {forger.received[seen:]}")
        expect(toast).to_contain_text(answer)  # and the person sees it

    # The tab still works, and none of the above reached the database.
    assert _messages(app_server) == before
    page.locator("#reply-text").fill("A real reply after all that.")
    page.locator("#send-reply").click()
    expect(page.locator(".reply").last).to_contain_text("A real reply after all that.")
    assert _messages(app_server) == before + 1

    log = Path(app_server[1]["TEST_APP_LOG"]).read_text(errors="replace")
    assert "x" * 200 not in log  # the 100,000-character name was not logged
    assert max(len(line) for line in log.splitlines()) < 5_000
    ctx.close()


def test_fields_state_their_limits_in_the_page(sign_in):
    page = sign_in("alice@example.com")
    case_id = open_case(page, "ORD-1001-2", "Kettle lid")
    page.goto(f"/cases/{case_id}")
    assert page.locator("#reply-text").get_attribute("maxlength") == "5000"
    page.locator("#reply-text").fill("z" * 6000)  # a paste longer than the limit is cut, not lost silently
    assert len(page.locator("#reply-text").input_value()) == 5000
