"""The queue's due rule (domain/case_due.py): who is due and from when (the order is
the queue's: test_workspace_services.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from support_app.domain.case_due import RESPONSE_TARGETS, due_at, is_overdue
from support_app.domain.case_rules import Priority

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize("priority, hours", [("urgent", 1), ("high", 4), ("normal", 24), ("low", 72)])
def test_target_by_priority_from_the_opening(priority, hours):
    assert due_at("open", priority, T0, None, None) == T0 + hours * H


def test_every_priority_has_a_target_and_urgent_is_shortest():
    assert set(RESPONSE_TARGETS) == set(Priority)
    assert sorted(RESPONSE_TARGETS, key=RESPONSE_TARGETS.get) == ["urgent", "high", "normal", "low"]


def test_counted_from_when_the_customer_last_wrote():
    assert due_at("in_progress", "high", T0, T0 + 10 * H, None) == T0 + 14 * H


def test_a_customer_message_before_the_opening_does_not_move_the_anchor_back():
    assert due_at("open", "high", T0, T0 - H, None) == T0 + 4 * H


@pytest.mark.parametrize("status", ["waiting_on_customer", "resolved", "closed"])
def test_not_due_when_not_waiting_on_an_agent(status):
    assert due_at(status, "urgent", T0, T0, None) is None


def test_an_agent_answer_after_the_customer_clears_it_and_at_the_same_instant_too():
    customer = T0 + 2 * H
    assert due_at("in_progress", "normal", T0, customer, customer + timedelta(microseconds=1)) is None
    assert due_at("in_progress", "normal", T0, customer, customer) is None


def test_an_agent_answer_before_the_customer_wrote_again_does_not_clear_it():
    customer = T0 + 2 * H
    assert due_at("in_progress", "normal", T0, customer, customer - timedelta(microseconds=1)) == customer + 24 * H


def test_unknown_priority_counts_as_normal():
    assert due_at("open", "whatever", T0, None, None) == T0 + 24 * H


def test_overdue_only_after_the_due_instant():
    due = T0 + H
    assert not is_overdue(due, due - timedelta(microseconds=1))
    assert not is_overdue(due, due)
    assert is_overdue(due, due + timedelta(microseconds=1))
    assert not is_overdue(None, due)
