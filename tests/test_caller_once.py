"""A page load or a command identifies its caller once and hands that identity on to the
page's read (``AppState._caller_or``), instead of checking the token and asking Redis
about revocation a second time within the same event."""

from __future__ import annotations

import asyncio

import pytest
from reflex.state import State

from support_app.domain.errors import DomainError, ErrorCode
from support_app.services.auth_service import Identity
from support_app.state.base import AppState
from support_app.state.cases import CasesState

AGENT, CUSTOMER = Identity(7, "agent", "fam-a"), Identity(8, "customer", "fam-c")


@pytest.fixture
def cases(monkeypatch) -> tuple[CasesState, list]:
    asked: list = []

    async def identify(self, role=None):
        asked.append(role)
        return AGENT

    monkeypatch.setattr(AppState, "_caller", identify)
    root = State(_reflex_internal_init=True)
    return root.get_substate(CasesState.get_full_name().split(".")), asked


def test_an_identity_the_event_already_has_is_used_without_asking_again(cases):
    page, asked = cases
    assert asyncio.run(page._caller_or(AGENT, "agent")) is AGENT
    assert asyncio.run(page._caller_or(CUSTOMER)) is CUSTOMER
    assert asked == []


def test_without_one_the_caller_is_identified(cases):
    page, asked = cases
    assert asyncio.run(page._caller_or(None, "agent")) is AGENT
    assert asked == ["agent"]


def test_an_identity_of_another_role_is_refused_as_identifying_would_refuse_it(cases):
    page, asked = cases
    with pytest.raises(DomainError) as refused:
        asyncio.run(page._caller_or(CUSTOMER, "agent"))
    assert refused.value.code is ErrorCode.FORBIDDEN and asked == []
