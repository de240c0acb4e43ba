"""User story 1 in a real browser: a customer opens a case on an order; an agent
works it; the customer sees replies and status live, never the internal note."""

from __future__ import annotations

import re
import sqlite3

import pytest
from helpers import KOLKATA, expect_kolkata_times, open_case
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

NOTE = "Internal: check the warehouse camera for parcel 7781"


def _record_frames(page: Page) -> list[str]:
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    return frames


def test_customer_and_agent_work_a_case(sign_in):
    customer = sign_in("alice@example.com")
    frames = _record_frames(customer)
    expect(customer.locator("#page-title")).to_have_text("My orders")
    expect(customer.locator(".order-card")).to_have_count(5)

    case_id = open_case(customer, "ORD-1001-1", "Cracked mugs")
    expect(customer.locator("#case-status")).to_have_text("Open")
    expect(customer.locator("#timeline")).to_contain_text("Opened the case")
    customer.locator("#nav-cases").click()
    expect(customer.locator(".case-row").first).to_contain_text("Cracked mugs")
    customer.locator(".case-row").first.click()
    customer.wait_for_url(re.compile(rf"/cases/{case_id}$"))

    agent = sign_in("agent@example.com", timezone=KOLKATA)
    agent.wait_for_url(re.compile(r"/workspace/?$"))  # an agent's home is the workspace; the queue page stays
    agent.locator("#nav-queue").click()
    expect(agent.locator("#page-title")).to_have_text("Case queue")
    expect_kolkata_times(agent.locator(".case-row").first)  # the list, in the agent's zone
    row = agent.locator(".case-row", has_text="Cracked mugs")
    expect(row).to_contain_text("Alice Martin")
    row.click()
    agent.wait_for_url(re.compile(rf"/cases/{case_id}$"))
    agent.locator("#assign-me").click()
    expect(agent.locator("#case-assignee")).to_have_text("Assigned to Sam Rivera")
    expect(agent.locator("#assigned-to-you")).to_be_visible()  # nothing left to take
    expect(agent.locator("#assign-me")).to_have_count(0)
    agent.locator("#status-in_progress").click()
    expect(agent.locator("#case-status")).to_have_text("In progress")
    agent.locator("#add-note").click()  # empty: the message is under the note box, not the reply box
    expect(agent.locator("#error-note_body")).to_be_visible()
    expect(agent.locator("#error-body")).to_have_count(0)
    agent.locator("#note-text").fill(NOTE)
    agent.locator("#add-note").click()
    expect(agent.locator(".internal-note")).to_contain_text(NOTE)
    agent.locator("#reply-text").fill("Sorry about that! Could you send a photo of the handles?")
    agent.locator("#send-reply").click()
    expect(agent.locator(".reply").last).to_contain_text("send a photo")
    agent.locator("#status-waiting_on_customer").click()
    expect(agent.locator("#case-status")).to_have_text("Waiting on customer")

    # The customer's open page catches up by itself.
    expect(customer.locator(".reply").last).to_contain_text("send a photo", timeout=15000)
    expect(customer.locator("#case-status")).to_have_text("Waiting on customer")
    expect(customer.locator("#case-assignee")).to_have_text("Assigned to Sam Rivera")
    expect(customer.locator("#conversation")).not_to_contain_text(NOTE)
    expect(customer.locator("#timeline")).not_to_contain_text("internal note")

    # Customer answers: the case goes back to the agents.
    customer.locator("#reply-text").fill("Photo attached to the email I sent.")
    customer.locator("#send-reply").click()
    expect(customer.locator("#case-status")).to_have_text("In progress")
    expect(agent.locator(".reply").last).to_contain_text("Photo attached", timeout=15000)
    expect(agent.locator("#case-status")).to_have_text("In progress")

    agent.locator("#status-resolved").click()
    expect(customer.locator("#case-status")).to_have_text("Resolved", timeout=15000)
    customer.locator("#status-closed").click()  # asks first: backing out leaves the case as it was
    expect(customer.get_by_role("alertdialog")).to_contain_text("Close this case?")
    customer.get_by_role("button", name="Keep it open").click()
    expect(customer.get_by_role("alertdialog")).to_have_count(0)
    expect(customer.locator("#case-status")).to_have_text("Resolved")
    customer.locator("#status-closed").click()
    customer.locator("#status-closed-confirm").click()
    expect(customer.locator("#case-status")).to_have_text("Closed")
    expect(customer.locator("#case-closed")).to_be_visible()
    timeline = customer.locator("#timeline")
    for text in ("Opened the case", "Assigned the case to Sam Rivera", "from Open to In progress", "to Waiting on customer", "from Resolved to Closed"):
        expect(timeline).to_contain_text(text)
    expect(agent.locator("#timeline")).to_contain_text("Added an internal note", timeout=15000)
    # Every time on the agent's page (opened, conversation, history) is in the agent's zone, named.
    expect_kolkata_times(agent.locator("#case-summary"))
    expect_kolkata_times(agent.locator("#conversation"), at_least=3)
    expect_kolkata_times(agent.locator("#timeline"), at_least=8)

    # Not even the websocket ever carried the note to the customer's browser.
    assert frames, "no websocket frames were recorded"
    assert not any(NOTE in f for f in frames)
    assert not any("Added an internal note" in f for f in frames)


def test_customer_cannot_see_another_customers_case(sign_in):
    bob = sign_in("bob@example.com")
    bob_case = open_case(bob, "ORD-1002-1", "Spoon set scratched")
    alice = sign_in("alice@example.com")
    alice.goto(f"/cases/{bob_case}")
    expect(alice.locator("#case-error")).to_have_text("That case was not found.")
    expect(alice.locator("body")).not_to_contain_text("Spoon set scratched")
    # An order id of another customer in the URL is refused the same way.
    alice.goto("/cases/new?order=ORD-1002-1")
    expect(alice.locator("#order-error")).to_contain_text("not found among your orders")
    expect(alice.locator("#submit-case")).to_have_count(0)


def test_strangers_are_sent_to_sign_in_and_bad_password_is_refused(browser, base_url):
    ctx = browser.new_context(base_url=base_url)
    page = ctx.new_page()
    page.goto("/queue")
    page.wait_for_url(re.compile(r"/login/?\?next=%2Fqueue$"))  # brought back there after signing in
    page.locator("#email").fill("alice@example.com")
    page.locator("#password").fill("wrong-password")
    page.locator("#sign-in").click()
    expect(page.locator("#login-error")).to_have_text("That email and password do not match an account.")
    page.locator("#email").fill("nobody@example.com")
    page.locator("#sign-in").click()
    expect(page.locator("#login-error")).to_have_text("That email and password do not match an account.")
    ctx.close()


def test_sign_out_ends_the_session(sign_in):
    page = sign_in("carol@example.com")
    page.locator("#sign-out").click()
    page.wait_for_url(re.compile(r"/login/?$"))
    assert not [c for c in page.context.cookies() if c["name"] == "sr_session"]
    page.goto("/orders")
    page.wait_for_url(re.compile(r"/login/?\?next=%2Forders$"))


def test_customer_is_kept_out_of_the_agent_queue(sign_in):
    page = sign_in("carol@example.com")
    page.goto("/queue")
    page.wait_for_url(re.compile(r"/orders/?$"))
    expect(page.locator("#page-title")).to_have_text("My orders")


def test_phone_width_layout(sign_in):
    page = sign_in("carol@example.com", width=390)
    expect(page.locator(".order-card")).to_have_count(1)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page scrolls sideways on a phone: {width}px"


def test_a_closed_case_reopens_within_the_period_and_says_when_it_has_passed(sign_in, app_server):
    customer = sign_in("carol@example.com", timezone=KOLKATA)
    case_id = open_case(customer, "ORD-1003-1", "Tins dented, closed too soon")
    agent = sign_in("agent2@example.com")
    agent.goto(f"/cases/{case_id}")
    for target, label in (("in_progress", "In progress"), ("resolved", "Resolved")):
        agent.locator(f"#status-{target}").click()
        expect(agent.locator("#case-status")).to_have_text(label)
    # An agent's way back from resolved is "Move to In progress", not a second button.
    expect(agent.locator("#status-in_progress")).to_be_visible()
    expect(agent.locator("#reopen-case")).to_have_count(0)

    expect(customer.locator("#case-status")).to_have_text("Resolved", timeout=15000)
    customer.locator("#status-closed").click()
    expect(customer.get_by_role("alertdialog")).to_contain_text("You can reopen it within 14 days")
    customer.locator("#status-closed-confirm").click()
    expect(customer.locator("#case-status")).to_have_text("Closed")
    expect(customer.locator("#reopen-until")).to_contain_text("possible until")
    expect_kolkata_times(customer.locator("#reopen-until"))
    customer.locator("#reopen-case").click()
    expect(customer.locator("#case-status")).to_have_text("In progress")
    expect(customer.locator("#timeline")).to_contain_text("Carol")
    expect(customer.locator("#timeline")).to_contain_text("Reopened the case (Closed to In progress)")
    expect(customer.locator("#reopen-case")).to_have_count(0)
    expect(customer.locator("#reply-text")).to_be_visible()  # she can write again
    expect(agent.locator("#case-status")).to_have_text("In progress", timeout=15000)

    # Closed again, long ago: the button is gone and the page says why and what to do.
    agent.locator("#status-resolved").click()
    expect(customer.locator("#case-status")).to_have_text("Resolved", timeout=15000)
    customer.locator("#status-closed").click()
    customer.locator("#status-closed-confirm").click()
    expect(customer.locator("#case-status")).to_have_text("Closed")
    expect(agent.locator("#reopen-case")).to_be_visible(timeout=15000)  # a closed case: agents reopen it like the customer
    path = app_server[1]["SUPPORT_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute("update support_cases set closed_at = datetime(closed_at, '-14 days', '-1 minute') where id=?", (case_id,))
    customer.reload()
    expect(customer.locator("#reopen-ended")).to_have_text(
        "A case can be reopened for 14 days after it was closed; that time has passed. Please open a new case about the order.")
    expect(customer.locator("#reopen-case")).to_have_count(0)


def test_a_long_conversation_opens_on_its_newest_messages(sign_in):
    """Twenty messages show whole; the next one folds the oldest behind "Show 1 earlier
    message" (and the history behind its own), for the customer, on the agent's case
    page and in the workspace; asking for all shows all, and keeps showing all as the
    conversation goes on live."""
    customer = sign_in("carol@example.com")
    case_id = open_case(customer, "ORD-1003-1", "A long back and forth")
    for n in range(1, 21):
        customer.locator("#reply-text").fill(f"Long thread message {n:02d}")
        customer.locator("#send-reply").click()
        expect(customer.locator(".message").last).to_contain_text(f"Long thread message {n:02d}")
        expect(customer.locator("#reply-text")).to_have_value("")  # sent: the box is empty again before the next
    expect(customer.locator(".message")).to_have_count(20)
    expect(customer.locator("#show-earlier-messages")).to_have_count(0)  # exactly twenty: nothing folded
    customer.locator("#reply-text").fill("Long thread message 21")
    customer.locator("#send-reply").click()
    expect(customer.locator("#show-earlier-messages")).to_have_text("Show 1 earlier message")
    expect(customer.locator(".message")).to_have_count(20)
    expect(customer.locator("#conversation")).not_to_contain_text("message 01")
    expect(customer.locator("#show-earlier-history")).to_have_text("Show 2 earlier entries")  # opened + 21 replies

    agent = sign_in("agent2@example.com")
    agent.goto(f"/cases/{case_id}")
    expect(agent.locator("#show-earlier-messages")).to_have_text("Show 1 earlier message")
    agent.locator("#show-earlier-messages").click()
    expect(agent.locator(".message")).to_have_count(21)
    expect(agent.locator(".message").first).to_contain_text("Long thread message 01")
    expect(agent.locator("#show-earlier-messages")).to_have_count(0)
    expect(agent.locator("#timeline")).not_to_contain_text("Opened the case")
    agent.locator("#show-earlier-history").click()
    expect(agent.locator("#timeline")).to_contain_text("Opened the case")

    customer.locator("#reply-text").fill("Long thread message 22")
    customer.locator("#send-reply").click()
    expect(agent.locator(".message").last).to_contain_text("Long thread message 22")  # live, and still all of it
    expect(agent.locator(".message")).to_have_count(22)
    expect(customer.locator("#show-earlier-messages")).to_have_text("Show 2 earlier messages")

    agent.goto(f"/workspace?case={case_id}&status=any")
    expect(agent.locator("#ws-case-subject")).to_have_text("A long back and forth")
    expect(agent.locator("#show-earlier-messages")).to_have_text("Show 2 earlier messages")
    agent.locator("#show-earlier-messages").click()
    expect(agent.locator("#conversation .message")).to_have_count(22)
    expect(agent.locator("#conversation .message").first).to_contain_text("Long thread message 01")
