"""User story 4 in a real browser: filter, page, open a timeline, export exactly the rows."""

from __future__ import annotations

import csv
import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from support_app.db import make_engine, session_scope
from support_app.integrations.order_client import OrderClient
from support_app.kv import MemoryKV
from support_app.models import User
from support_app.services import case_commands
from support_app.services.auth_service import Identity
from support_app.settings import get_settings

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def many_cases(app_server):
    """16 of Alice's cases (12 left open) and 3 of Bob's, made through the services into the app's database."""
    _, env = app_server
    engine = make_engine(env["SUPPORT_DATABASE_URL"])
    client = OrderClient(base_url=env["SUPPORT_ORDER_SYSTEM_URL"], timeout_seconds=5, kv=MemoryKV())
    with session_scope(engine) as s:
        users = {u.email: Identity(u.id, u.role) for u in s.exec(select(User))}
    made = []
    settings = get_settings()
    limit, settings.case_create_max = settings.case_create_max, 1000  # this process's own limiter
    for n in range(19):
        who = "alice@example.com" if n < 16 else "bob@example.com"
        order = "ORD-1001-1" if who.startswith("alice") else "ORD-1002-1"
        with session_scope(engine, write=True) as s:
            made.append(case_commands.create_case(
                s, users[who], order, f"Overview case {n:02d}", "Something about this order needs a look.", "other",
                client=client))
    with session_scope(engine, write=True) as s:  # one urgent delivery case about a kettle, for search and the queue
        made.append(case_commands.create_case(
            s, users["bob@example.com"], "ORD-1002-1", "Kettle whistles before it boils", "It whistles at 60 degrees.",
            "delivery", "urgent", client=client))
    settings.case_create_max = limit
    for case_id in made[:4]:  # four of Alice's are being worked on (the last case is Bob's kettle)
        with session_scope(engine, write=True) as s:
            case_commands.change_status(s, users["agent@example.com"], case_id, "in_progress")
    client.close()
    engine.dispose()
    return made


def test_agent_filters_pages_opens_and_exports(sign_in, many_cases, tmp_path):
    agent = sign_in("agent@example.com")
    agent.locator("#nav-overview-cases").click()
    agent.wait_for_url(re.compile(r"/overview/cases"))
    agent.locator("#f-status-open").check()
    agent.locator("#f-customer").fill("alice")
    agent.locator("#f-q").fill("")
    agent.locator("#f-size").select_option("10")
    agent.locator("#apply-filters").click()
    agent.wait_for_url(re.compile(r"status=open"))
    params = parse_qs(urlparse(agent.url).query)
    assert params["status"] == ["open"] and params["customer"] == ["alice"] and params["size"] == ["10"]

    rows = agent.locator(".overview-row")
    expect(rows).to_have_count(10)
    count_text = agent.locator("#overview-count").first.inner_text()
    total = int(count_text.split()[0].replace(",", ""))
    assert total >= 10  # Alice's open cases from this module and any earlier test
    assert all("Alice Martin" in rows.nth(i).inner_text() and "Open" in rows.nth(i).inner_text() for i in range(10))
    first_page = [rows.nth(i).locator("a").first.inner_text() for i in range(10)]

    agent.locator("#next-page").first.click()
    agent.wait_for_url(re.compile(r"cursor="))
    expect(rows.first.locator("a").first).not_to_have_text(first_page[0])  # the next page has arrived
    expect(rows).to_have_count(min(10, total - 10))
    second_page = [rows.nth(i).locator("a").first.inner_text() for i in range(rows.count())]
    assert not set(first_page) & set(second_page)
    agent.go_back()  # the URL carries the page: back returns to page one
    expect(rows.first.locator("a").first).to_have_text(first_page[0])

    agent.locator(".overview-row a").first.click()
    agent.wait_for_url(re.compile(r"/cases/\d+$"))
    expect(agent.locator("#timeline")).to_contain_text("Opened the case")
    agent.go_back()

    with agent.expect_download() as download:
        agent.locator("#export-csv").click()
    path = tmp_path / "cases.csv"
    download.value.save_as(path)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads it as UTF-8
    with open(path, newline="", encoding="utf-8-sig") as fh:
        exported = list(csv.DictReader(fh))
    assert len(exported) == total
    assert list(exported[0])[:3] == ["Case", "Status", "Subject"]  # headers a person reads
    assert {r["Status"] for r in exported} == {"Open"}
    assert {r["Customer email"] for r in exported} == {"alice@example.com"}
    assert len({r["Case"] for r in exported}) == total


def test_customer_is_sent_to_her_own_cases_not_the_agents_overview(sign_in, many_cases):
    page = sign_in("bob@example.com")
    page.goto("/overview/cases?size=100")
    page.wait_for_url(re.compile(r"/cases$"))  # My cases: no agents' filters, only his own
    expect(page.locator("[data-sonner-toast]").last).to_contain_text("for support agents")
    expect(page.locator("#apply-filters")).to_have_count(0)
    expect(page.locator("#case-list")).to_contain_text("Overview case 16")
    expect(page.locator("#case-list")).not_to_contain_text("Overview case 00")


def test_subject_words_priority_and_category_and_the_queue_by_priority(sign_in, many_cases):
    agent = sign_in("agent@example.com")
    agent.goto("/overview/cases")
    agent.locator("#f-q").fill("KETTLE")  # a word of an encrypted subject, any case
    agent.locator("#apply-filters").click()
    agent.wait_for_url(re.compile(r"q=KETTLE"))
    row = agent.locator(".overview-row", has_text="Kettle whistles before it boils")
    expect(row).to_have_count(1)
    expect(row.locator(".priority")).to_have_text("Urgent")
    expect(row.locator(".category")).to_have_text("Delivery")
    expect(agent.locator(".overview-row").filter(has_not_text=re.compile("kettle", re.I))).to_have_count(0)

    agent.goto("/overview/cases?size=100")
    agent.locator("#f-priority").select_option("urgent")
    agent.locator("#f-category").select_option("delivery")
    agent.locator("#apply-filters").click()
    agent.wait_for_url(re.compile(r"priority=urgent"))
    assert parse_qs(urlparse(agent.url).query)["category"] == ["delivery"]
    # Waited for, not read once: the unfiltered page also holds the kettle row until the filtered one replaces it.
    rows = agent.locator(".overview-row")
    expect(rows.filter(has_not_text="Urgent")).to_have_count(0)
    expect(rows.filter(has_not_text="Delivery")).to_have_count(0)
    expect(rows.filter(has_text="Kettle whistles")).to_have_count(1)

    agent.goto("/queue")  # the most urgent first, then the oldest
    cards = agent.locator(".case-row")
    expect(cards.first).to_be_visible()
    texts = cards.all_inner_texts()
    kettle = next(i for i, t in enumerate(texts) if "Kettle whistles" in t)
    first_normal = next(i for i, t in enumerate(texts) if "normal" in t.lower())
    assert "urgent" in texts[0].lower() and kettle < first_normal


def test_metrics_period_in_the_url_labelled_charts_and_human_durations(sign_in, many_cases):
    agent = sign_in("agent@example.com")
    agent.locator("#nav-metrics").click()
    agent.wait_for_url(re.compile(r"/metrics"))
    expect(agent.locator("#chart-cases .recharts-bar-rectangle").first).to_be_attached()  # drawn with the load's data
    expect(agent.locator("#metrics-days")).to_have_value("30")
    agent.locator("#metrics-days").select_option("7")
    agent.wait_for_url(re.compile(r"/metrics\?days=7$"))
    expect(agent.locator("#metrics-days")).to_have_value("7")
    cases_chart = agent.locator("#chart-cases")
    expect(cases_chart.locator(".recharts-label", has_text="Day")).to_be_visible()
    expect(cases_chart.locator(".recharts-label", has_text="Cases")).to_be_visible()
    expect(cases_chart.locator(".recharts-xAxis .recharts-cartesian-axis-tick")).to_have_count(7)
    expect(agent.locator("#chart-reasons .recharts-label", has_text="Refunded")).to_be_visible()
    for stat in ("#m-first-response", "#m-resolution", "#m-approve-refunded"):
        assert re.fullmatch(r"—|\d+(\.\d)? s|\d+ min|\d+\.\d [hd]", agent.locator(stat).inner_text()), stat

    agent.reload()  # the URL keeps the period
    expect(agent.locator("#metrics-days")).to_have_value("7")
    agent.go_back()
    agent.wait_for_url(re.compile(r"/metrics/?$"))
    expect(agent.locator("#metrics-days")).to_have_value("30")


def _overflow(page) -> int:
    """How far the page is wider than the window (0 when nothing scrolls sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_overview_uses_the_width_on_a_desk_and_cards_on_a_phone(sign_in, many_cases, tmp_path):
    desk = sign_in("agent@example.com", width=1280)
    desk.goto("/overview/cases?size=10")
    rows = desk.locator(".overview-row")
    expect(rows).to_have_count(10)
    table = desk.locator(".overview-table").bounding_box()
    assert table["width"] > 1150, table  # the whole window, not the reading column
    for label in ("Case", "Created", "Updated"):
        cell = rows.first.locator(f'td[data-label="{label}"]')
        assert cell.evaluate("c => getComputedStyle(c).whiteSpace") == "nowrap"
        text = cell.locator("a, span, p, time").first.bounding_box()
        assert text["height"] < 26, (label, text)  # one line
    assert _overflow(desk) <= 0
    desk.screenshot(path=str(tmp_path / "overview-1280.png"), full_page=True)

    phone = sign_in("agent@example.com", width=390)
    for path in ("/overview/cases?size=10", "/overview/refunds"):
        phone.goto(path)
        expect(phone.locator("#overview-count").first).to_contain_text("matching")
        expect(phone.locator(".overview-table thead")).to_be_hidden()
        assert _overflow(phone) <= 0, path
    phone.goto("/overview/cases?size=10")
    card = phone.locator(".overview-row").first
    expect(card).to_be_visible()
    box = card.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    assert card.locator('td[data-label="Subject"]').bounding_box()["width"] > 250  # a full-width line, not a column
    assert phone.locator(".overview-table").evaluate("t => t.scrollWidth <= t.clientWidth + 1")  # nothing cut off
    phone.screenshot(path=str(tmp_path / "overview-390.png"), full_page=True)
