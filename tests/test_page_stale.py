"""A page state that no longer holds what its page shows (the tab was left open past
the state's lifetime in Redis, or a saturated server lost it; or an event was forged)
answers an action with "reload this page", never with "that case was not found"."""

from __future__ import annotations

import pytest
from reflex.state import State

from support_app.domain.errors import MESSAGES, DomainError, ErrorCode
from support_app.state.case_page import CaseState
from support_app.state.refund_page import RefundState


def _page(cls):
    root = State(_reflex_internal_init=True)
    return root.get_substate(cls.get_full_name().split("."))


@pytest.mark.parametrize("cls", [CaseState, RefundState])
def test_an_action_on_what_the_tab_no_longer_holds_asks_for_a_reload(cls):
    page = _page(cls)
    with pytest.raises(DomainError) as refused:
        page._target()
    assert refused.value.code is ErrorCode.PAGE_STALE
    assert "reload" in MESSAGES[ErrorCode.PAGE_STALE] and "not found" not in MESSAGES[ErrorCode.PAGE_STALE]
