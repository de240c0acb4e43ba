"""An agent's day in the workspace (/workspace), in a real browser at 1280 px: pick
cases by click and by j/k, reply with Ctrl+Enter, a note via n, approve a refund from
the sidebar (the confirm names the amount), resolve with e, a customer's new case
appears without a reload, and a link names the selection."""

from __future__ import annotations

import re
import uuid

import pytest
from helpers import open_case, request_refund
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def _selected(page: Page) -> str:
    return page.locator(".ws-selected").get_attribute("id").removeprefix("ws-row-")


def _row_ids(page: Page) -> list[str]:
    return [i.removeprefix("ws-row-") for i in page.locator(".ws-row").evaluate_all("rows => rows.map(r => r.id)")]


def _off_fields(page: Page) -> None:
    """Keys only act when no field has the focus."""
    page.evaluate("document.activeElement && document.activeElement.blur()")


def test_an_agents_day_in_the_workspace(sign_in):
    tag = uuid.uuid4().hex[:6]
    alice = sign_in("alice@example.com")
    mugs = open_case(alice, "ORD-1001-1", f"WS {tag} cracked mugs")
    refund = request_refund(alice, mugs, "L1", 1)
    bob = sign_in("bob@example.com")
    teapot = open_case(bob, "ORD-1002-1", f"WS {tag} teapot lid")
    spoons = request_refund(bob, teapot, "L2", 1)

    agent = sign_in("agent@example.com")
    agent.wait_for_url(re.compile(r"/workspace/?$"))  # the agents' home
    expect(agent.locator("#nav-workspace")).to_be_visible()
    queue = agent.locator("#ws-queue")
    expect(queue).to_contain_text(f"WS {tag} cracked mugs")
    expect(queue).to_contain_text(f"WS {tag} teapot lid")
    expect(agent.locator(f"#ws-row-{mugs} .ws-unread")).to_have_count(1)  # never opened by this agent
    box = agent.locator("#ws-queue-pane").bounding_box()
    side = agent.locator("#ws-sidebar").bounding_box()
    assert box["x"] < side["x"] and abs(box["y"] - side["y"]) < 5, "three panes side by side at 1280 px"

    # Pick by click: the URL names it, the mark goes.
    agent.locator(f"#ws-row-{mugs}").click()
    expect(agent.locator("#ws-case-subject")).to_have_text(f"WS {tag} cracked mugs")
    agent.wait_for_url(re.compile(rf"/workspace\?case={mugs}"))
    expect(agent.locator(f"#ws-row-{mugs} .ws-unread")).to_have_count(0)
    expect(agent.locator("#ws-customer-name")).to_have_text("Alice Martin")
    expect(agent.locator("#ws-case-priority")).to_have_text("Normal")  # the priority's name, not its code
    expect(agent.locator(f"#ws-row-{mugs}")).to_contain_text("Normal")
    expect(agent.locator("#ws-line-L1")).to_contain_text("refundable now")
    expect(agent.locator("#ws-line-L1")).to_contain_text("until")

    # j / k: next and previous in the queue's order.
    ids = _row_ids(agent)
    at = ids.index(mugs)
    step, back = ("j", "k") if at + 1 < len(ids) else ("k", "j")
    neighbour = ids[at + 1] if step == "j" else ids[at - 1]
    _off_fields(agent)
    agent.keyboard.press(step)
    expect(agent.locator(f"#ws-row-{neighbour}")).to_have_class(re.compile("ws-selected"))
    agent.wait_for_url(re.compile(rf"case={neighbour}"))
    agent.keyboard.press(back)
    expect(agent.locator(f"#ws-row-{mugs}")).to_have_class(re.compile("ws-selected"))
    expect(agent.locator("#ws-case-subject")).to_have_text(f"WS {tag} cracked mugs")

    # r: a reply, sent with Ctrl+Enter; typing j in the field moves nothing.
    _off_fields(agent)
    agent.keyboard.press("r")
    expect(agent.locator("#ws-draft")).to_be_focused()
    agent.keyboard.type("Sorry about the mug — just a moment.")
    assert _selected(agent) == mugs
    agent.keyboard.press("Control+Enter")
    expect(agent.locator("#conversation .reply").last).to_contain_text("just a moment")
    expect(agent.locator("#ws-draft")).to_have_value("")
    # The customer's case page shows the reply live.
    alice.goto(f"/cases/{mugs}")
    expect(alice.locator(".reply").last).to_contain_text("just a moment")

    # n: an internal note through the same composer.
    _off_fields(agent)
    agent.keyboard.press("n")
    expect(agent.locator("#ws-draft")).to_be_focused()
    agent.keyboard.type(f"Warehouse check {tag}")
    agent.keyboard.press("Control+Enter")
    expect(agent.locator("#conversation .internal-note").last).to_contain_text(f"Warehouse check {tag}")
    expect(alice.locator("#conversation")).not_to_contain_text(f"Warehouse check {tag}")

    # Assign to a colleague, then to nobody.
    agent.locator("#ws-assignee").select_option(label="Riley Park")
    expect(agent.locator(f"#ws-row-{mugs}")).to_contain_text("Riley Park")
    agent.locator("#ws-assignee").select_option(label="Nobody")
    expect(agent.locator(f"#ws-row-{mugs}")).to_contain_text("Unassigned")

    # a: approve the first approvable refund; the confirm names the amount.
    row = agent.locator(".ws-refund", has=agent.locator(f"a[href='/refunds/{refund}']"))
    amount = re.search(r"€\d+\.\d\d", row.inner_text()).group(0)
    _off_fields(agent)
    agent.keyboard.press("a")
    expect(agent.locator("#ws-approve-title")).to_contain_text(amount)
    agent.locator("#ws-approve-confirm").click()
    expect(agent.locator(".ws-approve")).to_have_count(0)
    # The worker sends it to the gateway; the open case follows by itself.
    expect(row).to_contain_text("Refunded", timeout=20000)
    expect(agent.locator("#ws-customer")).to_contain_text("Given back €")  # refunds and settlements: not "Refunded"

    # e: resolve (an open case goes through "in progress").
    expect(agent.locator("[role=alertdialog]")).to_have_count(0)
    expect(agent.locator("#ws-resolve")).to_be_enabled()
    _off_fields(agent)
    agent.keyboard.press("e")
    expect(agent.locator("#ws-case-status")).to_have_text("Resolved")
    expect(agent.locator(f"#ws-row-{mugs}")).to_have_count(0)  # the default filter shows active cases

    # ?: the list of keys.
    _off_fields(agent)
    agent.keyboard.press("?")
    expect(agent.locator("#ws-keys")).to_contain_text("Next / previous case")
    agent.keyboard.press("Escape")

    # Reject from the sidebar: a reason and a message, confirmed in a dialog; "mine" holds nothing of this.
    agent.locator(f"#ws-row-{teapot}").click()
    expect(agent.locator("#ws-case-subject")).to_have_text(f"WS {tag} teapot lid")
    agent.locator(f"#ws-reject-{spoons}").click()
    dialog = agent.locator("[role=dialog]")
    # No reason chosen: the dialog stays open, says so under the field, and keeps the message.
    agent.locator("#ws-reject-message").fill("We need a photo of the spoons before we can refund them.")
    agent.locator("#ws-reject-confirm").click()
    expect(dialog.locator("#error-reject_code")).to_have_text("Choose a reason.")
    expect(dialog).to_be_visible()
    expect(agent.locator("#ws-reject-message")).to_have_value("We need a photo of the spoons before we can refund them.")
    # Back closes it; opened again, it starts clean.
    dialog.get_by_role("button", name="Back").click()
    expect(dialog).to_have_count(0)
    agent.locator(f"#ws-reject-{spoons}").click()
    expect(agent.locator("#ws-reject-message")).to_have_value("")
    expect(dialog.locator("#error-reject_code")).to_have_count(0)
    agent.locator("#ws-reject-message").fill("We need a photo of the spoons before we can refund them.")
    agent.locator("#ws-reject-code").select_option("no_evidence")
    agent.locator("#ws-reject-confirm").click()
    expect(dialog).to_have_count(0)
    expect(agent.locator(".ws-refund", has=agent.locator(f"a[href='/refunds/{spoons}']"))).to_contain_text("Rejected")
    expect(agent.locator("#conversation")).to_contain_text("photo of the spoons")
    agent.locator("#ws-scope-mine").click()
    expect(agent.locator(f"#ws-row-{teapot}")).to_have_count(0)
    agent.wait_for_url(re.compile(r"scope=mine"))
    agent.locator("#ws-scope-all").click()
    expect(agent.locator(f"#ws-row-{teapot}")).to_have_count(1)

    # A customer opens a case: it appears in the open queue, marked, with no reload.
    agent.evaluate("window.__noReload = true")
    fresh = open_case(bob, "ORD-1002-1", f"WS {tag} live arrival")
    expect(agent.locator(f"#ws-row-{fresh}")).to_contain_text(f"WS {tag} live arrival", timeout=15000)
    expect(agent.locator(f"#ws-row-{fresh} .ws-unread")).to_have_count(1)
    # An update to a case shown in the queue: the customer answers the rejection; its row is marked and due again.
    agent.locator(f"#ws-row-{fresh}").click()
    expect(agent.locator(f"#ws-row-{teapot} .ws-unread")).to_have_count(0)
    expect(agent.locator(f"#ws-row-{teapot} .ws-due")).to_have_text("Nothing due")  # the rejection answered Bob
    bob.goto(f"/cases/{teapot}")
    bob.locator("#reply-text").fill("Here is the photo of the spoons, attached.")
    bob.locator("#send-reply").click()
    expect(bob.locator(".reply").last).to_contain_text("photo of the spoons, attached")
    expect(agent.locator(f"#ws-row-{teapot} .ws-unread")).to_have_count(1, timeout=15000)
    expect(agent.locator(f"#ws-row-{teapot} .ws-due")).to_contain_text("Due")
    assert agent.evaluate("window.__noReload") is True

    # A link opens the selection (and its filters).
    other = agent.context.new_page()
    other.goto(f"/workspace?case={teapot}&scope=unassigned")
    expect(other.locator("#ws-case-subject")).to_have_text(f"WS {tag} teapot lid")
    expect(other.locator(f"#ws-row-{teapot}")).to_have_class(re.compile("ws-selected"))
    expect(other.locator("#ws-scope-unassigned")).to_be_visible()
    other.goto("/workspace?case=999999999")
    expect(other.locator("#ws-error")).to_be_visible()


def test_customers_are_kept_out_of_the_workspace(sign_in):
    page = sign_in("carol@example.com")
    page.goto("/workspace")
    page.wait_for_url(re.compile(r"/orders/?$"))


def test_below_1280_px_the_panes_stack(sign_in):
    bob = sign_in("bob@example.com")
    teapot = open_case(bob, "ORD-1002-1", f"WS {uuid.uuid4().hex[:6]} narrow screen")
    agent = sign_in("agent@example.com", width=800)
    agent.goto(f"/workspace?case={teapot}")
    expect(agent.locator("#ws-case-subject")).to_contain_text("narrow screen")
    queue, case, side = (agent.locator(f"#{i}").bounding_box() for i in ("ws-queue-pane", "ws-case-pane", "ws-sidebar"))
    assert queue["y"] < case["y"] < side["y"] and abs(queue["x"] - case["x"]) < 5
    assert agent.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "nothing wider than the screen"
