"""My refunds and the overviews in a real browser: a customer's own page, the agents'
pages turning her away with a message, and lists that update by themselves."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from support_app.db import make_engine, session_scope
from support_app.integrations.order_client import OrderClient
from support_app.kv import MemoryKV
from support_app.models import RefundCase, User
from support_app.services import case_commands, refund_commands
from support_app.services.auth_service import Identity

pytestmark = pytest.mark.browser
TOAST = "[data-sonner-toast]"


@pytest.fixture(scope="module")
def bobs_usd_refund(app_server):
    """Bob asks for his French press back ($37.89, or $45.88 with the shipping when earlier tests
    hold the order's other units), through the services, in the app's database."""
    _, env = app_server
    engine = make_engine(env["SUPPORT_DATABASE_URL"])
    client = OrderClient(base_url=env["SUPPORT_ORDER_SYSTEM_URL"], timeout_seconds=5, kv=MemoryKV())
    with session_scope(engine) as s:
        bob = next(Identity(u.id, u.role) for u in s.exec(select(User)) if u.email == "bob@example.com")
    with session_scope(engine, write=True) as s:
        case_id = case_commands.create_case(s, bob, "ORD-1002-2", "French press glass cracked",
                                            "The glass of the press cracked on first use.", "damaged_item", client=client)
    with session_scope(engine, write=True) as s:
        refund_id = refund_commands.request_refund(s, bob, case_id, {"L1": 1}, "damaged", "", "browser-my-refunds-1")
    with session_scope(engine) as s:
        refund = s.get(RefundCase, refund_id)
        number, amount = refund.number, f"${refund.amount / 100:,.2f}"
    client.close()
    engine.dispose()
    return refund_id, number, amount


def test_an_approval_reaches_my_refunds_and_the_overview_without_reload(sign_in, bobs_usd_refund, tmp_path):
    shots = tmp_path
    refund_id, number, amount = bobs_usd_refund
    assert amount in ("$37.89", "$45.88")  # the press, and its shipping when it is the order's last unit
    bob = sign_in("bob@example.com")
    bob.locator("#nav-my-refunds").click()
    bob.wait_for_url(re.compile(r"/my/refunds$"))
    card = bob.locator(".my-refund", has_text=number)
    expect(card).to_contain_text("Requested")
    expect(card).to_contain_text(amount)
    expect(card).to_contain_text("1 × French press")
    expect(card).to_contain_text("SC-")
    expect(bob.locator("#f-customer")).to_have_count(0)  # no agents' filters here

    watcher = sign_in("agent2@example.com")
    watcher.goto(f"/overview/refunds?q={number}")
    row = watcher.locator(".overview-row", has_text=number)
    expect(row).to_contain_text("Requested")

    agent = sign_in("agent@example.com")
    agent.goto(f"/refunds/{refund_id}")
    agent.locator("#approve").click()
    agent.locator("#approve-confirm").click()
    expect(agent.locator("#refund-status")).to_have_text("Refunded", timeout=20000)

    # Neither open page was reloaded: the change was pushed to both.
    expect(card.locator(".status-badge")).to_have_text("Refunded", timeout=20000)
    expect(row.locator(".status-badge")).to_have_text("Refunded", timeout=20000)
    assert bob.url.endswith("/my/refunds") and "q=" in watcher.url

    # The dollars are counted in their own currency on the metrics page, never left out.
    agent.goto("/metrics?days=7")
    expect(agent.locator("#m-refunded-total")).to_contain_text(amount)
    usd = agent.locator(".refunded-chart", has_text="in USD")
    expect(usd).to_contain_text(f"{amount} in the period")
    expect(usd.locator(".recharts-line")).to_be_visible()
    agent.screenshot(path=str(shots / "metrics.png"), full_page=True)


def test_agents_pages_turn_a_customer_away_with_a_message(sign_in):
    page = sign_in("bob@example.com")
    page.goto("/overview/refunds")
    page.wait_for_url(re.compile(r"/my/refunds$"))
    expect(page.locator(TOAST).last).to_contain_text("for support agents")
    expect(page.locator("#apply-filters")).to_have_count(0)
    page.goto("/overview/cases")
    page.wait_for_url(re.compile(r"/cases$"))
    expect(page.locator(TOAST).last).to_contain_text("for support agents")
    page.goto("/queue")
    page.wait_for_url(re.compile(r"/orders/?$"))
    expect(page.locator(TOAST).last).to_contain_text("That page is for support agents")


def test_my_refunds_is_for_customers(sign_in):
    page = sign_in("agent@example.com")
    page.goto("/my/refunds")
    page.wait_for_url(re.compile(r"/workspace$"))
    expect(page.locator(TOAST).last).to_contain_text("That page is for customers")
