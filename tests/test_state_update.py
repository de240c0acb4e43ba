"""AppState._update: a page reading its list again sends the browser only what changed.

Reflex marks every assigned var dirty, equal or not, and sends (with Redis state, also
stores) every dirty var; a live update that finds the list as it was must send nothing."""

from __future__ import annotations

from dataclasses import replace

from reflex.state import State

from support_app.services.views import CaseRow
from support_app.state.cases import CasesState

ROW = CaseRow(id=7, number="C-7", subject="Mug chipped", status="open", status_label="Open",
              category_label="Damaged item", priority="normal", order_id="ORD-1", customer_name="Alice",
              assignee_name="", created_at="2026-12-01T10:00:00Z", updated_at="2026-12-01T10:00:00Z")


def _page() -> CasesState:
    root = State(_reflex_internal_init=True)
    page = root.get_substate(CasesState.get_full_name().split("."))
    page._update(rows=[ROW], loaded=True)
    page._clean()
    return page


def test_equal_values_leave_nothing_to_send():
    page = _page()
    page._update(rows=[replace(ROW)], loaded=True)  # an equal list, read again
    assert page.dirty_vars == set()
    assert page.get_delta() == {}


def test_a_changed_value_is_sent_and_only_it():
    page = _page()
    page._update(rows=[replace(ROW, updated_at="2026-12-01T11:00:00Z")], loaded=True)
    assert page.dirty_vars == {"rows"}
    assert page.rows[0].updated_at == "2026-12-01T11:00:00Z"
