"""Reading support cases: lists, and one case with its conversation and timeline."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import lru_cache

from sqlalchemy import bindparam, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from support_app.domain.case_rules import (
    CATEGORY_LABELS,
    STATUS_LABELS,
    CaseStatus,
    Category,
    Role,
    allowed_transitions,
    reopen_verdict,
)
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.priorities import PRIORITY_ORDER
from support_app.live.shared_reads import SHARED
from support_app.models import CaseEvent, CaseMessage, OrderLine, OrderSnapshot, SupportCase, User
from support_app.models.base import utcnow
from support_app.models.id_list import in_ids
from support_app.security.inputs import record_id
from support_app.services.orders import snapshot_lines, snapshot_view
from support_app.services.refund_facts import refund_rows
from support_app.services.timeline_text import event_text
from support_app.services.views import CaseDetail, CaseRow, Caller, EventView, MessageView, Option, iso
from support_app.settings import get_settings

LIST_LIMIT = 100

# The statements of the hottest reads, built once: SQLAlchemy then skips building the
# expression and its cache key at every call (a quarter of get_case's CPU, measured).
_CASE = select(SupportCase).where(SupportCase.id == bindparam("case_id"))
_CASE_LOCKED = _CASE.with_for_update()
_CASE_PAGE = (  # the case page's head in one statement: the case and its order
    select(SupportCase, OrderSnapshot)
    .join(OrderSnapshot, OrderSnapshot.id == SupportCase.order_snapshot_id)
    .where(SupportCase.id == bindparam("case_id"))
)
# A long conversation is shown from its end: the newest RECENT messages and history entries,
# with how many came before ("Show 12 earlier messages"), until the viewer asks for all.
# So a reply on a 300-message case does not send all 300 to every tab showing it again.
RECENT = 20


def _thread(entity, *where):
    """(all in order, the newest first up to :limit, how many) of a case's messages or events:
    rows of their columns (read like the model's attributes), not ORM objects."""
    of_case = (entity.case_id == bindparam("case_id"), *where)
    every = select(*(getattr(entity, c.name) for c in entity.__table__.columns if c.name != "case_id")).where(*of_case)
    return (every.order_by(entity.created_at, entity.id),
            every.order_by(entity.created_at.desc(), entity.id.desc()).limit(bindparam("limit")),
            select(func.count()).select_from(entity).where(*of_case))


_CONVERSATION = {  # is_agent -> (messages, events): customers see neither internal notes nor internal events
    True: (_thread(CaseMessage), _thread(CaseEvent)),
    False: (_thread(CaseMessage, CaseMessage.visibility == "public"), _thread(CaseEvent, CaseEvent.internal == False)),  # noqa: E712
}
_PEOPLE = select(User.id, User.full_name, User.role, User.email).where(in_ids(User.id))


def load_case_for(session: Session, caller: Caller, case_id: object, *, lock: bool = False) -> SupportCase:
    """The case if the caller may see it. A customer asking for someone else's case
    gets the same answer as for a case that does not exist."""
    return visible_row(session, caller, case_id, _CASE_LOCKED if lock else _CASE)


def visible_row(session: Session, caller: Caller, case_id: object, statement):
    """The first result of ``statement`` (bound to :case_id: the case itself, or a row
    with that case's ``customer_id`` among its columns) if the caller may see the case."""
    return _visible(caller, session.exec(statement, params={"case_id": _case_key(case_id)}).first())


def _case_key(case_id: object) -> int:
    if (key := record_id(case_id)) is None:
        raise DomainError(ErrorCode.CASE_NOT_FOUND)
    return key


def _visible(caller: Caller, case):
    """The case (or a row with its customer_id), if the caller may see it."""
    if case is None:
        raise DomainError(ErrorCode.CASE_NOT_FOUND)
    if caller.role == Role.AGENT:
        return case
    if caller.role == Role.CUSTOMER and case.customer_id == caller.id:
        return case
    raise DomainError(ErrorCode.NOT_CASE_OWNER)


def reopen_since(case: SupportCase) -> datetime | None:
    """When the reopening period started: when the case was closed, or resolved."""
    if case.status == CaseStatus.CLOSED:
        return case.closed_at
    if case.status == CaseStatus.RESOLVED:
        return case.resolved_at
    return None


def list_cases(
    session: Session,
    caller: Caller,
    statuses: list[str] | None = None,
    assigned_to_me: bool = False,
) -> list[CaseRow]:
    """Customers get their own cases, newest first; agents the whole queue, by priority
    (urgent first) and then age (oldest first)."""
    if caller.role not in (Role.CUSTOMER, Role.AGENT):
        raise DomainError(ErrorCode.FORBIDDEN)
    wanted = tuple(sorted({s for s in (statuses or []) if isinstance(s, str) and s in set(CaseStatus)}))
    if caller.role == Role.AGENT:  # the same for every agent (but "assigned to me"): read once per change
        mine = caller.id if assigned_to_me else None
        rows = SHARED.get(session, ("agent case list", wanted, mine), lambda: _agent_rows(session, wanted, mine))
        return [replace(row) for row in rows]  # each tab its own rows
    # A customer's own cases: the newest first.
    return _case_rows(session.exec(_list_stmt(True, wanted, False, None), params={"caller": caller.id, "limit": LIST_LIMIT}))


def _agent_rows(session: Session, wanted: tuple[str, ...], mine: int | None) -> list[CaseRow]:
    """The agents' list: most urgent first, the oldest first within a priority — one ordered
    index read per priority (priority, created_at, id), until the list is full."""
    rows: list = []
    for priority in PRIORITY_ORDER:
        if len(rows) >= LIST_LIMIT:
            break
        rows += session.exec(_list_stmt(False, wanted, mine is not None, priority),
                             params={"caller": mine, "limit": LIST_LIMIT - len(rows)}).all()
    return _case_rows(rows)


def _case_rows(rows) -> list[CaseRow]:
    return [
        CaseRow(
            id=row.id,
            number=row.number or "",
            subject=row.subject,
            status=row.status,
            status_label=STATUS_LABELS[CaseStatus(row.status)],
            category_label=CATEGORY_LABELS[Category(row.category)],
            priority=row.priority,
            order_id=row.order_id,
            customer_name=customer_name,
            assignee_name=assignee_name or "",
            created_at=iso(row.created_at),
            updated_at=iso(row.updated_at),
        )
        for row in rows
        for customer_name, assignee_name in [(row[9], row[10])]
    ]


@lru_cache(maxsize=256)  # bounded: statuses are known values, priorities a fixed list
def _list_stmt(own: bool, statuses: tuple[str, ...], mine: bool, priority: str | None):
    """The list's statement for one shape of filters, built once per shape; the caller's
    id and the row limit are its parameters."""
    customer, assignee = aliased(User), aliased(User)
    c = SupportCase
    stmt = (  # the columns the list shows, not whole cases: no description to decrypt, no ORM objects
        select(c.id, c.number, c.subject, c.status, c.category, c.priority, c.created_at, c.updated_at,
               OrderSnapshot.order_id, customer.full_name, assignee.full_name)
        .join(OrderSnapshot, OrderSnapshot.id == SupportCase.order_snapshot_id)
        .join(customer, customer.id == SupportCase.customer_id)
        .outerjoin(assignee, assignee.id == SupportCase.assignee_id)
    )
    if own:
        stmt = stmt.where(c.customer_id == bindparam("caller"))
    if statuses:
        stmt = stmt.where(c.status.in_(statuses))  # type: ignore[attr-defined]
    if mine:
        stmt = stmt.where(c.assignee_id == bindparam("caller"))
    if priority is not None:
        return stmt.where(c.priority == priority).order_by(c.created_at, c.id).limit(bindparam("limit"))
    return stmt.order_by(c.created_at.desc(), c.id.desc()).limit(bindparam("limit"))  # type: ignore[attr-defined]


def get_case(session: Session, caller: Caller, case_id: object, *, all_messages: bool = False,
             all_history: bool = False) -> CaseDetail:
    """The case page's read model. The conversation and the history come as their newest
    RECENT entries (and how many are earlier) unless ``all_messages`` / ``all_history``."""
    case, snap = case_head(session, caller, case_id)
    return case_detail(session, caller, case, snap, snapshot_lines(session, snap.id),
                       all_messages=all_messages, all_history=all_history)


def case_head(session: Session, caller: Caller, case_id: object) -> tuple[SupportCase, OrderSnapshot]:
    """The case, if the caller may see it, and its order, in one statement."""
    head = session.exec(_CASE_PAGE, params={"case_id": _case_key(case_id)}).first()
    return _visible(caller, head[0] if head else None), head[1]


def case_detail(session: Session, caller: Caller, case: SupportCase, snap: OrderSnapshot, lines: list[OrderLine],
                *, all_messages: bool = False, all_history: bool = False,
                conversation_only: bool = False) -> CaseDetail:
    """``get_case`` for a case already read (``case_head``) with its order's lines.
    ``conversation_only`` (the workspace, which shows its own sidebar): no history and no
    refund rows are read."""
    is_agent = caller.role == Role.AGENT
    msg_stmts, ev_stmts = _CONVERSATION[is_agent]
    messages, earlier_messages = _tail(session, msg_stmts, case.id, all_messages)
    events, earlier_events = ([], 0) if conversation_only else _tail(session, ev_stmts, case.id, all_history)
    # Everyone the page names, in one query (not one per message or event).
    people = {case.customer_id, case.assignee_id, *(m.author_id for m in messages), *(e.actor_id for e in events)}
    names, email = _people(session, people - {None}, case.customer_id)
    role = Role.AGENT if is_agent else Role.CUSTOMER
    status = CaseStatus(case.status)
    reopen_days = get_settings().reopen_days
    reopen = reopen_verdict(case.status, reopen_since(case), utcnow(), reopen_days)
    return CaseDetail(
        id=case.id,
        number=case.number or "",
        subject=case.subject,
        description=case.description,
        category_label=CATEGORY_LABELS[Category(case.category)],
        priority=case.priority,
        status=case.status,
        status_label=STATUS_LABELS[status],
        customer_name=names[case.customer_id][0],
        customer_email=email,
        assignee_id=case.assignee_id or 0,
        assignee_name=names[case.assignee_id][0] if case.assignee_id else "",
        created_at=iso(case.created_at),
        updated_at=iso(case.updated_at),
        version=case.version if is_agent else 0,
        order=snapshot_view(snap, lines),
        messages=[
            MessageView(
                id=m.id,
                author_name=names[m.author_id][0],
                author_role=names[m.author_id][1],
                internal=m.visibility == "internal",
                body=m.body,
                created_at=iso(m.created_at),
            )
            for m in messages
        ],
        earlier_messages=earlier_messages,
        timeline=[
            EventView(
                id=e.id,
                kind=e.kind,
                text=event_text(e.kind, e.from_status, e.to_status, e.detail),
                actor_name=names[e.actor_id][0] if e.actor_id else "System",
                internal=e.internal,
                created_at=iso(e.created_at),
            )
            for e in events
        ],
        earlier_events=earlier_events,
        refunds=[] if conversation_only else refund_rows(session, case.id),
        assigned_to_viewer=is_agent and case.assignee_id == caller.id,
        can_reopen=reopen.allowed,
        reopen_until=iso(reopen.until),
        reopen_text=reopen.text if reopen.until is not None else "",
        reopen_days=reopen_days,
        next_statuses=[
            Option(value=s.value, label=STATUS_LABELS[s])
            for s in CaseStatus
            if s in allowed_transitions(status, role)
        ],
    )


def _tail(session: Session, stmts: tuple, case_id: int, whole: bool) -> tuple[list, int]:
    """A thread in order: all of it, or its newest RECENT entries and how many came before."""
    every, newest, count = stmts
    if whole:
        return list(session.exec(every, params={"case_id": case_id})), 0
    rows = list(session.exec(newest, params={"case_id": case_id, "limit": RECENT + 1}))
    if len(rows) <= RECENT:
        return rows[::-1], 0
    return rows[RECENT - 1::-1], session.exec(count, params={"case_id": case_id}).one() - RECENT


def list_agents(session: Session, caller: Caller) -> list[Option]:
    if caller.role != Role.AGENT:
        raise DomainError(ErrorCode.FORBIDDEN)
    # Names are encrypted: sorted here, after decryption (agents are few).
    rows = sorted(session.exec(_AGENTS).all(), key=lambda row: (row[1].casefold(), row[0]))
    return [Option(value=str(uid), label=name) for uid, name in rows]


_AGENTS = select(User.id, User.full_name).where(User.role == Role.AGENT, User.is_active == True)  # noqa: E712  (built once)


def _people(session: Session, ids: set[int], customer_id: int) -> tuple[dict[int | None, tuple[str, str]], str]:
    """(name, role) of each user id, and the customer's email, from one query."""
    rows = session.exec(_PEOPLE, params={"ids": list(ids)})
    names: dict[int | None, tuple[str, str]] = {uid: ("Unknown", "") for uid in ids}
    email = ""
    for uid, name, role, user_email in rows:
        names[uid] = (name, role)
        email = user_email if uid == customer_id else email
    return names, email
