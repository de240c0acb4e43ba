"""How an overview query becomes conditions (the plan), for overview_queries to walk.

The validated OverviewQuery (domain/overview_rules) becomes a list of SQLAlchemy
conditions — bound parameters only, sort columns from a fixed map. Lookups that narrow
a lot are resolved first into ids through unique/indexed columns: the order id
(order_snapshots.order_id), a case or refund number, an exact email (through
users.email_bidx: emails are encrypted). Name words (the customer filter) and subject
words (``q``) go through the blind-indexed term tables (models/search_index): a word
carried by few rows (at most ID_LIST_LIMIT ids) becomes an id list like any other
narrow lookup ("sparse": few ids, read and sorted); a word carried by many (a common
first name, "kettle") becomes a membership term (Member) — a key probe into the term
table per row, as a filter behind the sort index when the result is dense, or, while it
is small, a join driven by the term's index range. One equality term drives (its
index is used); the others are filters, marked unindexed on SQLite (see Plan).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import and_, exists, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, select

from support_app.domain.case_rules import Role
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.overview_rules import CustomerFilter, OverviewQuery, Search
from support_app.models import CaseSubjectTerm, CustomerNameTerm, OrderSnapshot, RefundCase, SupportCase, User
from support_app.models.search_index import NAME, SUBJECT, email_index, term_index
from support_app.services.views import Caller

SORT_IN_MEMORY_LIMIT = 5_000  # a result up to this size may be sorted rather than read in index order
# A search word carried by at most this many customers / cases becomes an id list; a
# commoner one a membership term (see Member).
ID_LIST_LIMIT = {"customer": 1_000, "case": SORT_IN_MEMORY_LIMIT}
WORD_COUNT_CAP = 50_000  # sizing a common word (and what it is weighed against) stops here
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class Table:
    kind: str
    model: Any
    sorts: dict[str, Any]  # sort name → column (the allow-list; nothing else reaches ORDER BY)
    date_column: Any
    with_status: tuple[str, ...]  # driver columns with a (column, status) index: counts use it


SUPPORT = Table(
    "support", SupportCase, {"created": SupportCase.created_at, "updated": SupportCase.updated_at},
    SupportCase.created_at, ("customer_id", "assignee_id"),
)
REFUND = Table(
    "refund", RefundCase,
    {"created": RefundCase.requested_at, "updated": RefundCase.updated_at, "amount": RefundCase.amount},
    RefundCase.requested_at, ("customer_id",),
)


@dataclass(frozen=True)
class Member:
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
class Term:
    rank: int  # lower narrows more (a number or an order, customer, assignee, status, reason; a common word: -1 drives)
    column: Any
    make: Callable[[Any], Any]  # the condition, on the column or on _unindexed(column)
    ordered: bool  # a single value with a (column, sort key, id) index: it reads in sort order
    member: Member | None = None  # a common search word (see Member)


@dataclass
class Plan:
    """Conditions of one overview query. One equality term drives (its index is used);
    the others are filters. A range on another column than the sort key may serve a
    small result, which is then sorted; on a dense result (more than
    SORT_IN_MEMORY_LIMIT rows) ranges and unordered terms are demoted to filters and an
    ordered index drives instead, so no page ever sorts a large set."""

    table: Table
    sort_col: Any
    # Bounds on the sort key itself, (value, inclusive): merged with the keyset (below).
    low: tuple[Any, bool] | None = None
    high: tuple[Any, bool] | None = None
    ranges: list[tuple[Any, Callable[[Any], Any]]] = field(default_factory=list)
    terms: list[Term] = field(default_factory=list)
    statuses: tuple[str, ...] = ()
    dense: bool = False

    def driver(self) -> Term | None:
        # A common word drives only when _weigh_member found it the narrowest (rank -1).
        terms = sorted((t for t in self.terms if t.member is None or t.rank < 0), key=lambda t: t.rank)
        if self.dense:
            terms = [t for t in terms if t.ordered]
        return terms[0] if terms else None

    def joined(self) -> Term | None:
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


def plan_query(session: Session, caller: Caller, query: OverviewQuery, table: Table) -> Plan | None:
    """The conditions for this caller and query; None when nothing can match.

    Equality filters are ranked by how far they usually narrow (a number or order,
    then customer, assignee, status, reason); the first is the driver, served by its
    (column, sort key, id) index. The others stay plain filters, marked unindexed so
    SQLite, which has no statistics to go on, cannot drive by a weaker one instead
    (PostgreSQL, which has statistics, sees plain columns)."""
    if query.kind != table.kind:
        raise ValueError(f"a {query.kind} query given to the {table.kind} overview")
    m = table.model
    plan = Plan(table, table.sorts[query.sort])
    eq = plan.terms
    if caller.role == Role.CUSTOMER:
        eq.append(Term(2, m.customer_id, lambda c: c == caller.id, True))
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
        eq.append(Term(1, m.order_snapshot_id, lambda c: c == snapshot_id, False))
    customer = query.customer_filter
    if agent and customer is not None:
        term = _customer_term(session, m.customer_id, customer)
        if term is None:
            return None
        eq.append(term)
    if table.kind == "support" and agent and query.assignee:
        assignee = query.assignee
        target = None if assignee == "none" else caller.id if assignee == "me" else int(assignee)
        eq.append(Term(3, m.assignee_id, lambda c: c.is_(None) if target is None else c == target, True))
    if table.kind == "support":  # (priority | category, sort key, id) indexes: migration 0009
        if query.priority:
            eq.append(Term(5, m.priority, lambda c: c == query.priority, True))
        if query.category:
            eq.append(Term(5, m.category, lambda c: c == query.category, True))
    if table.kind == "refund":
        if query.reason:
            eq.append(Term(5, m.reason, lambda c: c == query.reason, True))
        _add_range(plan, m.amount, None if query.amount_min is None else (query.amount_min, True),
                   None if query.amount_max is None else (query.amount_max, True))
        if query.currency:  # amounts of one currency are the ones compared: (currency, amount, id) serves it
            eq.append(Term(5, m.currency, lambda c, cur=query.currency: c == cur, query.sort == "amount"))
    search = query.search
    if search is not None:
        term = _search_term(session, table, search)
        if term is None:
            return None
        eq.append(term)
    if query.statuses:
        statuses = plan.statuses = query.statuses
        eq.append(Term(4, m.status, lambda c: c == statuses[0] if len(statuses) == 1 else c.in_(statuses), True))
    _weigh_member(session, plan)
    return plan


def _add_range(plan: Plan, column: Any, low: tuple[Any, bool] | None, high: tuple[Any, bool] | None) -> None:
    """Bounds (value, inclusive) on a column: on the sort key they become the plan's
    low/high (merged with the keyset); on another column, loose ranges."""
    if column is plan.sort_col:
        plan.low, plan.high = low or plan.low, high or plan.high
        return
    for bound, op in ((low, ">"), (high, "<")):
        if bound is not None:
            compare = _OPS[op + ("=" if bound[1] else "")]
            plan.ranges.append((column, lambda c, v=bound[0], cmp=compare: cmp(c, v)))


def _search_term(session: Session, table: Table, search: Search) -> Term | None:
    """q as one term, resolved through a unique or blind-indexed column first."""
    m = table.model
    if search.kind == "text":
        snapshot_id = session.exec(select(OrderSnapshot.id).where(OrderSnapshot.order_id == search.value)).first()
        if snapshot_id is not None:
            return Term(0, m.order_snapshot_id, lambda c: c == snapshot_id, False)
        if not search.words:
            return None
        # Subject words: the support cases themselves, or the refunds of those cases.
        return _words_term(session, CaseSubjectTerm, "case_id", SUBJECT, search.words,
                           m.id if table.kind == "support" else m.support_case_id, 0)
    if search.kind == "email":
        user_id = session.exec(select(User.id).where(User.email_bidx == email_index(search.value))).first()
        return None if user_id is None else Term(0, m.customer_id, lambda c: c == user_id, True)
    if search.kind == "case_number" and table.kind == "support" or search.kind == "refund_number" and table.kind == "refund":
        return Term(0, m.number, lambda c: c == search.value, False)
    if search.kind == "case_number":  # the refunds of that support case
        case_id = session.exec(select(SupportCase.id).where(SupportCase.number == search.value)).first()
        return None if case_id is None else Term(0, m.support_case_id, lambda c: c == case_id, False)
    if search.kind == "refund_number":  # the support case that refund belongs to
        case_id = session.exec(select(RefundCase.support_case_id).where(RefundCase.number == search.value)).first()
        return None if case_id is None else Term(0, m.id, lambda c: c == case_id, False)
    return None


def _customer_term(session: Session, column: Any, customer: CustomerFilter) -> Term | None:
    """One customer by exact email (its blind index), or the customers whose name has
    every typed word (as a word, or as a prefix for 3+ characters)."""
    if customer.email:
        user_id = session.exec(select(User.id).where(User.email_bidx == email_index(customer.email),
                                                     User.role == Role.CUSTOMER)).first()
        return None if user_id is None else Term(2, column, lambda c: c == user_id, True)
    return _words_term(session, CustomerNameTerm, "user_id", NAME, customer.words, column, 2)


def _words_term(session: Session, terms: Any, ref: str, purpose: str, words: tuple[str, ...], column: Any,
                rank: int) -> Term | None:
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
    member = Member(terms, ref, tuple(bidxs), sizes.get(bidxs[0], 0))
    ids = list(session.exec(member.ids().limit(limit + 1)))
    if not ids:
        return None
    if len(ids) == 1:
        return Term(rank, column, lambda c: c == ids[0], ref == "user_id")
    if len(ids) <= limit:
        return Term(rank, column, lambda c: c.in_(ids), False)
    member = replace(member, size=member.size or size(bidxs[0]))
    return Term(6, column, member.condition, False, member)


def _capped_count(session: Session, stmt: Any, cap: int) -> int:
    return session.exec(select(func.count()).select_from(stmt.limit(cap).subquery())).one()


def _weigh_member(session: Session, plan: Plan) -> None:
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
