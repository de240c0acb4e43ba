"""The support-case and refund-case overviews: filtered, sorted, keyset-paginated.

How a page is read (the same for both lists):

1. The validated OverviewQuery (domain/overview_rules) becomes a plan: conditions,
   bound parameters only, with the narrowest lookups resolved into ids first and
   search words through the blind-indexed term tables (services/overview_plan).
   Either way every page is bounded: no partial list, no "type more".
2. Keys first: ``SELECT sort_key, id ... WHERE filters AND keyset ORDER BY sort_key, id
   LIMIT size + 1``, with the keyset written as ``k <= :v AND (k < :v OR id < :id)``
   (descending; mirrored for ascending) so the sort index serves it as a range on
   SQLite and PostgreSQL. One equality filter drives through its (column, sort key,
   id) index; the others are plain filters (see overview_plan.Plan). Several statuses
   fan out into one such query per status, merged in Python, so no status combination
   makes the database sort the filtered set.
3. Then the rows for those ids, with their joins, in one query (overview_rows).

"prev" runs the key query the opposite way from the first row shown and reverses it;
if fewer than a page remain before it, page 1 is shown instead. The count is
``COUNT(*)`` over ``LIMIT COUNT_CAP + 1`` rows: exact up to the cap, "10,000+" above;
it also tells the plan whether the result is small enough to sort.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, select

from support_app.domain.overview_rules import OverviewQuery, encode_cursor
from support_app.services.overview_plan import REFUND, SORT_IN_MEMORY_LIMIT, SUPPORT, Plan, Table, plan_query
from support_app.services.overview_rows import refund_rows, support_rows
from support_app.services.overview_views import OverviewPage, RefundOverviewRow, SupportOverviewRow
from support_app.services.views import Caller

COUNT_CAP = 10_000


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


def _overview(session: Session, caller: Caller, query: OverviewQuery, table: Table, hydrate: Callable) -> OverviewPage:
    problems = dict(query.problems)
    plan = plan_query(session, caller, query, table)
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


def _page_keys(session: Session, plan: Plan, query: OverviewQuery) -> tuple[list[tuple], bool, bool]:
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


def _keys(session: Session, plan: Plan, after: tuple | None, descending: bool, limit: int) -> list[tuple]:
    """(sort value, id) of up to ``limit`` rows strictly after ``after`` in that order."""
    conds, fanout = plan.conds(), plan.fanout
    if not fanout:
        return _key_query(session, plan, conds, after, descending, limit)
    status = plan.table.model.status
    parts = [_key_query(session, plan, [*conds, status == s], after, descending, limit) for s in fanout]
    return list(islice(heapq.merge(*parts, reverse=descending), limit))


def _select(plan: Plan, *columns: Any) -> Any:
    """SELECT columns FROM the table — or FROM the driving term table joined to it."""
    stmt = select(*columns)
    joined = plan.joined()
    return stmt if joined is None else joined.member.join(stmt, plan.table.model, joined.column)


def _key_query(session: Session, plan: Plan, conds: list, after: tuple | None, descending: bool, limit: int) -> list[tuple]:
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


def _count(session: Session, plan: Plan) -> tuple[int, bool]:
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


def _iterate(session: Session, caller: Caller, query: OverviewQuery, table: Table, hydrate: Callable, batch: int) -> Iterator:
    batch = max(1, min(int(batch), 5000))
    plan = plan_query(session, caller, query, table)  # raises FORBIDDEN now, not at the first row
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
