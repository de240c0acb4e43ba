"""Support-case and refund-case overviews on a real SQLite file: keyset paging
forward and back (also while cases arrive between page loads), every filter and
sort against a plain sorted list, search, injection attempts, ownership, counts
and the CSV row generators. Data comes from fixtures_overview (300 cases, ~150
refunds, many timestamp and amount ties)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import delete, inspect
from sqlmodel import SQLModel, select

from fixtures_db import pg_engine, pg_url  # noqa: F401
from fixtures_overview import BASE, Who, add_cases, make_data
from support_app.db import make_engine, session_scope
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.overview_rules import parse_overview_query
from support_app.domain.search_terms import name_query, subject_query, words
from support_app.models import CaseSubjectTerm, OrderSnapshot, RefundCase, SupportCase, User
from support_app.services import overview_plan
from support_app.services import overview_queries as oq

FN = {"support": oq.support_case_overview, "refund": oq.refund_case_overview}
ITER = {"support": oq.iter_support_case_rows, "refund": oq.iter_refund_case_rows}
SORTS = [("support", s, d) for s in ("created", "updated") for d in ("desc", "asc")] + [
    ("refund", s, d) for s in ("created", "updated", "amount") for d in ("desc", "asc")]


@pytest.fixture
def data(engine):
    """Fresh data for the tests that write."""
    return make_data(engine, 300, n_customers=25)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One read-only database for the tests that only read."""
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('overviews') / 'shared.db'}")
    SQLModel.metadata.create_all(eng)
    yield eng, make_data(eng, 300, n_customers=25)
    eng.dispose()


@pytest.fixture(params=[False, True], ids=["sparse", "dense"])
def density(request, monkeypatch):
    """Run twice: as is, and with every result counted as dense (ranges and IN lists
    demoted to filters, the sort index driving) — both plans must give the same rows."""
    if request.param:
        monkeypatch.setattr(oq, "SORT_IN_MEMORY_LIMIT", 0)


def load(engine, kind, params=None, who=None):
    with session_scope(engine) as s:
        return FN[kind](s, who, parse_overview_query(params or {}, kind))


def reference(engine, kind) -> list[dict]:
    """Every row with what the filters look at, straight from the tables."""
    with session_scope(engine) as s:
        users = {u.id: u for u in s.exec(select(User))}
        orders = {o.id: o.order_id for o in s.exec(select(OrderSnapshot))}
        if kind == "support":
            return [dict(id=c.id, number=c.number, status=c.status, created=c.created_at, updated=c.updated_at,
                         customer_id=c.customer_id, assignee_id=c.assignee_id, order_id=orders[c.order_snapshot_id],
                         email=users[c.customer_id].email, name=users[c.customer_id].full_name, subject=c.subject,
                         priority=c.priority, category=c.category)
                    for c in s.exec(select(SupportCase))]
        cases = {c.id: c for c in s.exec(select(SupportCase))}
        return [dict(id=r.id, number=r.number, status=r.status, created=r.requested_at, updated=r.updated_at,
                     amount=r.amount, reason=r.reason, customer_id=r.customer_id, order_id=orders[r.order_snapshot_id],
                     case_number=cases[r.support_case_id].number, email=users[r.customer_id].email,
                     name=users[r.customer_id].full_name, subject=cases[r.support_case_id].subject)
                for r in s.exec(select(RefundCase))]


def named(text: str):
    """The reference meaning of the customer-name filter, on the decrypted name."""
    def keep(r, d=None) -> bool:
        have = words(r["name"])
        return all(any(w == q or (len(q) >= 3 and w.startswith(q)) for w in have) for q in name_query(text))
    return keep


def about(text: str):
    """The reference meaning of subject words in q, on the decrypted subject."""
    def keep(r, d=None) -> bool:
        return set(subject_query(text)) <= set(words(r["subject"]))
    return keep


def expect(rows, sort="created", direction="desc", keep=lambda r: True) -> list[int]:
    chosen = [r for r in rows if keep(r)]
    chosen.sort(key=lambda r: (r[sort], r["id"]), reverse=direction == "desc")
    return [r["id"] for r in chosen]


def walk(engine, kind, params, who) -> list[int]:
    """All pages forward, then all the way back; both ways must agree page by page."""
    pages, cursor = [], ""
    while True:
        page = load(engine, kind, {**params, "cursor": cursor} if cursor else params, who)
        assert len(page.rows) <= int(params.get("size", 25))
        assert bool(page.prev_cursor) == bool(pages), "only page 1 lacks a previous page"
        pages.append([r.id for r in page.rows])
        if not page.next_cursor:
            break
        assert page.next_cursor != cursor and len(pages) < 500, "paging does not advance"
        cursor = page.next_cursor
    back, cursor = [pages[-1]], page.prev_cursor
    while cursor:
        page = load(engine, kind, {**params, "cursor": cursor}, who)
        back.insert(0, [r.id for r in page.rows])
        cursor = page.prev_cursor
    assert back == pages
    ids = [i for p in pages for i in p]
    assert len(ids) == len(set(ids)), "a row appeared twice"
    return ids


# -- paging ------------------------------------------------------------------------


@pytest.mark.parametrize("kind,sort,direction", SORTS)
def test_every_sort_walks_forward_and_back_without_duplicates_or_gaps(shared, kind, sort, direction):
    engine, data = shared
    agent = data.agents[0]
    params = {"sort": sort, "direction": direction, "size": "10"}
    assert walk(engine, kind, params, agent) == expect(reference(engine, kind), sort, direction)


@pytest.mark.parametrize("kind,sort,direction", SORTS)
def test_cases_arriving_between_page_loads_cause_no_duplicates_or_gaps(engine, data, kind, sort, direction):
    agent = data.agents[0]
    original = expect(reference(engine, kind), sort, direction)
    params, cursor, seen, batch = {"sort": sort, "direction": direction, "size": "10"}, "", [], 0
    while True:
        page = load(engine, kind, {**params, "cursor": cursor} if cursor else params, agent)
        seen += [r.id for r in page.rows]
        # New cases land before, inside and after the range already paged through.
        batch += 1
        add_cases(engine, data, 4, seed=100 + batch, start=BASE.replace(day=batch % 7 + 1), refund_every=1)
        if not page.next_cursor:
            break
        assert page.next_cursor != cursor and batch < 500, "paging does not advance"
        cursor = page.next_cursor
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in set(original)] == original  # every original row, once, in order


def test_prev_near_the_start_shows_page_one(engine, data):
    agent = data.agents[0]
    first = load(engine, "support", {"size": "10"}, agent)
    second = load(engine, "support", {"size": "10", "cursor": first.next_cursor}, agent)
    gone = [r.id for r in first.rows][:3]
    with session_scope(engine, write=True) as s:  # three rows of page 1 go away
        s.exec(delete(RefundCase).where(RefundCase.support_case_id.in_(gone)))
        s.exec(delete(CaseSubjectTerm).where(CaseSubjectTerm.case_id.in_(gone)))
        s.exec(delete(SupportCase).where(SupportCase.id.in_(gone)))
    back = load(engine, "support", {"size": "10", "cursor": second.prev_cursor}, agent)
    assert [r.id for r in back.rows] == expect(reference(engine, "support"))[:10]
    assert back.prev_cursor == ""


def test_page_sizes(shared):
    engine, data = shared
    agent = data.agents[0]
    for size in (10, 25, 50, 100):
        assert len(load(engine, "support", {"size": str(size)}, agent).rows) == size
    assert len(load(engine, "support", {"size": "7"}, agent).rows) == 25  # not offered: default


# -- filters and search ------------------------------------------------------------

DAY2, DAY4 = datetime(2026, 3, 2, tzinfo=timezone.utc), datetime(2026, 3, 5, tzinfo=timezone.utc)
FILTERS = [
    ("support", {"status": "open"}, lambda r, d: r["status"] == "open"),
    ("support", {"status": "open,resolved,closed"}, lambda r, d: r["status"] in ("open", "resolved", "closed")),
    ("support", {"date_from": "2026-03-02", "date_to": "2026-03-04"}, lambda r, d: DAY2 <= r["created"] < DAY4),
    ("support", {"date_from": "2026-03-04", "date_to": "2026-03-02"}, lambda r, d: DAY2 <= r["created"] < DAY4),
    # Sorted by last update, the date range is on the last update too.
    ("support", {"date_from": "2026-03-04", "sort": "updated"}, lambda r, d: r["updated"] >= DAY4.replace(day=4)),
    ("refund", {"date_to": "2026-03-03", "sort": "updated", "direction": "asc"}, lambda r, d: r["updated"] < DAY4.replace(day=4)),
    ("refund", {"date_from": "2026-03-02", "date_to": "2026-03-03", "sort": "created", "size": "10"},
     lambda r, d: DAY2 <= r["created"] < DAY4.replace(day=4)),
    ("support", {"customer": "Cust00003@Example.com"}, lambda r, d: r["email"] == "cust00003@example.com"),
    ("support", {"customer": "ALICE"}, named("alice")),
    ("support", {"customer": "chl"}, named("chl")),  # a prefix of 3+ characters
    ("support", {"customer": "CHLOE o'neil"}, named("chloe o neil")),  # accents and case do not matter
    ("support", {"customer": "chloé smith_"}, named("chloe smith")),
    ("support", {"customer": "alice 100%"}, named("alice 100")),
    ("support", {"customer": "martin 7"}, named("martin 7")),  # a 1-2 character word: that whole word
    ("refund", {"customer": "bob"}, named("bob")),
    ("support", {"order_id": "ORD-000042"}, lambda r, d: r["order_id"] == "ORD-000042"),
    ("support", {"assignee": "me"}, lambda r, d: r["assignee_id"] == d.agents[0].id),
    ("support", {"assignee": "none"}, lambda r, d: r["assignee_id"] is None),
    ("support", {"assignee": "AGENT2"}, lambda r, d: r["assignee_id"] == d.agents[1].id),
    ("support", {"status": "open,in_progress", "assignee": "me", "sort": "updated"},
     lambda r, d: r["status"] in ("open", "in_progress") and r["assignee_id"] == d.agents[0].id),
    ("support", {"status": "closed", "customer": "Dupont", "date_from": "2026-03-02", "direction": "asc"},
     lambda r, d: r["status"] == "closed" and named("dupont")(r) and r["created"] >= DAY2),
    ("support", {"priority": "urgent"}, lambda r, d: r["priority"] == "urgent"),
    ("support", {"category": "billing", "sort": "updated", "direction": "asc"}, lambda r, d: r["category"] == "billing"),
    ("support", {"priority": "high", "category": "delivery", "status": "open,closed"},
     lambda r, d: r["priority"] == "high" and r["category"] == "delivery" and r["status"] in ("open", "closed")),
    ("support", {"priority": "low", "assignee": "none"}, lambda r, d: r["priority"] == "low" and r["assignee_id"] is None),
    ("refund", {"status": "requested,failed"}, lambda r, d: r["status"] in ("requested", "failed")),
    ("refund", {"reason": "damaged", "sort": "amount"}, lambda r, d: r["reason"] == "damaged"),
    ("refund", {"amount_min": "12.5", "amount_max": "30"}, lambda r, d: 1250 <= r["amount"] <= 3000),
    ("refund", {"amount_min": "100.00", "sort": "updated"}, lambda r, d: r["amount"] >= 10_000),
    # Bounds on the sort key itself, with many rows tied on the bound value.
    ("refund", {"amount_min": "12.5", "amount_max": "30", "sort": "amount", "direction": "asc"},
     lambda r, d: 1250 <= r["amount"] <= 3000),
    ("refund", {"amount_min": "13.50", "amount_max": "13.50", "sort": "amount"}, lambda r, d: r["amount"] == 1350),
    ("refund", {"amount_max": "13.50", "sort": "amount"}, lambda r, d: r["amount"] <= 1350),
    ("refund", {"date_from": "2026-03-03", "sort": "amount", "direction": "asc"}, lambda r, d: r["created"] >= DAY2.replace(day=3)),
    ("refund", {"customer": "cust00002@example.com", "status": "refunded,settled,failed", "amount_max": "29.99"},
     lambda r, d: r["email"] == "cust00002@example.com" and r["status"] in ("refunded", "settled", "failed") and r["amount"] <= 2999),
    ("refund", {"customer": "hana", "status": "requested,approved,refunded", "sort": "amount"},
     lambda r, d: named("hana")(r) and r["status"] in ("requested", "approved", "refunded")),
]


@pytest.mark.parametrize("kind,params,keep", FILTERS)
def test_each_filter_alone_and_combined(shared, density, kind, params, keep):
    engine, data = shared
    agent = data.agents[0]
    if params.get("assignee") == "AGENT2":
        params = {**params, "assignee": str(data.agents[1].id)}
    want = expect(reference(engine, kind), params.get("sort", "created"), params.get("direction", "desc"), lambda r: keep(r, data))
    assert want, "the data should give every filter something to find"
    assert walk(engine, kind, {**params, "size": "10"}, agent) == want
    assert load(engine, kind, params, agent).count_text == f"{len(want):,}"


SEARCHES = [
    ("support", "SC-000042", lambda r: r["number"] == "SC-000042"),
    ("support", "sc42", lambda r: r["number"] == "SC-000042"),
    ("support", "RF-000010", lambda r: r["number"] == "SC-000019"),  # the case refund 10 belongs to
    ("support", "ORD-000007", lambda r: r["order_id"] == "ORD-000007"),
    ("support", "Cust00003@Example.com", lambda r: r["email"] == "cust00003@example.com"),
    ("refund", "rf-000010", lambda r: r["number"] == "RF-000010"),
    ("refund", "SC-000019", lambda r: r["case_number"] == "SC-000019"),
    ("refund", "ORD-000019", lambda r: r["order_id"] == "ORD-000019"),
    ("refund", "cust00003@example.com", lambda r: r["email"] == "cust00003@example.com"),
    ("support", "kettle", about("kettle")),  # subject words: whole words, any case
    ("support", "MUG broken", about("mug broken")),
    ("refund", "Kettle", about("kettle")),  # the refunds of those cases
]


@pytest.mark.parametrize("kind,q,keep", SEARCHES)
def test_search_by_number_order_id_or_email(shared, kind, q, keep):
    engine, data = shared
    want = expect(reference(engine, kind), keep=keep)
    assert want
    assert walk(engine, kind, {"q": q, "size": "10"}, data.agents[0]) == want


COMMON = [  # with the id-list limits at 1, each of these words is "common": a membership term
    ("support", {"customer": "alice"}, named("alice")),
    ("support", {"customer": "Chlo o"}, named("chlo o")),
    ("support", {"customer": "alice", "status": "open,closed", "sort": "updated"},
     lambda r, d: named("alice")(r) and r["status"] in ("open", "closed")),
    ("support", {"customer": "bob", "assignee": "none", "direction": "asc"}, lambda r, d: named("bob")(r) and r["assignee_id"] is None),
    ("support", {"q": "kettle"}, lambda r, d: about("kettle")(r)),
    ("support", {"q": "broken mug", "customer": "chen"}, lambda r, d: about("broken mug")(r) and named("chen")(r)),
    ("support", {"q": "kettle", "date_from": "2026-03-03", "date_to": "2026-03-04"},
     lambda r, d: about("kettle")(r) and DAY2.replace(day=3) <= r["created"] < DAY4),
    ("refund", {"customer": "erin", "sort": "amount"}, named("erin")),
    ("refund", {"q": "lamp", "reason": "damaged"}, lambda r, d: about("lamp")(r) and r["reason"] == "damaged"),
    ("refund", {"q": "lamp", "amount_min": "20"}, lambda r, d: about("lamp")(r) and r["amount"] >= 2000),
]


@pytest.mark.parametrize("kind,params,keep", COMMON)
def test_common_name_and_subject_words_show_every_match(shared, density, monkeypatch, kind, params, keep):
    """A word many rows carry (a common first name among 100k customers) shows its rows
    page by page like any filter, through the term table — no "type more"."""
    engine, data = shared
    monkeypatch.setattr(overview_plan, "ID_LIST_LIMIT", {"customer": 1, "case": 1})
    agent = data.agents[0]
    want = expect(reference(engine, kind), params.get("sort", "created"), params.get("direction", "desc"), lambda r: keep(r, data))
    assert len(want) > 1
    assert walk(engine, kind, {**params, "size": "10"}, agent) == want
    page = load(engine, kind, params, agent)
    assert page.count_text == f"{len(want):,}" and not page.problems
    with session_scope(engine) as s:
        assert [r.id for r in ITER[kind](s, agent, parse_overview_query(params, kind), batch=4)] == want


@pytest.mark.parametrize("q", ["SC-999999", "RF-999999", "nobody@example.com", "ORD-404"])
def test_search_that_finds_nothing(shared, q):
    engine, data = shared
    for kind in FN:
        page = load(engine, kind, {"q": q}, data.agents[0])
        assert (page.rows, page.count_text, page.next_cursor) == ([], "0", "")


# -- hostile input -----------------------------------------------------------------

NASTY = ["' OR 1=1 --", "id; DROP TABLE users", "\" OR \"\"=\"", "%", "_", "*", "\\", "☃ cust😀", "\x00", "a" * 10_000,
         "created_at; DELETE FROM support_cases", "1) OR (1=1", "ORD-000001' --"]


@pytest.mark.parametrize("field", ["q", "customer", "order_id"])
@pytest.mark.parametrize("value", NASTY)
def test_injection_in_text_is_literal_and_finds_nothing(shared, field, value):
    engine, data = shared
    for kind in FN:
        page = load(engine, kind, {field: value}, data.agents[0])
        assert page.rows == [] and page.count_text == "0"
    assert "users" in inspect(engine).get_table_names()
    assert len(reference(engine, "support")) == 300


@pytest.mark.parametrize("field", ["sort", "direction", "size", "cursor", "status", "assignee", "reason", "amount_min",
                                   "date_from"])
@pytest.mark.parametrize("value", NASTY + [["created", "' OR 1=1"], 42, None, {"x": 1}])
def test_injection_in_choices_is_validated_away(shared, field, value):
    engine, data = shared
    agent = data.agents[0]
    for kind in FN:
        default = load(engine, kind, {}, agent)
        page = load(engine, kind, {field: value}, agent)
        assert [r.id for r in page.rows] == [r.id for r in default.rows]
        assert page.count_text == default.count_text


def test_forged_cursors_start_from_page_one(shared):
    engine, data = shared
    import base64
    import json

    def forge(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    agent = data.agents[0]
    first = [r.id for r in load(engine, "support", {}, agent).rows]
    for cursor in [forge(["2026-03-01T00:00:00+00:00", "1 OR 1=1", "next"]), forge([1, 2, "next"]),
                   forge(["2026-03-01T00:00:00", 5, "next"]), forge(["x", 5, "next"]), forge([None, 5, "prev"]),
                   forge(["2026-03-01T00:00:00+00:00", 5, "sideways"]), forge({"a": 1}), forge([1, 2]),
                   forge(["2026-03-01T00:00:00+00:00", 2**70, "next"]), "!!!", "e30", "A" * 5000]:
        assert [r.id for r in load(engine, "support", {"cursor": cursor}, agent).rows] == first
    assert load(engine, "refund", {"sort": "amount", "cursor": forge(["2026-03-01T00:00:00+00:00", 5, "next"])},
                agent).prev_cursor == ""  # a date where an amount belongs: page 1


# -- who sees what -----------------------------------------------------------------


@pytest.mark.parametrize("kind", FN)
def test_a_customer_sees_only_their_own_cases(shared, density, kind):
    engine, data = shared
    ref = reference(engine, kind)
    other = data.customers[1]
    for me in data.customers[:6]:
        mine = expect(ref, keep=lambda r: r["customer_id"] == me.id)
        assert walk(engine, kind, {"size": "10"}, me) == mine
        # Filters that would reach other customers' rows do not widen anything.
        for params in ({"customer": other.email}, {"customer": "cust"}, {"assignee": "none"}):
            assert [r.id for r in load(engine, kind, {**params, "size": "100"}, me).rows] == mine[:100]
        theirs = next(r for r in ref if r["customer_id"] != me.id)
        for q in (theirs["number"], theirs["order_id"], theirs["email"]):
            assert load(engine, kind, {"q": q}, me).rows == []
        with session_scope(engine) as s:
            rows = list(ITER[kind](s, me, parse_overview_query({}, kind), batch=3))
        assert [r.id for r in rows] == mine
        assert all(r.customer_email == "" for r in rows)


@pytest.mark.parametrize("kind", FN)
def test_only_customers_and_agents_may_look(shared, kind):
    engine, data = shared
    stranger = Who(999, "auditor")
    with session_scope(engine) as s:
        with pytest.raises(DomainError) as err:
            FN[kind](s, stranger, parse_overview_query({}, kind))
        assert err.value.code is ErrorCode.FORBIDDEN
        with pytest.raises(DomainError):
            ITER[kind](s, stranger, parse_overview_query({}, kind))  # refused before any row is read
        with pytest.raises(ValueError):
            FN[kind](s, data.agents[0], parse_overview_query({}, "refund" if kind == "support" else "support"))


def test_agents_see_emails_and_names(shared):
    engine, data = shared
    row = load(engine, "support", {"q": "SC-000001"}, data.agents[0]).rows[0]
    assert row.customer_email.endswith("@example.com") and row.customer_name and row.order_id == "ORD-000001"
    assert row.created_at.endswith("Z") and row.status_label
    refund = load(engine, "refund", {"q": "RF-000001"}, data.agents[0]).rows[0]
    assert refund.case_number == "SC-000001" and refund.amount.startswith("€") and refund.reason_label


# -- counting and CSV --------------------------------------------------------------


def test_count_is_exact_under_the_cap_and_capped_above(shared, monkeypatch):
    engine, data = shared
    agent = data.agents[0]
    page = load(engine, "support", {"status": "open"}, agent)
    assert page.total_is_exact and page.count_text == str(sum(r["status"] == "open" for r in reference(engine, "support")))
    monkeypatch.setattr(oq, "COUNT_CAP", 50)
    page = load(engine, "support", {}, agent)
    assert (page.count_text, page.total_is_exact) == ("50+", False)
    assert len(walk(engine, "support", {"size": "100"}, agent)) == 300  # the cap limits counting, not paging
    few = load(engine, "support", {"q": "SC-000001"}, agent)
    assert (few.count_text, few.total_is_exact) == ("1", True)


@pytest.mark.parametrize("kind,sort,direction", SORTS[:2] + SORTS[4:6])
def test_csv_generators_walk_every_row_in_bounded_batches(shared, kind, sort, direction):
    engine, data = shared
    params = {"sort": sort, "direction": direction, "status": "open,closed,requested,refunded", "cursor": "junk"}
    query = parse_overview_query(params, kind)
    with session_scope(engine) as s:
        rows = ITER[kind](s, data.agents[0], query, batch=7)
        assert next(rows).id  # a generator, one batch at a time
    with session_scope(engine) as s:
        ids = [r.id for r in ITER[kind](s, data.agents[0], query, batch=7)]
    assert ids == walk(engine, kind, {**params, "cursor": "", "size": "10"}, data.agents[0])


@pytest.mark.postgres
@pytest.mark.parametrize("dense", [False, True])
def test_the_same_on_postgresql(pg_engine, monkeypatch, dense):
    """Keyset, fan-out, name and subject words (id lists and, with the limits at 1,
    membership terms) and counts agree with the plain sorted list on PostgreSQL too."""
    monkeypatch.setattr(oq, "SORT_IN_MEMORY_LIMIT", 0 if dense else 10**9)
    data = make_data(pg_engine, 120, n_customers=12)
    agent, ref = data.agents[0], {k: reference(pg_engine, k) for k in FN}
    for kind, sort, direction in SORTS:
        params = {"sort": sort, "direction": direction, "size": "10"}
        assert walk(pg_engine, kind, params, agent) == expect(ref[kind], sort, direction)
    for kind, params, keep in FILTERS:
        if "assignee" not in params:
            want = expect(ref[kind], params.get("sort", "created"), params.get("direction", "desc"), lambda r: keep(r, data))
            assert walk(pg_engine, kind, {**params, "size": "10"}, agent) == want, params
    for kind, q, keep in SEARCHES:
        if "@" not in q and "-" not in q:  # the subject words
            assert walk(pg_engine, kind, {"q": q, "size": "10"}, agent) == expect(ref[kind], keep=keep), q
    monkeypatch.setattr(overview_plan, "ID_LIST_LIMIT", {"customer": 1, "case": 1})
    for kind, params, keep in COMMON:
        want = expect(ref[kind], params.get("sort", "created"), params.get("direction", "desc"), lambda r: keep(r, data))
        assert walk(pg_engine, kind, {**params, "size": "10"}, agent) == want, params
    me = data.customers[0]
    assert walk(pg_engine, "refund", {"size": "10"}, me) == expect(ref["refund"], keep=lambda r: r["customer_id"] == me.id)
