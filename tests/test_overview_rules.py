"""Overview query parsing (pure): allow-lists, dates, amounts, search classification,
cursors and the way back to URL parameters."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, timezone

import pytest

from support_app.domain.overview_rules import (
    AMOUNT_CURRENCY,
    Cursor, CustomerFilter, OverviewQuery, Search, classify_customer, classify_search, decode_cursor, encode_cursor,
    parse_overview_query,
)

T = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone.utc)


def test_defaults():
    q = parse_overview_query({}, "support")
    assert (q.statuses, q.sort, q.direction, q.size, q.cursor, q.problems, q.matches_nothing) == (
        (), "created", "desc", 25, None, {}, False)
    assert parse_overview_query(None, "refund") == OverviewQuery(kind="refund")  # type: ignore[arg-type]
    assert q.to_params() == {}


def test_statuses_are_allow_listed_per_kind():
    q = parse_overview_query({"status": ["open,closed", "requested", "open"]}, "support")
    assert q.statuses == ("open", "closed") and "status" in q.problems
    assert parse_overview_query({"status": "requested,failed"}, "refund").statuses == ("requested", "failed")
    everything = ",".join(["open", "in_progress", "waiting_on_customer", "resolved", "closed"])
    assert parse_overview_query({"status": everything}, "support").statuses == ()  # all of them: no filter


def test_dates_are_utc_days_inclusive():
    q = parse_overview_query({"date_from": "2026-03-05", "date_to": "2026-03-02"}, "support")  # swapped back
    assert (q.date_from, q.date_to) == (date(2026, 3, 2), date(2026, 3, 5))
    assert q.day_from == datetime(2026, 3, 2, tzinfo=timezone.utc)
    assert q.day_before == datetime(2026, 3, 6, tzinfo=timezone.utc)
    assert q.date_field == "created"
    assert parse_overview_query({"sort": "updated"}, "support").date_field == "updated"
    assert parse_overview_query({"sort": "amount"}, "refund").date_field == "created"
    for bad in ("2026-02-30", "05/03/2026", "2026-3-5", "２０２６-03-05", "2026-03-05T00:00"):
        q = parse_overview_query({"date_from": bad}, "support")
        assert q.date_from is None and "date_from" in q.problems


@pytest.mark.parametrize("text,minor", [("12", 1200), ("12.5", 1250), ("12.05", 1205), ("0", 0), ("0.99", 99)])
def test_amounts_become_minor_units(text, minor):
    assert parse_overview_query({"amount_min": text}, "refund").amount_min == minor


@pytest.mark.parametrize("text", ["-1", "1e3", "12.345", "1,5", "NaN", "١٢", " ", "12.", ".5", "9" * 11])
def test_bad_amounts_are_left_out(text):
    q = parse_overview_query({"amount_min": text}, "refund")
    assert q.amount_min is None and (("amount_min" in q.problems) or not text.strip())


def test_amount_range_is_ordered_and_refund_only():
    q = parse_overview_query({"amount_min": "50", "amount_max": "10"}, "refund")
    assert (q.amount_min, q.amount_max) == (1000, 5000)
    assert parse_overview_query({"amount_min": "50", "reason": "damaged"}, "support").amount_min is None
    assert parse_overview_query({"reason": "damaged"}, "support").reason == ""


def test_amounts_are_sorted_and_bounded_within_one_currency():
    assert parse_overview_query({}, "refund").currency == ""  # by date: every currency
    assert parse_overview_query({"sort": "amount"}, "refund").currency == AMOUNT_CURRENCY
    assert parse_overview_query({"amount_min": "5"}, "refund").currency == AMOUNT_CURRENCY
    assert parse_overview_query({"amount_max": "5", "currency": "usd"}, "refund").currency == "USD"
    assert parse_overview_query({"sort": "amount", "currency": "GBP"}, "refund").currency == "GBP"
    bad = parse_overview_query({"currency": "US$"}, "refund")
    assert bad.currency == "" and "currency" in bad.problems
    assert parse_overview_query({"currency": "USD"}, "support").currency == ""


def test_priority_and_category_are_allow_listed_and_for_support_cases():
    q = parse_overview_query({"priority": "URGENT", "category": "billing"}, "support")
    assert (q.priority, q.category) == ("urgent", "billing") and not q.problems
    assert q.to_params() == {"priority": "urgent", "category": "billing"}
    bad = parse_overview_query({"priority": "asap", "category": "' OR 1=1"}, "support")
    assert (bad.priority, bad.category) == ("", "") and set(bad.problems) == {"priority", "category"}
    assert parse_overview_query({"priority": "urgent"}, "refund").priority == ""


def test_assignee_reason_sort_direction_size():
    assert parse_overview_query({"assignee": "ME"}, "support").assignee == "me"
    assert parse_overview_query({"assignee": "42"}, "support").assignee == "42"
    for bad in ("0", "-1", "x", "1" * 19, "٣"):
        assert parse_overview_query({"assignee": bad}, "support").assignee == ""
    assert parse_overview_query({"assignee": "me"}, "refund").assignee == ""
    assert parse_overview_query({"reason": "changed_mind"}, "refund").reason == "changed_mind"
    assert parse_overview_query({"reason": "CHANGED_MIND"}, "refund").reason == ""
    assert parse_overview_query({"sort": "amount"}, "refund").sort == "amount"
    assert parse_overview_query({"sort": "amount"}, "support").sort == "created"
    assert parse_overview_query({"sort": "id; DROP TABLE users"}, "support").sort == "created"
    assert parse_overview_query({"direction": "ASC"}, "support").direction == "desc"
    assert parse_overview_query({"size": "100"}, "support").size == 100
    assert parse_overview_query({"page_size": "10"}, "support").size == 10
    for bad in ("1000", "0", "-10", "10.0", "ten", "０10"):
        assert parse_overview_query({"size": bad}, "support").size == 25


def test_text_that_cannot_match_makes_the_query_match_nothing():
    assert parse_overview_query({"q": "x" * 255}, "support").matches_nothing
    assert parse_overview_query({"customer": "x" * 101}, "support").matches_nothing
    assert parse_overview_query({"order_id": "x" * 65}, "support").matches_nothing
    assert parse_overview_query({"q": "ORD-1\x00"}, "support").matches_nothing
    q = parse_overview_query({"q": "  ' OR 1=1 --  ", "customer": "x" * 100}, "support")
    assert not q.matches_nothing and q.q == "' OR 1=1 --"


@pytest.mark.parametrize("q,expected", [
    ("SC-000123", Search("case_number", "SC-000123")), ("sc-123", Search("case_number", "SC-000123")),
    ("SC123", Search("case_number", "SC-000123")), ("RF-45", Search("refund_number", "RF-000045")),
    ("SC-1234567", Search("case_number", "SC-1234567")), ("Ann@Example.COM", Search("email", "ann@example.com")),
    ("ORD-1001-1", Search("text", "ORD-1001-1", ("ord", "1001"))), ("SC-", Search("text", "SC-", ("sc",))),
    ("a@b@c", Search("text", "a@b@c", ())), ("SC-12a", Search("text", "SC-12a", ("sc", "12a"))),
    ("Kettle  arrived KETTLE", Search("text", "Kettle  arrived KETTLE", ("kettle", "arrived"))),
    ("Crème brûlée", Search("text", "Crème brûlée", ("creme", "brulee"))),
    ("a b c d e f g h", Search("text", "a b c d e f g h", ())),  # one-letter words are not subject words
    ("aa bb cc dd ee ff gg", Search("text", "aa bb cc dd ee ff gg", ())),  # more than 6 words: order id only
])
def test_search_classification(q, expected):
    assert classify_search(q) == expected


@pytest.mark.parametrize("text,expected", [
    ("Ann@Example.COM ", CustomerFilter(email="ann@example.com")),
    ("Kenji", CustomerFilter(words=("kenji",))),
    ("  ken  ANDER-son ", CustomerFilter(words=("ken", "ander", "son"))),
    ("Chloé O'Neil", CustomerFilter(words=("chloe", "o", "neil"))),
    ("ken KEN", CustomerFilter(words=("ken",))),
])
def test_customer_filter_classification(text, expected):
    assert classify_customer(text) == expected
    assert parse_overview_query({"customer": text}, "support").customer_filter == expected


def test_customer_text_without_words_or_with_too_many_matches_nothing():
    for text in ("!!!", "- -", "a b c d e f g"):
        q = parse_overview_query({"customer": text}, "support")
        assert q.matches_nothing and "customer" in q.problems
    assert not parse_overview_query({"customer": "a b c d e f"}, "support").matches_nothing


def test_cursor_round_trip():
    for value, sort in ((T, "created"), (T, "updated"), (1250, "amount")):
        for travel in ("next", "prev"):
            text = encode_cursor(value, 77, travel)
            assert decode_cursor(text, sort) == Cursor(value, 77, travel)
            assert "=" not in text and "+" not in text and "/" not in text
    q = parse_overview_query({"cursor": encode_cursor(T, 9, "next")}, "support")
    assert q.cursor == Cursor(T, 9, "next") and q.raw_cursor


def _forge(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


@pytest.mark.parametrize("text,sort", [
    ("", "created"), ("%%%", "created"), ("A" * 301, "created"), (_forge([T.isoformat(), 1, "next"]), "amount"),
    (_forge([1250, 1, "next"]), "created"), (_forge([T.isoformat(), 0, "next"]), "created"),
    (_forge([T.isoformat(), True, "next"]), "created"), (_forge([T.isoformat(), 1.5, "next"]), "created"),
    (_forge([T.isoformat(), 2**63, "next"]), "created"), (_forge([T.isoformat(), 1, "up"]), "created"),
    (_forge(["2026-03-04T05:06:07", 1, "next"]), "created"), (_forge([True, 1, "next"]), "amount"),
    (_forge([T.isoformat(), 1]), "created"), (_forge({"v": 1}), "created"), (_forge(["x" * 41, 1, "next"]), "created"),
    (base64.urlsafe_b64encode(b"\xff\xfe").decode(), "created"), ("e30", "created"),
])
def test_forged_cursors_are_ignored(text, sort):
    assert decode_cursor(text, sort) is None
    q = parse_overview_query({"cursor": text, "sort": sort}, "refund")
    assert q.cursor is None and q.raw_cursor == ""


def test_to_params_round_trips_and_drops_the_cursor_when_the_list_changes():
    raw = {"status": "requested,failed", "date_from": "2026-03-01", "date_to": "2026-03-09", "customer": "ann",
           "order_id": "ORD-1", "reason": "damaged", "amount_min": "1.5", "amount_max": "20", "q": "RF-7",
           "sort": "amount", "direction": "asc", "size": "50", "cursor": encode_cursor(1250, 3, "next")}
    q = parse_overview_query(raw, "refund")
    params = q.to_params()
    assert params == {**raw, "amount_min": "1.50", "amount_max": "20.00", "currency": "EUR"}
    assert parse_overview_query(params, "refund") == q
    assert q.to_params(cursor="abc")["cursor"] == "abc"
    assert "cursor" not in q.to_params(cursor="")
    changed = q.to_params(sort="updated")
    assert changed["sort"] == "updated" and "cursor" not in changed
    assert q.to_params(statuses=()).get("status") is None
