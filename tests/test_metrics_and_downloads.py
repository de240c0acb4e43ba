"""Metrics numbers on a real SQLite file, and the short-lived download tokens."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import csv
import io
import re

import pytest

from fixtures_db import (  # noqa: F401
    code_of, order_client, orders_server, orders_server_session, people, run,
)
from fixtures_gateway import gateway_client_for, gateway_server, gateway_server_session, webhook_receiver  # noqa: F401
from support_app.db import session_scope
from support_app.domain.errors import DomainError, ErrorCode
from support_app.models import RefundAttempt, SupportCase
from support_app.kv import MemoryKV
from support_app.security import tokens
from support_app.services import auth_service as auth
from support_app.domain.money import decimal_text
from support_app.services.exports import csv_stream, export_link
from support_app.services import case_commands as cmd
from support_app.services import metrics as m
from support_app.services import refund_commands as rc
from support_app.services import refund_review as review
from test_exactly_once import send_due

CASE = dict(subject="Cracked mug", description="The blue mug arrived cracked in two.", category="damaged_item")


def test_metrics_count_cases_refunds_and_money(engine, people, order_client, gateway_server):
    first = run(engine, cmd.create_case, people.alice, "ORD-1001-1", client=order_client, **CASE)
    run(engine, cmd.create_case, people.bob, "ORD-1002-1", client=order_client, **CASE)
    run(engine, cmd.add_message, people.sam, first, "Looking into it")
    run(engine, cmd.change_status, people.sam, first, "in_progress")
    run(engine, cmd.change_status, people.sam, first, "resolved")
    refund_id = run(engine, rc.request_refund, people.alice, first, {"L1": 2}, "damaged", "", "metrics-key-1")
    run(engine, rc.request_refund, people.alice, first, {"L2": 1}, "changed_mind", "", "metrics-key-2")
    attempt = run(engine, review.approve_refund, people.sam, refund_id)
    with gateway_client_for(gateway_server.url) as client:
        assert send_due(engine, client) == {attempt.attempt_id: "succeeded"}

    got = run(engine, m.metrics, people.sam, 30, write=False)
    today = datetime.now(timezone.utc).strftime("%m-%d")
    day = next(d for d in got.per_day if d["day"] == today)
    assert (day["opened"], day["resolved"], day["refund_requests"]) == (2, 1, 2)
    [eur] = got.refunded
    assert (eur.currency, eur.total, eur.total_minor) == ("EUR", "€27.77", 2777)
    assert next(d for d in eur.per_day if d["day"] == today)["amount"] == 27.77
    reasons = {r["reason"]: r for r in got.by_reason}
    assert reasons["Arrived damaged"]["refunded"] == 1 and reasons["Arrived damaged"]["rate"] == 100.0
    assert reasons["Changed my mind"]["refunded"] == 0 and reasons["Changed my mind"]["rate"] == 0
    # Seconds apart in this test: shown in seconds, not as "0.0 h".
    assert re.fullmatch(r"\d+(\.\d)? s", got.median_first_response), got.median_first_response
    assert re.fullmatch(r"\d+(\.\d)? s", got.median_resolution) and got.median_approve_to_refunded.endswith(" s")
    kinds = [(o.kind, o.number) for o in got.oldest]
    assert ("case", "SC-000002") in kinds and ("refund", "RF-000002") in kinds  # still open / requested
    assert ("case", "SC-000001") not in kinds  # resolved is not open
    assert len(got.per_day) == 30


def test_metrics_keep_each_currency_apart(engine, people, order_client, gateway_server):
    """A $37.89 refund beside a €27.77 one: two totals and two series, never one sum."""
    case_eur = run(engine, cmd.create_case, people.alice, "ORD-1001-1", client=order_client, **CASE)
    case_usd = run(engine, cmd.create_case, people.bob, "ORD-1002-2", client=order_client, **CASE)
    eur_refund = run(engine, rc.request_refund, people.alice, case_eur, {"L1": 2}, "damaged", "", "cur-key-1")
    usd_refund = run(engine, rc.request_refund, people.bob, case_usd, {"L1": 1}, "damaged", "", "cur-key-2")
    sent = {run(engine, review.approve_refund, people.sam, r).attempt_id for r in (eur_refund, usd_refund)}
    with gateway_client_for(gateway_server.url) as client:
        assert send_due(engine, client) == {a: "succeeded" for a in sent}

    got = run(engine, m.metrics, people.sam, 7, write=False)
    by = {r.currency: r for r in got.refunded}
    assert list(by) == ["EUR", "USD"]
    assert (by["EUR"].total, by["EUR"].total_minor) == ("€27.77", 2777)
    assert (by["USD"].total, by["USD"].total_minor) == ("$37.89", 3789)
    today = datetime.now(timezone.utc).strftime("%m-%d")
    assert [d["amount"] for d in by["USD"].per_day if d["day"] == today] == [37.89]
    assert sum(d["amount"] for d in by["USD"].per_day) == 37.89  # nothing of the euros in it
    assert len(by["USD"].per_day) == len(got.per_day)  # the same days on every chart


def test_each_currency_total_is_the_sum_of_its_chart_at_the_edges_of_the_period(engine, people, order_client, gateway_server):
    """The period is whole UTC days, today included: a refund in the first second of the
    first day is in the total and on the chart; one a second earlier is in neither."""
    case_usd = run(engine, cmd.create_case, people.bob, "ORD-1002-2", client=order_client, **CASE)
    usd_refund = run(engine, rc.request_refund, people.bob, case_usd, {"L1": 1}, "damaged", "", "edge-key-1")
    attempt = run(engine, review.approve_refund, people.sam, usd_refund)
    with gateway_client_for(gateway_server.url) as client:
        assert send_due(engine, client) == {attempt.attempt_id: "succeeded"}
    first_day = datetime.combine(datetime.now(timezone.utc).date() - timedelta(days=6), time.min, tzinfo=timezone.utc)
    for at, inside in ((first_day, True), (first_day - timedelta(seconds=1), False)):
        with session_scope(engine, write=True) as s:
            row = s.get(RefundAttempt, attempt.attempt_id)
            row.updated_at = at
            s.add(row)
        got = run(engine, m.metrics, people.sam, 7, write=False)
        assert len(got.per_day) == 7 and got.per_day[0]["day"] == first_day.strftime("%m-%d")
        usd = [r for r in got.refunded if r.currency == "USD"]
        if inside:
            assert usd[0].total_minor == 3789 and sum(d["amount"] for d in usd[0].per_day) == 37.89
            assert usd[0].per_day[0]["amount"] == 37.89
        else:
            assert usd == []


def test_a_three_minute_first_response_reads_3_min(engine, people, order_client, monkeypatch):
    case_id = run(engine, cmd.create_case, people.alice, "ORD-1001-1", client=order_client, **CASE)
    with session_scope(engine, write=True) as s:
        case = s.get(SupportCase, case_id)
        case.first_response_at = case.created_at + timedelta(minutes=3)
        case.resolved_at = case.created_at + timedelta(hours=2, minutes=30)
    got = run(engine, m.metrics, people.sam, 30, write=False)
    assert (got.median_first_response, got.median_resolution) == ("3 min", "2.5 h")
    assert got.median_approve_to_refunded == "—"  # nothing refunded: nothing to show


def test_metrics_are_for_agents_only(engine, people):
    assert code_of(engine, m.metrics, people.alice, 30, write=False) is ErrorCode.FORBIDDEN


def test_a_download_link_works_once_for_its_own_sign_in_while_it_lasts(engine, people, order_client):
    run(engine, cmd.create_case, people.alice, "ORD-1001-1", client=order_client, **CASE)
    kv = MemoryKV()
    signed_in = auth.sign_in("agent@example.com", "demo-pass-2026", "c1", kv=kv, engine=engine)
    family = tokens.decode_session(signed_in.session_token).family_id
    agent = auth.Identity(people.sam.id, "agent", family)
    token = parse_qs(urlparse(export_link(agent, "cases", {"status": "open"})).query)["token"][0]

    def download(tok: str, fam: str) -> str:
        return "".join(csv_stream(tok, fam, "cases", {"status": "open"}, kv=kv, engine=engine))

    with pytest.raises(DomainError) as other:
        download(token, "another-sign-in")  # a copied link, used with someone else's cookie
    assert other.value.code is ErrorCode.TOKEN_INVALID
    text = download(token, family)
    assert "SC-000001" in text and text.count("\n") == 2
    with pytest.raises(DomainError) as again:
        download(token, family)
    assert "already used" in again.value.message
    second = parse_qs(urlparse(export_link(agent, "cases", {})).query)["token"][0]
    run(engine, auth.sign_out, signed_in.session_token, kv=kv)
    with pytest.raises(DomainError) as ended:
        download(second, family)
    assert ended.value.code is ErrorCode.TOKEN_REVOKED


def _link(engine, people, kind: str, params: dict, kv: MemoryKV) -> tuple[str, str]:
    signed_in = auth.sign_in("agent@example.com", "demo-pass-2026", "c1", kv=kv, engine=engine)
    family = tokens.decode_session(signed_in.session_token).family_id
    agent = auth.Identity(people.sam.id, "agent", family)
    return parse_qs(urlparse(export_link(agent, kind, params)).query)["token"][0], family


def test_csv_has_a_bom_and_human_headers_and_still_streams(engine, people, order_client):
    for n in range(3):
        run(engine, cmd.create_case, people.alice, "ORD-1001-1", client=order_client, **{**CASE, "subject": f"Crème brûlée {n}"})
    kv = MemoryKV()
    token, family = _link(engine, people, "cases", {}, kv)
    chunks = list(csv_stream(token, family, "cases", {}, batch=1, kv=kv, engine=engine))
    assert len(chunks) >= 3  # a chunk per batch: streamed, never built whole
    assert chunks[0].startswith("\ufeff") and not any("\ufeff" in c for c in chunks[1:])  # one BOM, first
    data = "".join(chunks).encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")  # what Excel looks for
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(rows[0]) == ["Case", "Status", "Subject", "Category", "Priority", "Customer", "Customer email", "Order",
                             "Assignee", "Created (UTC)", "Updated (UTC)"]
    assert {(r["Status"], r["Priority"], r["Category"], r["Customer email"]) for r in rows} == {
        ("Open", "Normal", "Damaged item", "alice@example.com")}
    assert sorted(r["Subject"] for r in rows) == ["Crème brûlée 0", "Crème brûlée 1", "Crème brûlée 2"]


def test_refund_csv_amounts_are_decimals_beside_their_currency(engine, people, order_client):
    case_id = run(engine, cmd.create_case, people.bob, "ORD-1002-2", client=order_client, **CASE)
    run(engine, rc.request_refund, people.bob, case_id, {"L1": 1}, "damaged", "", "csv-key-1")
    kv = MemoryKV()
    token, family = _link(engine, people, "refunds", {}, kv)
    text = "".join(csv_stream(token, family, "refunds", {}, kv=kv, engine=engine))
    [row] = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert (row["Refund"], row["Status"], row["Reason"], row["Amount"], row["Currency"]) == (
        "RF-000001", "Requested", "Arrived damaged", "37.89", "USD")
    assert list(row) == ["Refund", "Status", "Reason", "Amount", "Currency", "Customer", "Customer email", "Order", "Case",
                         "Assignee", "Requested (UTC)", "Updated (UTC)"]


@pytest.mark.parametrize("minor,currency,text", [(2777, "EUR", "27.77"), (5, "USD", "0.05"), (-1050, "EUR", "-10.50"),
                                                 (500, "JPY", "500"), (12345, "KWD", "12.345")])
def test_decimal_amounts_are_exact(minor, currency, text):
    assert decimal_text(minor, currency) == text


def test_download_tokens_are_for_one_purpose_and_two_minutes():
    token = tokens.create_download_token(7, "fam", "cases.csv")
    assert tokens.decode_download_token(token, "cases.csv").user_id == 7
    with pytest.raises(DomainError) as wrong:
        tokens.decode_download_token(token, "refunds.csv")
    assert wrong.value.code is ErrorCode.TOKEN_INVALID
    old = tokens.create_download_token(7, "fam", "cases.csv", now=datetime.now(timezone.utc) - timedelta(minutes=5))
    with pytest.raises(DomainError) as expired:
        tokens.decode_download_token(old, "cases.csv")
    assert expired.value.code is ErrorCode.TOKEN_EXPIRED
    access, _ = tokens.create_access_token(7, "agent")
    with pytest.raises(DomainError) as typ:
        tokens.decode_download_token(access, "cases.csv")  # an access token is not a download token
    assert typ.value.code is ErrorCode.TOKEN_INVALID
