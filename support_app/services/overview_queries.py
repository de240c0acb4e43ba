"""The support-case and refund-case overviews: filtered, sorted, keyset-paginated.

How a page is read (the same for both lists):

1. The validated OverviewQuery (domain/overview_rules) becomes a list of SQLAlchemy
   conditions — bound parameters only, sort columns from a fixed map. Lookups that
   narrow a lot are resolved first into ids through unique/indexed columns: the order
   id (order_snapshots.order_id), a case or refund number, an exact email, and the
   customer text (email prefix or name prefix → at most CUSTOMER_MATCH_LIMIT user ids;
   text that matches more customers than that shows nothing and asks for more of it,
   rather than a partial list or a slow one).
2. Keys first: ``SELECT sort_key, id ... WHERE filters AND keyset ORDER BY sort_key, id
   LIMIT size + 1``, with the keyset written as ``k <= :v AND (k < :v OR id < :id)``
   (descending; mirrored for ascending) so the sort index serves it as a range on
   SQLite and PostgreSQL. One equality filter drives through its (column, sort key,
   id) index; the others are plain filters (see _Plan). Several statuses fan out into
   one such query per status, merged in Python, so no status combination makes the
   database sort the filtered set.
3. Then the rows for those ids, with their joins, in one query (overview_rows).

"prev" runs the key query the opposite way from the first row shown and reverses it;
if fewer than a page remain before it, page 1 is shown instead. The count is
``COUNT(*)`` over ``LIMIT COUNT_CAP + 1`` rows: exact up to the cap, "10,000+" above;
it also tells the plan whether the result is small enough to sort.
"""

from __future__ import annotations

import heapq
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, select

from support_app.domain.case_rules import Role
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.overview_rules import OverviewQuery, Search, encode_cursor
from support_app.models import OrderSnapshot, RefundCase, SupportCase, User
from support_app.services.overview_rows import refund_rows, support_rows
from support_app.services.overview_views import OverviewPage, RefundOverviewRow, SupportOverviewRow
from support_app.services.views import Caller

COUNT_CAP = 10_000
SORT_IN_MEMORY_LIMIT = 5_000  # a result up to this size may be sorted rather than read in index order
CUSTOMER_MATCH_LIMIT = 1_000  # more customers than this matching the customer text: "type more"
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_TOP = "\U0010ffff"  # above every character: [v, v + _TOP) holds exactly the strings starting with v


@dataclass(frozen=True)
class _Table:
    kind: str
    model: Any
    sorts: dict[str, Any]  # sort name → column (the allow-list; nothing else reaches ORDER BY)
    date_column: Any
    with_status: tuple[str, ...]  # driver columns with a (column, status) index: counts use it


SUPPORT = _Table(
    "support", SupportCase, {"created": SupportCase.created_at, "updated": SupportCase.updated_at},
    SupportCase.created_at, ("customer_id", "assignee_id"),
)
REFUND = _Table(
    "refund", RefundCase,
    {"created": RefundCase.requested_at, "updated": RefundCase.updated_at, "amount": RefundCase.amount},
    RefundCase.requested_at, ("customer_id",),
)


@dataclass
class _Term:
    rank: int  # lower narrows more (a number or an order, customer, assignee, status, reason)
    column: Any
    make: Callable[[Any], Any]  # the condition, on the column or on _unindexed(column)
    ordered: bool  # a single value with a (column, sort key, id) index: it reads in sort order


@dataclass
class _Plan:
    """Conditions of one overview query. One equality term drives (its index is used);
    the others are filters. A range on another column than the sort key may serve a
    small result, which is then sorted; on a dense result (more than
    SORT_IN_MEMORY_LIMIT rows) ranges and unordered terms are demoted to filters and an
    ordered index drives instead, so no page ever sorts a large set."""

    table: _Table
    sort_col: Any
    # Bounds on the sort key itself, (value, inclusive): merged with the keyset (below).
    low: tuple[Any, bool] | None = None
    high: tuple[Any, bool] | None = None
    ranges: list[tuple[Any, Callable[[Any], Any]]] = field(default_factory=list)
    terms: list[_Term] = field(default_factory=list)
    statuses: tuple[str, ...] = ()
    dense: bool = False

    def driver(self) -> _Term | None:
        terms = sorted(self.terms, key=lambda t: t.rank)
        if self.dense:
            terms = [t for t in terms if t.ordered]
        return terms[0] if terms else None

    @property
    def fanout(self) -> tuple[str, ...]:
        """Several statuses driving: one ordered index range per status, merged."""
        drv = self.driver()
        return self.statuses if drv is not None and drv.column is self.table.model.status and len(self.statuses) > 1 else ()

    def conds(self, *, for_count: bool = False) -> list:
        drv, fan = self.driver(), self.fanout
        out = [make(_unindexed(col) if self.dense else col) for col, make in self.ranges]
        # A count has no order to keep: the status may join a driver that has a
        # (driver, status) index, which then answers the count from the index alone.
        pair = for_count and drv is not None and drv.column.key in self.table.with_status
        for term in self.terms:
            if term is drv and fan and not for_count:
                continue  # _keys adds status = s per part
            plain = term is drv or (pair and term.column is self.table.model.status)
            out.append(term.make(term.column if plain else _unindexed(term.column)))
        return out


# -- public API ------------------------------------------------------------------


def support_case_overview(session: Session, caller: Caller, query: OverviewQuery) -> OverviewPage:
    return _overview(session, caller, query, SUPPORT, support_rows)


def refund_case_overview(session: Session, caller: Caller, query: OverviewQuery) -> OverviewPage:
    return _overview(session, caller, query, REFUND, refund_rows)


def iter_support_case_rows(session: Session, caller: Caller, query: OverviewQuery, batch: int = 1000) -> Iterator[SupportOverviewRow]:
    """Every row the overview would show (all pages, from the start; the query's
    cursor and page size are ignored), read in keyset batches of ``batch`` rows.
    Access is checked here, before the first row is asked for."""
    return _iterate(session, caller, query, SUPPORT, support_rows, batch)


def iter_refund_case_rows(session: Session, caller: Caller, query: OverviewQuery, batch: int = 1000) -> Iterator[RefundOverviewRow]:
    return _iterate(session, caller, query, REFUND, refund_rows, batch)


# -- the walk --------------------------------------------------------------------


def _overview(session: Session, caller: Caller, query: OverviewQuery, table: _Table, hydrate: Callable) -> OverviewPage:
    problems = dict(query.problems)
    plan = _plan(session, caller, query, table, problems)
    if plan is None:
        return OverviewPage([], "", "", "0", True, problems)
    total, exact = _count(session, plan)
    keys, has_prev, has_next = _page_keys(session, plan, query)
    return OverviewPage(
        rows=hydrate(session, caller, [k[1] for k in keys]),
        next_cursor=encode_cursor(keys[-1][0], keys[-1][1], "next") if keys and has_next else "",
        prev_cursor=encode_cursor(keys[0][0], keys[0][1], "prev") if keys and has_prev else "",
        count_text=f"{total:,}" if exact else f"{COUNT_CAP:,}+",
        total_is_exact=exact,
        problems=problems,
    )


def _page_keys(session: Session, plan: _Plan, query: OverviewQuery) -> tuple[list[tuple], bool, bool]:
    """(keys of the page in display order, is there a page before, is there one after).

    A page reached from a cursor has the cursor's row on the side it came from, so
    that side is taken to have a page without asking; should that row be gone by then,
    following the link shows page 1 rather than an error or an empty page."""
    size, desc, cursor = query.size, query.descending, query.cursor
    if cursor is not None and cursor.travel == "prev":
        got = _keys(session, plan, (cursor.value, cursor.id), not desc, size + 1)
        if len(got) >= size:
            return got[:size][::-1], len(got) > size, True
    elif cursor is not None:
        got = _keys(session, plan, (cursor.value, cursor.id), desc, size + 1)
        if got:
            return got[:size], True, len(got) > size
    got = _keys(session, plan, None, desc, size + 1)  # page 1 (also when a cursor leads nowhere)
    return got[:size], False, len(got) > size


def _keys(session: Session, plan: _Plan, after: tuple | None, descending: bool, limit: int) -> list[tuple]:
    """(sort value, id) of up to ``limit`` rows strictly after ``after`` in that order."""
    conds, fanout = plan.conds(), plan.fanout
    if not fanout:
        return _key_query(session, plan, conds, after, descending, limit)
    status = plan.table.model.status
    parts = [_key_query(session, plan, [*conds, status == s], after, descending, limit) for s in fanout]
    return list(islice(heapq.merge(*parts, reverse=descending), limit))


def _key_query(session: Session, plan: _Plan, conds: list, after: tuple | None, descending: bool, limit: int) -> list[tuple]:
    key, row_id = plan.sort_col, plan.table.model.id
    stmt = select(key, row_id).where(*conds)
    low, high = plan.low, plan.high
    if after is not None:
        # The keyset and a bound on the same side of the sort key: keep only the tighter
        # one, so the index range is bounded by it (SQLite uses one bound per side).
        value, last_id = after
        if descending:
            if high is None or value < high[0] or (value == high[0] and high[1]):
                stmt, high = stmt.where(key <= value, or_(key < value, row_id < last_id)), None
        elif low is None or value > low[0] or (value == low[0] and low[1]):
            stmt, low = stmt.where(key >= value, or_(key > value, row_id > last_id)), None
    if low is not None:
        stmt = stmt.where(key >= low[0] if low[1] else key > low[0])
    if high is not None:
        stmt = stmt.where(key <= high[0] if high[1] else key < high[0])
    order = (key.desc(), row_id.desc()) if descending else (key.asc(), row_id.asc())
    return [(v, i) for v, i in session.exec(stmt.order_by(*order).limit(limit))]


def _count(session: Session, plan: _Plan) -> tuple[int, bool]:
    model = plan.table.model
    plan.dense = False
    conds = plan.conds(for_count=True)
    key = plan.sort_col
    if plan.low is not None:
        conds.append(key >= plan.low[0] if plan.low[1] else key > plan.low[0])
    if plan.high is not None:
        conds.append(key <= plan.high[0] if plan.high[1] else key < plan.high[0])
    capped = select(model.id).where(*conds).limit(COUNT_CAP + 1).subquery()
    total = session.exec(select(func.count()).select_from(capped)).one()
    plan.dense = total > SORT_IN_MEMORY_LIMIT
    return (total, True) if total <= COUNT_CAP else (COUNT_CAP, False)


def _iterate(session: Session, caller: Caller, query: OverviewQuery, table: _Table, hydrate: Callable, batch: int) -> Iterator:
    batch = max(1, min(int(batch), 5000))
    plan = _plan(session, caller, query, table, {})  # raises FORBIDDEN now, not at the first row
    if plan is not None:
        _count(session, plan)

    def rows() -> Iterator:
        if plan is None:
            return
        after = None
        while True:
            keys = _keys(session, plan, after, query.descending, batch)
            yield from hydrate(session, caller, [k[1] for k in keys])
            if len(keys) < batch:
                return
            after = keys[-1]

    return rows()


# -- filters ---------------------------------------------------------------------


def _plan(session: Session, caller: Caller, query: OverviewQuery, table: _Table, problems: dict[str, str]) -> _Plan | None:
    """The conditions for this caller and query; None when nothing can match (or the
    customer text matches too many customers: then ``problems`` says so).

    Equality filters are ranked by how far they usually narrow (a number or order,
    then customer, assignee, status, reason); the first is the driver, served by its
    (column, sort key, id) index. The others stay plain filters, marked unindexed so
    SQLite, which has no statistics to go on, cannot drive by a weaker one instead
    (PostgreSQL, which has statistics, sees plain columns)."""
    if query.kind != table.kind:
        raise ValueError(f"a {query.kind} query given to the {table.kind} overview")
    m = table.model
    plan = _Plan(table, table.sorts[query.sort])
    eq = plan.terms
    if caller.role == Role.CUSTOMER:
        eq.append(_Term(2, m.customer_id, lambda c: c == caller.id, True))
    elif caller.role != Role.AGENT:
        raise DomainError(ErrorCode.FORBIDDEN)
    agent = caller.role == Role.AGENT
    if query.matches_nothing:
        return None
    # The date range is on the date the list is sorted by (updated, else created /
    # requested): a range on the sort key is part of the index range every page reads.
    date_column = m.updated_at if query.date_field == "updated" else table.date_column
    _add_range(plan, date_column, None if query.day_from is None else (query.day_from, True),
               None if query.day_before is None else (query.day_before, False))
    if query.order_id:
        snapshot_id = session.exec(select(OrderSnapshot.id).where(OrderSnapshot.order_id == query.order_id)).first()
        if snapshot_id is None:
            return None
        eq.append(_Term(1, m.order_snapshot_id, lambda c: c == snapshot_id, False))
    if agent and query.customer:
        customer = _customer_condition(session, query.customer)
        if customer is None:
            return None
        if customer == "too many":
            problems["customer"] = (f"More than {CUSTOMER_MATCH_LIMIT:,} customers match “{query.customer}”: "
                                    "type more of the name or the email.")
            return None
        eq.append(_Term(2, m.customer_id, customer, False))
    if table.kind == "support" and agent and query.assignee:
        assignee = query.assignee
        target = None if assignee == "none" else caller.id if assignee == "me" else int(assignee)
        eq.append(_Term(3, m.assignee_id, lambda c: c.is_(None) if target is None else c == target, True))
    if table.kind == "refund":
        if query.reason:
            eq.append(_Term(5, m.reason, lambda c: c == query.reason, True))
        _add_range(plan, m.amount, None if query.amount_min is None else (query.amount_min, True),
                   None if query.amount_max is None else (query.amount_max, True))
    search = query.search
    if search is not None:
        found = _search_condition(session, table, search)
        if found is None:
            return None
        eq.append(_Term(0, *found, found[0] is m.customer_id))
    if query.statuses:
        statuses = plan.statuses = query.statuses
        eq.append(_Term(4, m.status, lambda c: c == statuses[0] if len(statuses) == 1 else c.in_(statuses), True))
    return plan


def _add_range(plan: _Plan, column: Any, low: tuple[Any, bool] | None, high: tuple[Any, bool] | None) -> None:
    """Bounds (value, inclusive) on a column: on the sort key they become the plan's
    low/high (merged with the keyset); on another column, loose ranges."""
    if column is plan.sort_col:
        plan.low, plan.high = low or plan.low, high or plan.high
        return
    for bound, op in ((low, ">"), (high, "<")):
        if bound is not None:
            compare = _OPS[op + ("=" if bound[1] else "")]
            plan.ranges.append((column, lambda c, v=bound[0], cmp=compare: cmp(c, v)))


def _search_condition(session: Session, table: _Table, search: Search) -> tuple[Any, Callable[[Any], Any]] | None:
    """q as one exact match (column, condition), resolved through a unique column first."""
    m = table.model
    if search.kind == "order_id":
        snapshot_id = session.exec(select(OrderSnapshot.id).where(OrderSnapshot.order_id == search.value)).first()
        return None if snapshot_id is None else (m.order_snapshot_id, lambda c: c == snapshot_id)
    if search.kind == "email":
        user_id = session.exec(select(User.id).where(User.email == search.value)).first()
        return None if user_id is None else (m.customer_id, lambda c: c == user_id)
    if search.kind == "case_number" and table.kind == "support" or search.kind == "refund_number" and table.kind == "refund":
        return m.number, lambda c: c == search.value
    if search.kind == "case_number":  # the refunds of that support case
        case_id = session.exec(select(SupportCase.id).where(SupportCase.number == search.value)).first()
        return None if case_id is None else (m.support_case_id, lambda c: c == case_id)
    if search.kind == "refund_number":  # the support case that refund belongs to
        case_id = session.exec(select(RefundCase.support_case_id).where(RefundCase.number == search.value)).first()
        return None if case_id is None else (m.id, lambda c: c == case_id)
    return None


def _customer_condition(session: Session, text: str) -> Callable[[Any], Any] | str | None:
    """Customers whose email starts with the text (lower-cased; emails are stored
    lower-case) or whose name starts with it as typed, lower-case, Capitalised, Title
    Case or UPPER. Each alternative is the range [v, v + the highest character) on an
    indexed column, compared in code-point order: exactly the strings that start with
    v, whatever characters v holds (no LIKE, so no wildcards to escape)."""
    low = text.lower()
    pg = session.get_bind().dialect.name == "postgresql"

    def starts(column: Any, value: str):
        ranged = column.collate("C") if pg else column  # code-point order, whatever the database collation
        return and_(ranged >= value, ranged < value + _TOP)

    variants = dict.fromkeys([text, low, low.capitalize(), low.title(), text.upper()])
    match = and_(or_(starts(User.email, low), *(starts(User.full_name, v) for v in variants)), User.role == Role.CUSTOMER)
    ids = list(session.exec(select(User.id).where(match).limit(CUSTOMER_MATCH_LIMIT + 1)))
    if not ids:
        return None
    if len(ids) > CUSTOMER_MATCH_LIMIT:
        return "too many"
    return lambda c: c.in_(ids)


class _unindexed(FunctionElement):
    """The column itself; on SQLite written ``+column``, which keeps the planner from
    using an index for that condition (a documented SQLite idiom)."""

    inherit_cache = True

    def __init__(self, column: Any):
        super().__init__(column)
        self.type = column.type


@compiles(_unindexed)
def _plain(element: _unindexed, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_unindexed, "sqlite")
def _plus(element: _unindexed, compiler: Any, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)
