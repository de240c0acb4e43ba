"""Support case rules: the status machine per role, replies, and input validation.

The expected tables below are written out from DESIGN.md, not copied from the code:
open → in_progress → waiting_on_customer ⇄ in_progress → resolved → closed
(resolved may reopen); agents drive the workflow; a customer may only close.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from support_app.domain import case_rules as rules
from support_app.domain.case_rules import CaseStatus, Category, Priority, Role
from support_app.domain.errors import DomainError, ErrorCode

ALL = ["open", "in_progress", "waiting_on_customer", "resolved", "closed"]
AGENT_OK = {
    ("open", "in_progress"),
    ("in_progress", "waiting_on_customer"),
    ("in_progress", "resolved"),
    ("waiting_on_customer", "in_progress"),
    ("resolved", "closed"),
    ("resolved", "in_progress"),
}
CUSTOMER_OK = {(s, "closed") for s in ALL if s != "closed"}
PAIRS = list(itertools.product(ALL, ALL))


def test_statuses_are_exactly_the_designed_ones():
    assert [s.value for s in CaseStatus] == ALL


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_agent_transition_table(src, dst):
    allowed = (src, dst) in AGENT_OK
    assert (CaseStatus(dst) in rules.allowed_transitions(CaseStatus(src), Role.AGENT)) is allowed
    if allowed:
        assert rules.check_transition(src, dst, Role.AGENT) == (CaseStatus(src), CaseStatus(dst))
    else:
        with pytest.raises(DomainError) as err:
            rules.check_transition(src, dst, Role.AGENT)
        assert err.value.code is ErrorCode.INVALID_STATUS_TRANSITION
        assert rules.STATUS_LABELS[CaseStatus(src)].lower() in err.value.message


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_customer_transition_table(src, dst):
    allowed = (src, dst) in CUSTOMER_OK
    assert (CaseStatus(dst) in rules.allowed_transitions(CaseStatus(src), Role.CUSTOMER)) is allowed
    if allowed:
        assert rules.check_transition(src, dst, Role.CUSTOMER) == (CaseStatus(src), CaseStatus(dst))
    else:
        with pytest.raises(DomainError) as err:
            rules.check_transition(src, dst, Role.CUSTOMER)
        assert err.value.code is ErrorCode.INVALID_STATUS_TRANSITION


@pytest.mark.parametrize("role", list(Role))
def test_closed_is_terminal_for_everyone(role):
    assert rules.allowed_transitions(CaseStatus.CLOSED, role) == frozenset()


@pytest.mark.parametrize(
    ("src", "dst"),
    [("open", "nonsense"), ("bogus", "closed"), ("", "closed"), ("open", ""), ("OPEN", "in_progress"), (None, "closed")],
)
@pytest.mark.parametrize("role", list(Role))
def test_unknown_statuses_are_an_invalid_transition_not_a_crash(src, dst, role):
    with pytest.raises(DomainError) as err:
        rules.check_transition(src, dst, role)
    assert err.value.code is ErrorCode.INVALID_STATUS_TRANSITION


@pytest.mark.parametrize(("status", "role"), list(itertools.product(ALL, list(Role))))
def test_status_after_reply(status, role):
    expected = "in_progress" if (status, role) == ("waiting_on_customer", Role.CUSTOMER) else status
    assert rules.status_after_reply(CaseStatus(status), role) == CaseStatus(expected)


# -- validate_new_case ---------------------------------------------------------

DESC = "d" * 10


def fields_of(*args) -> dict[str, str]:
    with pytest.raises(DomainError) as err:
        rules.validate_new_case(*args)
    assert err.value.code is ErrorCode.VALIDATION_FAILED
    return err.value.fields


@pytest.mark.parametrize(("length", "ok"), [(2, False), (3, True), (120, True), (121, False)])
def test_subject_length_boundaries(length, ok):
    subject = "s" * length
    if ok:
        assert rules.validate_new_case(subject, DESC, "other", "normal")["subject"] == subject
    else:
        assert set(fields_of(subject, DESC, "other", "normal")) == {"subject"}


@pytest.mark.parametrize(("length", "ok"), [(9, False), (10, True), (5000, True), (5001, False)])
def test_description_length_boundaries(length, ok):
    description = "d" * length
    if ok:
        assert rules.validate_new_case("Broken mug", description, "other", "normal")["description"] == description
    else:
        assert set(fields_of("Broken mug", description, "other", "normal")) == {"description"}


def test_messages_name_the_limits():
    assert fields_of("ab", DESC, "other", "normal")["subject"] == "Subject must be at least 3 characters."
    assert fields_of("s" * 121, DESC, "other", "normal")["subject"] == "Subject must be at most 120 characters."
    assert fields_of("abc", "d" * 9, "other", "normal")["description"] == "Description must be at least 10 characters."


def test_whitespace_is_trimmed_before_measuring():
    # 2 visible characters padded to 10 is still too short; 3 padded is fine and returned trimmed.
    assert "subject" in fields_of("    ab    ", DESC, "other", "normal")
    assert "description" in fields_of("abc", "   " + "d" * 9 + "\n\t ", "other", "normal")
    got = rules.validate_new_case("  abc \n", "\t" + DESC + "  ", "other", "normal")
    assert got == {"subject": "abc", "description": DESC, "category": "other", "priority": "normal"}
    # 120 visible characters with padding are within the limit.
    assert rules.validate_new_case("  " + "s" * 120 + "  ", DESC, "other", "normal")["subject"] == "s" * 120


def test_whitespace_only_fields_are_required():
    assert set(fields_of("     ", " \n\t " * 10, "other", "normal")) == {"subject", "description"}


@pytest.mark.parametrize("bad", [None, 12345, 12.5, b"bytes subject", object()])
def test_non_string_subject_and_description_are_refused(bad):
    assert set(fields_of(bad, bad, "other", "normal")) == {"subject", "description"}


@pytest.mark.parametrize("bad", [["other"], {"x": 1}])
def test_unhashable_category_or_priority_is_a_validation_error(bad):
    # A browser can send any JSON value to an event handler; it must not crash the rule.
    assert set(fields_of("abc", DESC, bad, bad)) == {"category", "priority"}


@pytest.mark.parametrize("category", ["", "OTHER", "refund", None, 1])
def test_unknown_category(category):
    assert set(fields_of("abc", DESC, category, "normal")) == {"category"}


@pytest.mark.parametrize("priority", ["", "NORMAL", "critical", None, 0])
def test_unknown_priority(priority):
    assert set(fields_of("abc", DESC, "other", priority)) == {"priority"}


@pytest.mark.parametrize("category", [c.value for c in Category])
@pytest.mark.parametrize("priority", [p.value for p in Priority])
def test_every_category_and_priority_is_accepted(category, priority):
    got = rules.validate_new_case("abc", DESC, category, priority)
    assert (got["category"], got["priority"]) == (category, priority)
    assert type(got["category"]) is str and type(got["priority"]) is str


def test_all_problems_are_reported_at_once():
    assert set(fields_of("", "", "x", "y")) == {"subject", "description", "category", "priority"}


def test_every_category_has_a_label():
    assert set(rules.CATEGORY_LABELS) == set(Category)
    assert set(rules.STATUS_LABELS) == set(CaseStatus)


# -- validate_message / validate_reason ----------------------------------------


@pytest.mark.parametrize("body", ["", "   ", "\n\t", None, 42])
def test_message_is_required(body):
    with pytest.raises(DomainError) as err:
        rules.validate_message(body)
    assert err.value.code is ErrorCode.VALIDATION_FAILED
    assert err.value.fields == {"body": "Message is required."}


def test_message_length_boundaries():
    assert rules.validate_message("m" * 5000) == "m" * 5000
    assert rules.validate_message("  " + "m" * 5000 + "\n") == "m" * 5000
    assert rules.validate_message("x") == "x"
    with pytest.raises(DomainError) as err:
        rules.validate_message("m" * 5001)
    assert err.value.code is ErrorCode.VALIDATION_FAILED
    assert err.value.fields == {"body": "Message must be at most 5000 characters."}


@pytest.mark.parametrize("reason", [None, "", "   ", 17])
def test_reason_is_optional(reason):
    assert rules.validate_reason(reason) is None


def test_reason_is_trimmed_and_bounded():
    assert rules.validate_reason("  customer confirmed \n") == "customer confirmed"
    assert rules.validate_reason("r" * 500) == "r" * 500
    with pytest.raises(DomainError) as err:
        rules.validate_reason("r" * 501)
    assert err.value.code is ErrorCode.VALIDATION_FAILED and set(err.value.fields) == {"reason"}


# -- reopening (SUPPORT_REOPEN_DAYS) ---------------------------------------------


CLOSED_AT = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
LAST = datetime(2026, 11, 15, 10, 0, tzinfo=UTC)  # 14 days later: the last instant it may be reopened


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_reopen_on_day_n_exactly_but_not_a_microsecond_later(status):
    inside = rules.reopen_verdict(status, CLOSED_AT, LAST, 14)
    assert (inside.allowed, inside.until, inside.text) == (True, LAST, "")
    assert rules.check_reopen(status, CLOSED_AT, LAST, 14) == (CaseStatus(status), CaseStatus.IN_PROGRESS)
    late = rules.reopen_verdict(status, CLOSED_AT, LAST + timedelta(microseconds=1), 14)
    assert (late.allowed, late.until) == (False, LAST)
    assert late.text == (f"A case can be reopened for 14 days after it was {status}; that time has passed. "
                         "Please open a new case about the order.")
    with pytest.raises(DomainError) as err:
        rules.check_reopen(status, CLOSED_AT, LAST + timedelta(microseconds=1), 14)
    assert err.value.code is ErrorCode.REOPEN_PERIOD_ENDED and err.value.message == late.text


def test_reopen_period_is_counted_in_utc_and_configurable():
    berlin = timezone(timedelta(hours=1))
    assert rules.reopen_verdict("closed", datetime(2026, 11, 1, 11, 0, tzinfo=berlin), LAST, 14).allowed  # = 10:00Z
    assert rules.reopen_verdict("closed", CLOSED_AT, CLOSED_AT + timedelta(days=30), 30).allowed
    assert not rules.reopen_verdict("closed", CLOSED_AT, CLOSED_AT + timedelta(days=1, microseconds=1), 1).allowed
    zero = rules.reopen_verdict("closed", CLOSED_AT, CLOSED_AT, 0)  # 0 days: only at that very instant
    assert zero.allowed and not rules.reopen_verdict("closed", CLOSED_AT, CLOSED_AT + timedelta(microseconds=1), 0).allowed
    assert rules.reopen_verdict("resolved", CLOSED_AT, CLOSED_AT - timedelta(hours=1), 14).allowed  # clock skew: inside
    assert "1 day after" in rules.reopen_verdict("closed", CLOSED_AT, LAST, 1).text


@pytest.mark.parametrize("status", ["open", "in_progress", "waiting_on_customer", "nonsense"])
def test_only_a_resolved_or_closed_case_reopens(status):
    verdict = rules.reopen_verdict(status, CLOSED_AT, CLOSED_AT, 14)
    assert (verdict.allowed, verdict.until) == (False, None)
    with pytest.raises(DomainError) as err:
        rules.check_reopen(status, CLOSED_AT, CLOSED_AT, 14)
    assert err.value.code is ErrorCode.INVALID_STATUS_TRANSITION


def test_reopen_needs_a_recorded_moment_and_aware_times():
    assert not rules.reopen_verdict("closed", None, CLOSED_AT, 14).allowed
    with pytest.raises(ValueError):
        rules.reopen_verdict("closed", datetime(2026, 11, 1, 10, 0), LAST, 14)
    with pytest.raises(ValueError):
        rules.reopen_verdict("closed", CLOSED_AT, datetime(2026, 11, 1, 10, 0), 14)
    for days in (-1, True, 1.5, "14"):
        with pytest.raises(ValueError):
            rules.reopen_verdict("closed", CLOSED_AT, LAST, days)
