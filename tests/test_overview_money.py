"""Money in the refund overview: amounts are sorted and bounded within one currency."""

from __future__ import annotations

from fixtures_db import order_client, orders_server, orders_server_session, people, run  # noqa: F401
from support_app.domain.overview_rules import parse_overview_query
from support_app.services import case_commands as cmd
from support_app.services import refund_commands as rc
from support_app.services.overview_queries import refund_case_overview

CASE = dict(subject="Cracked mug", description="The blue mug arrived cracked in two.", category="damaged_item")


def _refunds(engine, people, order_client):
    eur_case = run(engine, cmd.create_case, people.alice, "ORD-1001-1", client=order_client, **CASE)
    usd_case = run(engine, cmd.create_case, people.bob, "ORD-1002-2", client=order_client, **CASE)
    run(engine, rc.request_refund, people.alice, eur_case, {"L1": 2}, "damaged", "", "money-key-1")
    run(engine, rc.request_refund, people.alice, eur_case, {"L2": 1}, "damaged", "", "money-key-2")
    run(engine, rc.request_refund, people.bob, usd_case, {"L1": 1}, "damaged", "", "money-key-3")  # $37.89
    run(engine, rc.request_refund, people.bob, usd_case, {"L2": 1}, "damaged", "", "money-key-4")


def _page(engine, caller, params):
    return run(engine, refund_case_overview, caller, parse_overview_query(params, "refund"), write=False)


def test_amount_sort_compares_one_currency_at_a_time(engine, people, order_client):
    _refunds(engine, people, order_client)
    every = _page(engine, people.sam, {})
    assert {r.currency for r in every.rows} == {"EUR", "USD"} and every.count_text == "4"

    eur = _page(engine, people.sam, {"sort": "amount"})  # no currency chosen: euros
    assert [r.currency for r in eur.rows] == ["EUR", "EUR"]
    assert [r.amount_minor for r in eur.rows] == sorted((r.amount_minor for r in eur.rows), reverse=True)

    usd = _page(engine, people.sam, {"sort": "amount", "currency": "USD", "direction": "asc"})
    assert [r.currency for r in usd.rows] == ["USD", "USD"]
    assert usd.rows[-1].amount == "$37.89" and usd.rows[0].amount_minor < 3789

    assert [r.amount for r in _page(engine, people.sam, {"amount_min": "30", "currency": "USD"}).rows] == ["$37.89"]
    assert [r.currency for r in _page(engine, people.sam, {"currency": "USD"}).rows] == ["USD", "USD"]
    assert _page(engine, people.bob, {"sort": "amount", "currency": "USD"}).count_text == "2"
    assert _page(engine, people.bob, {"sort": "amount"}).rows == []  # Bob has no euro refunds
