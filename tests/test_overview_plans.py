"""EXPLAIN QUERY PLAN for every statement the overviews run, on the schema the
migrations build (alembic upgrade head), for each sort, direction and filter.

What must hold (SQLite):
- no statement reads a table without an index (a bare ``SCAN <table>``);
- the key query of every page reads in index order — no ``USE TEMP B-TREE FOR ORDER
  BY`` — except where the driving condition picks out a small set (one order, one
  number, a name- or subject-word id list, a range on another column than the sort
  key, a common word's term range joined to the rows): the service only lets those
  drive while the capped count says the result has at most SORT_IN_MEMORY_LIMIT rows;
  above that (forced here with the limit at 0, "dense") they become filters and the
  sort index drives, so those cases are checked again dense and must then be in index
  order. Word searches run twice more with the id-list limits at 1, so every word is
  "common" (a membership term: key probes into the term tables, never a scan of them).
"""

from __future__ import annotations

import logging
import re

import pytest
from alembic import command
from sqlalchemy import event

from fixtures_db import alembic_config
from fixtures_overview import Who, make_data
from support_app.db import make_engine, session_scope
from support_app.domain.overview_rules import parse_overview_query
from support_app.services import overview_plan
from support_app.services import overview_queries as oq

FN = {"support": oq.support_case_overview, "refund": oq.refund_case_overview}
ITER = {"support": oq.iter_support_case_rows, "refund": oq.iter_refund_case_rows}
TABLES = {"support_cases", "refund_cases", "users", "order_snapshots", "customer_name_terms", "case_subject_terms"}
CUSTOMER = Who(3, "customer")

# (kind, params, caller, sorted-in-memory allowed while the result is small)
CASES = [
    ("support", {}, "agent", False),
    ("support", {"status": "open"}, "agent", False),
    ("support", {"status": "open,waiting_on_customer,resolved"}, "agent", False),
    ("support", {"assignee": "me"}, "agent", False),
    ("support", {"assignee": "none"}, "agent", False),
    ("support", {"assignee": "me", "status": "open,in_progress"}, "agent", False),
    ("support", {"date_from": "2026-03-02", "date_to": "2026-03-03"}, "agent", True),
    ("support", {"priority": "urgent"}, "agent", False),
    ("support", {"category": "billing", "status": "open"}, "agent", False),
    ("support", {"priority": "high", "category": "delivery"}, "agent", False),
    ("support", {"customer": "alice"}, "agent", True),
    ("support", {"customer": "chl o"}, "agent", True),
    ("support", {"customer": "cust00003@example.com", "status": "closed"}, "agent", False),
    ("support", {"customer": "alice", "status": "open,closed"}, "agent", True),
    ("support", {"q": "kettle"}, "agent", True),
    ("support", {"q": "broken mug", "assignee": "me"}, "agent", True),
    ("support", {"q": "cust00003@example.com"}, "agent", False),
    ("support", {"q": "SC-000005"}, "agent", True),
    ("support", {"q": "RF-000005"}, "agent", True),
    ("support", {"q": "ORD-000005"}, "agent", True),
    ("support", {"order_id": "ORD-000007", "status": "open"}, "agent", True),
    ("support", {}, "customer", False),
    ("support", {"status": "open,closed"}, "customer", False),
    ("support", {"date_from": "2026-03-02"}, "customer", True),
    ("refund", {}, "agent", False),
    ("refund", {"status": "requested"}, "agent", False),
    ("refund", {"status": "requested,approved,failed"}, "agent", False),
    ("refund", {"reason": "damaged"}, "agent", False),
    ("refund", {"reason": "damaged", "status": "refunded"}, "agent", False),
    ("refund", {"amount_min": "10", "amount_max": "30"}, "agent", True),
    ("refund", {"date_from": "2026-03-03"}, "agent", True),
    ("refund", {"currency": "EUR"}, "agent", True),
    ("refund", {"currency": "EUR", "status": "requested"}, "agent", False),
    ("refund", {"customer": "bob"}, "agent", True),
    ("refund", {"q": "lamp"}, "agent", True),
    ("refund", {"q": "kettle", "reason": "damaged"}, "agent", True),
    ("refund", {"q": "RF-000004"}, "agent", True),
    ("refund", {"q": "SC-000005"}, "agent", True),
    ("refund", {"q": "ORD-000005"}, "agent", True),
    ("refund", {}, "customer", False),
    ("refund", {"reason": "other", "amount_min": "5"}, "customer", True),
]
SORTS = {"support": ("created", "updated"), "refund": ("created", "updated", "amount")}
POINT = re.compile(r"order_id|SC-|RF-|ORD-|@")  # one order, number or email: never more than a handful of rows
WORDS = re.compile(r"'(customer|q)': '[a-z ]+'")  # name or subject words


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('plans') / 'plans.db'}"
    loggers = [logging.getLogger(), *(lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    saved = [(lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers]
    try:  # alembic/env.py runs logging.fileConfig; put the test run's logging back after
        command.upgrade(alembic_config(url), "head")
    finally:
        for lg, level, handlers, propagate, disabled in saved:
            lg.level, lg.handlers[:], lg.propagate, lg.disabled = level, handlers, propagate, disabled
        for lg in logging.Logger.manager.loggerDict.values():
            if isinstance(lg, logging.Logger) and lg not in loggers:
                lg.level, lg.handlers[:], lg.propagate = logging.NOTSET, [], True
    engine = make_engine(url)
    data = make_data(engine, 400, n_customers=40)
    yield engine, data
    engine.dispose()


def explain(engine, kind, params, caller) -> list[tuple[str, list[str]]]:
    """Run the overview (and its CSV walk) and EXPLAIN each SELECT it ran."""
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        query = parse_overview_query(params, kind)
        with session_scope(engine) as s:
            page = FN[kind](s, caller, query)
            if page.next_cursor:
                FN[kind](s, caller, parse_overview_query({**params, "cursor": page.next_cursor}, kind))
            list(ITER[kind](s, caller, query, batch=50))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    with engine.connect() as conn:
        return [(st, [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + st, p).all()]) for st, p in seen]


def is_key_query(statement: str) -> bool:
    return bool(re.match(r"\s*SELECT (support|refund)_cases\.\w+, (support|refund)_cases\.id\s+FROM", statement))


# A point lookup (one order, one number, one email) is never a dense result: those
# combinations are simply not generated.
PLAN_CASES = [(dense, common, *case) for case in CASES for dense in (False, True) for common in (False, True)
              if not (dense and POINT.search(" ".join(case[1].values())))
              and not (common and not WORDS.search(str(case[1])))]


@pytest.mark.parametrize("dense,common,kind,params,who,may_sort", PLAN_CASES,
                         ids=lambda v: str(v) if isinstance(v, dict) else None)
def test_every_overview_statement_uses_an_index(migrated, monkeypatch, dense, common, kind, params, who, may_sort):
    engine, data = migrated
    monkeypatch.setattr(oq, "SORT_IN_MEMORY_LIMIT", 0 if dense else 10**9)
    if common:
        monkeypatch.setattr(overview_plan, "ID_LIST_LIMIT", {"customer": 1, "case": 1})
    caller = data.agents[0] if who == "agent" else CUSTOMER
    for sort in SORTS[kind]:
        for direction in ("desc", "asc"):
            plans = explain(engine, kind, {**params, "sort": sort, "direction": direction}, caller)
            assert any(is_key_query(st) for st, _ in plans)
            for statement, plan in plans:
                where = f"{kind} {params} sort={sort} {direction}: {statement}\n{plan}"
                for line in plan:
                    m = re.match(r"SCAN (\w+)", line)
                    assert not (m and m.group(1) in TABLES and "INDEX" not in line), f"table scan — {where}"
                if is_key_query(statement) and not (may_sort and not dense):
                    assert not any("TEMP B-TREE FOR ORDER BY" in line for line in plan), f"sorts — {where}"
                    assert any("INDEX" in line for line in plan), where


def test_the_indexes_exist_after_the_migration(migrated):
    engine, _ = migrated
    with engine.connect() as conn:
        names = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'").scalars())
    for table, sorts in (("support_cases", ("created", "updated")), ("refund_cases", ("requested", "updated", "amount"))):
        for sort in sorts:
            assert f"ix_{table}_{sort}_id" in names
            for driver in ("status", "customer"):
                assert f"ix_{table}_{driver}_{sort}_id" in names
    assert {"ix_support_cases_assignee_created_id", "ix_support_cases_assignee_updated_id"} <= names
    assert "ix_users_full_name" not in names  # names are encrypted: searched through customer_name_terms
