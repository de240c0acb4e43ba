"""The refund form's state: each stepper click and reason is priced from what the form
read when it opened, with no service call (no database read) per click, and that basis
survives the trip through Redis that page state makes between events."""

from __future__ import annotations

import asyncio

import pytest
from reflex.state import BaseState, State

from fixtures_db import order_client, orders_server, orders_server_session, people, run  # noqa: F401
from support_app.domain.errors import DomainError, ErrorCode
from support_app.services import case_commands as cmd
from support_app.services import refund_queries as rq
from support_app.state import refund_form
from support_app.state.refund_form import RefundFormState

CASE = dict(subject="Cracked mug", description="The blue mug arrived cracked in two.", category="damaged_item")


@pytest.fixture
def form_page(engine, people, order_client, monkeypatch) -> RefundFormState:  # not "page": pytest-playwright has one
    case_id = run(engine, cmd.create_case, people.alice, "ORD-1001-1", client=order_client, **CASE)
    form, pricing = run(engine, rq.refund_form, people.alice, case_id, write=False)

    async def caller(self, role=None):
        return people.alice

    async def no_service_call(*args, **kwargs):
        raise AssertionError("a click in the form must not call a service")

    monkeypatch.setattr(RefundFormState, "_caller", caller)
    monkeypatch.setattr(refund_form, "call", no_service_call)
    root = State(_reflex_internal_init=True)
    state = root.get_substate(RefundFormState.get_full_name().split("."))
    state.form, state._pricing, state._case_id = form, pricing, str(case_id)
    state.quantities = {line.line_id: 0 for line in form.lines}
    return state


def _click(coro):
    return asyncio.run(coro)


def test_clicks_are_priced_from_the_forms_basis_as_a_fresh_read_prices_them(form_page, engine, people):
    _click(form_page.increment("L1"))
    _click(form_page.increment("L1"))
    _click(form_page.set_reason("damaged"))
    fresh = run(engine, rq.price_refund, people.alice, int(form_page._case_id), {"L1": 2, "L2": 0, "L3": 0}, "damaged",
                write=False)
    assert (form_page.total, form_page.shipping, form_page.problem) == (fresh.total, fresh.shipping, fresh.problem) == ("€27.77", "", "")
    _click(form_page.decrement("L1"))
    assert form_page.total == "€13.89" and form_page.chosen_units == 1


def test_the_basis_survives_the_trip_through_redis(form_page):
    restored = BaseState._deserialize(form_page._serialize())
    assert restored._pricing == form_page._pricing


def test_a_click_on_a_form_this_tab_no_longer_holds_asks_for_a_reload(form_page):
    form_page._pricing = None
    form_page.reason = "damaged"
    with pytest.raises(DomainError) as refused:
        _click(form_page._price())
    assert refused.value.code is ErrorCode.PAGE_STALE
