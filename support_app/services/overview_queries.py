"""The support-case and refund-case overviews: filtered, sorted, keyset-paginated.

How a page is read (the same for both lists):

1. The validated OverviewQuery (domain/overview_rules) becomes a list of SQLAlchemy
   conditions — bound parameters only, sort columns from a fixed map. Lookups that
   narrow a lot are resolved first into ids through unique/indexed columns: the order
   id (order_snapshots.order_id), a case or refund number, an exact email (through
   users.email_bidx: emails are encrypted). Name words (the customer filter) and
   subject words (``q``) go through the blind-indexed term tables (models/
   search_index): a word carried by few rows (at most ID_LIST_LIMIT ids) becomes an id
   list like any other narrow lookup ("sparse": few ids, read and sorted); a word
   carried by many (a common first name, "kettle") becomes a membership term
   (_Member) — a key probe into the term table per row, as a filter behind the sort
   index when the result is dense, or, while it is small, a join driven by the term's
   index range. Either way every page is bounded: no partial list, no "type more".
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
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

from sqlalchemy import and_, exists, func, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, select

from support_app.domain.case_rules import Role
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.overview_rules import CustomerFilter, OverviewQuery, Search, encode_cursor
from support_app.models import CaseSubjectTerm, CustomerNameTerm, OrderSnapshot, RefundCase, SupportCase, User
from support_app.models.search_index import NAME, SUBJECT, email_index, term_index
from support_app.services.overview_rows import refund_rows, support_rows
from support_app.services.overview_views import OverviewPage, RefundOverviewRow, SupportOverviewRow
from support_app.services.views import Caller

COUNT_CAP = 10_000
SORT_IN_MEMORY_LIMIT = 5_000  # a result up to this size may be sorted rather than read in index order
# A search word carried by at most this many customers / cases becomes an id list; a
# commoner one a membership term (see _Member).
ID_LIST_LIMIT = {"customer": 1_000, "case": SORT_IN_MEMORY_LIMIT}
WORD_COUNT_CAP = 50_000  # sizing a common word (and what it is weighed against) stops here
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


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


@dataclass(frozen=True)
class _Member:
    """Rows whose column is among the ids a term table (CustomerNameTerm, CaseSubjectTerm)
    lists under every blind index of ``bidxs``; the first is the rarest.

    As a filter: one ``EXISTS`` key probe of (term_bidx, id) per other term and row.
    As the driver of a small result: the join ``term JOIN rows ON row.column = +term.id``
    reads the first term's index range (the ``+`` keeps SQLite from turning it around)."""

    table: Any
    ref: str  # the term table's id column: user_id | case_id
    bidxs: tuple[str, ...]
    size: int  # ids under the first (rarest) term, counted up to WORD_COUNT_CAP

    def _probes(self, target: Any, skip_first: bool = False) -> list:
        out = []
        for n, bidx in enumerate(self.bidxs[1:] if skip_first else self.bidxs):
            t = self.table.__table__.alias(f"term_{n}")
            out.append(exists().where(t.c.term_bidx == bidx, t.c[self.ref] == target))
        return out

    def ids(self) -> Any:
        """SELECT the ids carrying every term, along the first term's index range."""
        t = self.table.__table__
        return select(t.c[self.ref]).where(t.c.term_bidx == self.bidxs[0], *self._probes(t.c[self.ref], skip_first=True))

    def condition(self, column: Any) -> Any:
        return and_(*self._probes(column))

    def join(self, stmt: Any, model: Any, column: Any) -> Any:
        t = self.table.__table__
        return (stmt.select_from(t).join(model, column == _unindexed(t.c[self.ref]))
                .where(t.c.term_bidx == self.bidxs[0], *self._probes(t.c[self.ref], skip_first=True)))


@dataclass
class _Term:
    rank: int  # lower narrows more (a number or an order, customer, assignee, status, reason; a common word: -1 drives)
    column: Any
    make: Callable[[Any], Any]  # the condition, on the column or on _unindexed(column)
    ordered: bool  # a single value with a (column, sort key, id) index: it reads in sort order
    member: _Member | None = None  # a common search word (see _Member)


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
        # A common word drives only when _weigh_member found it the narrowest (rank -1).
        terms = sorted((t for t in self.terms if t.member is None or t.rank < 0), key=lambda t: t.rank)
        if self.dense:
            terms = [t for t in terms if t.ordered]
        return terms[0] if terms else None

    def joined(self) -> _Term | None:
        """The driver when it is a membership term: the key and count queries join its table."""
        drv = self.driver()
        return drv if drv is not None and drv.member is not None else None

    @property
    def fanout(self) -> tuple[str, ...]:
        """Several statuses driving: one ordered index range per status, merged."""
        drv = self.driver()
        return self.statuses if drv is not None and drv.column is self.table.model.status and len(self.statuses) > 1 else ()

    def conds(self, *, for_count: bool = False) -> list:
        drv, fan, joined = self.driver(), self.fanout, self.joined()
        out = [make(_unindexed(col) if self.dense else col) for col, make in self.ranges]
        # A count has no order to keep: the status may join a driver that has a
        # (driver, status) index, which then answers the count from the index alone.
        # So may the key query of a small result driven by an id list (it is sorted
        # anyway): a few customers' cases in one status are a few index entries.
        pair = drv is not None and drv.column.key in self.table.with_status and (
            for_count or not (self.dense or drv.ordered))
        for term in self.terms:
            if term is drv and fan and not for_count:
                continue  # _keys adds status = s per part
            if term is joined:
                continue  # the join (_select) is the condition
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
    plan = _plan(session, caller, query, table)
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


def _select(plan: _Plan, *columns: Any) -> Any:
    """SELECT columns FROM the table — or FROM the driving term table joined to it."""
    stmt = select(*columns)
    joined = plan.joined()
    return stmt if joined is None else joined.member.join(stmt, plan.table.model, joined.column)


def _key_query(session: Session, plan: _Plan, conds: list, after: tuple | None, descending: bool, limit: int) -> list[tuple]:
    key, row_id = plan.sort_col, plan.table.model.id
    stmt = _select(plan, key, row_id).where(*conds)
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
    joined = plan.joined()
    if joined is not None and not conds and joined.column is model.id:
        # A common subject word and nothing else: one row per term entry, so the
        # term's index range alone is the count (no row is read).
        capped = joined.member.ids().limit(COUNT_CAP + 1).subquery()
    else:
        capped = _select(plan, model.id).where(*conds).limit(COUNT_CAP + 1).subquery()
    total = session.exec(select(func.count()).select_from(capped)).one()
    plan.dense = total > SORT_IN_MEMORY_LIMIT
    return (total, True) if total <= COUNT_CAP else (COUNT_CAP, False)


def _iterate(session: Session, caller: Caller, query: OverviewQuery, table: _Table, hydrate: Callable, batch: int) -> Iterator:
    batch = max(1, min(int(batch), 5000))
    plan = _plan(session, caller, query, table)  # raises FORBIDDEN now, not at the first row
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


def _plan(session: Session, caller: Caller, query: OverviewQuery, table: _Table) -> _Plan | None:
    """The conditions for this caller and query; None when nothing can match.

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
    customer = query.customer_filter
    if agent and customer is not None:
        term = _customer_term(session, m.customer_id, customer)
        if term is None:
            return None
        eq.append(term)
    if table.kind == "support" and agent and query.assignee:
        assignee = query.assignee
        target = None if assignee == "none" else caller.id if assignee == "me" else int(assignee)
        eq.append(_Term(3, m.assignee_id, lambda c: c.is_(None) if target is None else c == target, True))
    if table.kind == "support":  # (priority | category, sort key, id) indexes: migration 0009
        if query.priority:
            eq.append(_Term(5, m.priority, lambda c: c == query.priority, True))
        if query.category:
            eq.append(_Term(5, m.category, lambda c: c == query.category, True))
    if table.kind == "refund":
        if query.reason:
            eq.append(_Term(5, m.reason, lambda c: c == query.reason, True))
        _add_range(plan, m.amount, None if query.amount_min is None else (query.amount_min, True),
                   None if query.amount_max is None else (query.amount_max, True))
        if query.currency:  # amounts of one currency are the ones compared: (currency, amount, id) serves it
            eq.append(_Term(5, m.currency, lambda c, cur=query.currency: c == cur, query.sort == "amount"))
    search = query.search
    if search is not None:
        term = _search_term(session, table, search)
        if term is None:
            return None
        eq.append(term)
    if query.statuses:
        statuses = plan.statuses = query.statuses
        eq.append(_Term(4, m.status, lambda c: c == statuses[0] if len(statuses) == 1 else c.in_(statuses), True))
    _weigh_member(session, plan)
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


def _search_term(session: Session, table: _Table, search: Search) -> _Term | None:
    """q as one term, resolved through a unique or blind-indexed column first."""
    m = table.model
    if search.kind == "text":
        snapshot_id = session.exec(select(OrderSnapshot.id).where(OrderSnapshot.order_id == search.value)).first()
        if snapshot_id is not None:
            return _Term(0, m.order_snapshot_id, lambda c: c == snapshot_id, False)
        if not search.words:
            return None
        # Subject words: the support cases themselves, or the refunds of those cases.
        return _words_term(session, CaseSubjectTerm, "case_id", SUBJECT, search.words,
                           m.id if table.kind == "support" else m.support_case_id, 0)
    if search.kind == "email":
        user_id = session.exec(select(User.id).where(User.email_bidx == email_index(search.value))).first()
        return None if user_id is None else _Term(0, m.customer_id, lambda c: c == user_id, True)
    if search.kind == "case_number" and table.kind == "support" or search.kind == "refund_number" and table.kind == "refund":
        return _Term(0, m.number, lambda c: c == search.value, False)
    if search.kind == "case_number":  # the refunds of that support case
        case_id = session.exec(select(SupportCase.id).where(SupportCase.number == search.value)).first()
        return None if case_id is None else _Term(0, m.support_case_id, lambda c: c == case_id, False)
    if search.kind == "refund_number":  # the support case that refund belongs to
        case_id = session.exec(select(RefundCase.support_case_id).where(RefundCase.number == search.value)).first()
        return None if case_id is None else _Term(0, m.id, lambda c: c == case_id, False)
    return None


def _customer_term(session: Session, column: Any, customer: CustomerFilter) -> _Term | None:
    """One customer by exact email (its blind index), or the customers whose name has
    every typed word (as a word, or as a prefix for 3+ characters)."""
    if customer.email:
        user_id = session.exec(select(User.id).where(User.email_bidx == email_index(customer.email),
                                                     User.role == Role.CUSTOMER)).first()
        return None if user_id is None else _Term(2, column, lambda c: c == user_id, True)
    return _words_term(session, CustomerNameTerm, "user_id", NAME, customer.words, column, 2)


def _words_term(session: Session, terms: Any, ref: str, purpose: str, words: tuple[str, ...], column: Any,
                rank: int) -> _Term | None:
    """Rows whose ``column`` is among the ids carrying every word: an id list when they
    are few (ranked like any narrow lookup), else a membership term, which drives or
    filters as _weigh_member decides; None when no id has them all."""
    limit = ID_LIST_LIMIT["customer" if ref == "user_id" else "case"]
    t = terms.__table__
    bidxs = [term_index(purpose, w) for w in words]
    def size(bidx: str) -> int:  # from the term's index range alone
        return _capped_count(session, select(t.c[ref]).where(t.c.term_bidx == bidx), WORD_COUNT_CAP)

    sizes = {b: size(b) for b in bidxs} if len(bidxs) > 1 else {}
    bidxs.sort(key=lambda b: sizes.get(b, 0))  # rarest first: it drives, the others are probed
    member = _Member(terms, ref, tuple(bidxs), sizes.get(bidxs[0], 0))
    ids = list(session.exec(member.ids().limit(limit + 1)))
    if not ids:
        return None
    if len(ids) == 1:
        return _Term(rank, column, lambda c: c == ids[0], ref == "user_id")
    if len(ids) <= limit:
        return _Term(rank, column, lambda c: c.in_(ids), False)
    member = replace(member, size=member.size or size(bidxs[0]))
    return _Term(6, column, member.condition, False, member)


def _capped_count(session: Session, stmt: Any, cap: int) -> int:
    return session.exec(select(func.count()).select_from(stmt.limit(cap).subquery())).one()


def _weigh_member(session: Session, plan: _Plan) -> None:
    """A common word drives (a join from its term range) unless what would drive
    instead — the best other equality, or the range on the sort key — reads fewer
    rows: both are counted from an index alone, the other only up to the word's size.
    ("kettle" over the last week: the week drives and probes the word; "Kenji" among
    closed cases: Kenji's customers drive into (customer, status).)"""
    members = [t for t in plan.terms if t.member is not None]
    if not members:
        return
    word = min(members, key=lambda t: t.member.size)
    others = [t for t in plan.terms if t.member is None]
    m = plan.table.model
    if others:
        best = min(others, key=lambda t: t.rank)
        competitor = [best.make(best.column)]
    elif plan.low is not None or plan.high is not None:
        key = plan.sort_col
        competitor = [c for c in (
            None if plan.low is None else (key >= plan.low[0] if plan.low[1] else key > plan.low[0]),
            None if plan.high is None else (key <= plan.high[0] if plan.high[1] else key < plan.high[0])) if c is not None]
    else:
        competitor = []
    if not competitor or _capped_count(session, select(m.id).where(*competitor), word.member.size + 1) > word.member.size:
        word.rank = -1


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
