"""The agents' workspace: the queue sorted by what is due, and one case with its sidebar.

The queue is read in steps: first the ids and times of the first ``QUEUE_LIMIT`` cases
the filters match, in order — the due ones by the due time each case stores
(domain/case_due.py, services/case_due_store.py), then the rest, oldest first — then
the subjects and names of those only, so nothing beyond what the page shows is
decrypted. Those two steps are the same for every agent (but "mine") and are shared by
all of them until the next change (live.shared_reads); the last step, this agent's
marks on the rows shown, is not.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import bindparam, case as when, func, union_all
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from support_app.domain.case_due import WAITING_ON_AGENT, is_overdue
from support_app.domain.case_rules import STATUS_LABELS, CaseStatus, Role
from support_app.domain.errors import DomainError, ErrorCode
from support_app.domain.money import format_money
from support_app.domain.priorities import PRIORITY_LABELS, PRIORITY_ORDER
from support_app.domain.refund_amounts import preview
from support_app.domain.refund_rules import STATUS_LABELS as REFUND_STATUS_LABELS, RefundStatus, window_verdict
from support_app.live.shared_reads import SHARED
from support_app.models import CaseSeen, OrderSnapshot, RefundAttempt, RefundCase, SupportCase, User
from support_app.models.base import utcnow
from support_app.models.id_list import in_ids
from support_app.security.inputs import record_id
from support_app.services.case_queries import case_detail, case_head, list_agents
from support_app.services.orders import snapshot_lines
from support_app.services.refund_facts import existing_refunds, order_facts
from support_app.services.refund_queries import agent_actions, case_refunds_for_agent, mismatch_alerts
from support_app.services.runner import writes
from support_app.services.views import Caller, Option, iso
from support_app.services.workspace_views import (
    CustomerCase, CustomerRefund, OpenCase, QueueItem, RefundableLine, WorkspaceCase, WorkspaceRefund,
)
from support_app.settings import get_settings

QUEUE_LIMIT = 100
SIDEBAR_LIMIT = 20
SCOPES = ("mine", "unassigned", "all")
ACTIVE = (CaseStatus.OPEN, CaseStatus.IN_PROGRESS, CaseStatus.WAITING_ON_CUSTOMER)
STATUS_FILTERS = ("active", "all", *(s.value for s in CaseStatus))
PRIORITY_FILTERS = ("", *(p.value for p in PRIORITY_ORDER))  # most pressing first, as the filter offers them


def _agent(caller: Caller) -> None:
    if caller.role != Role.AGENT:
        raise DomainError(ErrorCode.FORBIDDEN)


def queue(session: Session, caller: Caller, scope: str = "all", status: str = "active", priority: str = "") -> list[QueueItem]:
    """The cases the filters match, due first (soonest due first), then oldest first.
    Unknown filter values fall back to the defaults (they come from the URL). The order
    and the rows are the same for every agent (but "mine"): read once per change for all
    of them (live.shared_reads); this agent's marks are read for the rows shown."""
    _agent(caller)
    scope = scope if scope in SCOPES else "all"
    status = status if status in STATUS_FILTERS else "active"
    priority = priority if priority in PRIORITY_FILTERS else ""
    mine = caller.id if scope == "mine" else None
    rows = SHARED.get(session, ("workspace queue", scope, status, priority, mine),
                      lambda: _queue_rows(session, scope, status, priority, mine))
    seen = dict(session.exec(_SEEN, params={"agent_id": caller.id, "ids": [r[0] for r in rows]}).all()) if rows else {}
    now = utcnow()
    return [
        QueueItem(id=cid, due_at=iso(due), overdue=is_overdue(due, now), unread=seen.get(cid) is None or updated > seen[cid],
                  **details)
        for cid, due, updated, details in rows
    ]


def _queue_rows(session: Session, scope: str, status: str, priority: str, mine: int | None) -> list[tuple]:
    """(case id, due at, updated at, what the row shows) of the first QUEUE_LIMIT, in order."""
    wanted = [st.value for st in ACTIVE] if status == "active" else [st.value for st in CaseStatus] if status == "all" else [status]
    facts = session.exec(_queue_stmt(tuple(wanted), scope, priority), params={"agent_id": mine}).all()
    details = _queue_details(session, [f[0] for f in facts])
    return [(cid, due, updated, details[cid]) for cid, due, updated in facts]


@lru_cache(maxsize=128)  # bounded: every argument comes from a short list of known values
def _queue_stmt(statuses: tuple[str, ...], scope: str, priority: str):
    """The queue's statement for one shape of filters, built once per shape (the agent's
    id is its parameter, for "mine"): due cases first, soonest due first, then the rest,
    oldest first; ties by age, then id, so the order is stable. Each status's due and
    not-due cases are read apart, at most QUEUE_LIMIT each, in order from one range of
    the (status, due_at, created_at, id) index, so a read never walks the closed cases
    nor sorts more than a few hundred rows, however large the table."""
    c = SupportCase
    parts = []
    for st in statuses:
        for due in ((True, False) if st in WAITING_ON_AGENT else (False,)):
            part = select(c.id, c.due_at, c.created_at, c.updated_at).where(c.status == st)
            if priority:
                part = part.where(c.priority == priority)
            if scope == "mine":
                part = part.where(c.assignee_id == bindparam("agent_id"))
            elif scope == "unassigned":
                part = part.where(c.assignee_id.is_(None))  # type: ignore[union-attr]
            if due:
                part = part.where(c.due_at.is_not(None)).order_by(c.due_at, c.created_at, c.id)  # type: ignore[union-attr]
            else:
                part = part.where(c.due_at.is_(None)).order_by(c.created_at, c.id)  # type: ignore[union-attr]
            parts.append(select(part.limit(QUEUE_LIMIT).subquery()))
    rows = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    return (select(rows.c.id, rows.c.due_at, rows.c.updated_at)
            .order_by(rows.c.due_at.is_(None), rows.c.due_at, rows.c.created_at, rows.c.id).limit(QUEUE_LIMIT))


# This agent's marks on the rows shown: unread = changed since the agent last opened it.
_SEEN = select(CaseSeen.case_id, CaseSeen.seen_at).where(
    CaseSeen.agent_id == bindparam("agent_id"), in_ids(CaseSeen.case_id)
)


def _details_stmt():
    customer, assignee = aliased(User), aliased(User)
    c = SupportCase
    return (
        select(c.id, c.number, c.subject, c.status, c.priority, customer.full_name, assignee.full_name)
        .join(customer, customer.id == c.customer_id)
        .outerjoin(assignee, assignee.id == c.assignee_id)
        .where(in_ids(c.id))
    )


_DETAILS = _details_stmt()  # built once


def _queue_details(session: Session, ids: list[int]) -> dict[int, dict]:
    if not ids:
        return {}
    return {
        row[0]: dict(number=row[1] or "", subject=row[2], status=row[3], status_label=STATUS_LABELS[CaseStatus(row[3])],
                     priority_label=_priority_label(row[4]),
                     customer_name=row[5], assignee_name=row[6] or "")
        for row in session.exec(_DETAILS, params={"ids": ids})
    }


# The sidebar's lists of the customer's other cases and refunds: the columns shown, built once.
_OTHER_CASES = (
    select(SupportCase.id, SupportCase.number, SupportCase.subject, SupportCase.status)
    .where(SupportCase.customer_id == bindparam("customer_id"), SupportCase.id != bindparam("case_id"))
    .order_by(SupportCase.created_at.desc(), SupportCase.id.desc()).limit(SIDEBAR_LIMIT)  # type: ignore[attr-defined]
)
_CUSTOMER_REFUNDS = (
    select(RefundCase.id, RefundCase.number, RefundCase.status, RefundCase.amount, RefundCase.currency, SupportCase.number)
    .join(SupportCase, SupportCase.id == RefundCase.support_case_id)
    .where(RefundCase.customer_id == bindparam("customer_id")).order_by(RefundCase.id.desc()).limit(SIDEBAR_LIMIT)  # type: ignore[union-attr]
)

_given_back = when((RefundCase.status == RefundStatus.REFUNDED, RefundCase.amount),
                   (RefundCase.status == RefundStatus.SETTLED, func.coalesce(RefundCase.settled_amount, 0)), else_=0)
_GIVEN_BACK = (  # what the customer got back, per currency
    select(RefundCase.currency, func.sum(_given_back))
    .where(RefundCase.customer_id == bindparam("customer_id"),
           RefundCase.status.in_([RefundStatus.REFUNDED, RefundStatus.SETTLED]))  # type: ignore[attr-defined]
    .group_by(RefundCase.currency).order_by(RefundCase.currency)
)


def workspace_case(session: Session, caller: Caller, case_id: object, all_messages: bool = False) -> WorkspaceCase:
    """One case as the workspace shows it, a plain read (no lock, nothing written): the
    conversation (case_queries.case_detail: its newest messages unless ``all_messages``), the
    customer's other cases and refunds with what was given back per currency, the order's
    lines with what is refundable now and until when, and this case's refunds with the
    actions an agent may take (refund_queries.agent_actions). Live updates and the reread
    after an action use this. Its number of statements does not grow with the case's
    refunds, messages or the customer's history; only the columns shown are read."""
    _agent(caller)
    case, snap = case_head(session, caller, case_id)
    lines = snapshot_lines(session, snap.id)
    detail = case_detail(session, caller, case, snap, lines, all_messages=all_messages, conversation_only=True)
    others = session.exec(_OTHER_CASES, params={"customer_id": case.customer_id, "case_id": case.id})
    refunds = session.exec(_CUSTOMER_REFUNDS, params={"customer_id": case.customer_id})
    totals = session.exec(_GIVEN_BACK, params={"customer_id": case.customer_id})
    window_days = get_settings().refund_window_days
    rows = preview(order_facts(snap, lines), existing_refunds(session, snap.id), utcnow(), window_days)
    return WorkspaceCase(
        case=OpenCase(
            id=detail.id, number=detail.number, subject=detail.subject, description=detail.description,
            status=detail.status, status_label=detail.status_label, priority_label=_priority_label(detail.priority),
            customer_name=detail.customer_name, customer_email=detail.customer_email, assignee_id=detail.assignee_id,
            order_id=detail.order.order_id, version=detail.version, messages=detail.messages,
            earlier_messages=detail.earlier_messages,
        ),
        customer_cases=[CustomerCase(cid, number or "", subject, status, STATUS_LABELS[CaseStatus(status)])
                        for cid, number, subject, status in others],
        customer_refunds=[
            CustomerRefund(rid, number or "", status, REFUND_STATUS_LABELS[RefundStatus(status)],
                           format_money(amount, currency), case_number or "")
            for rid, number, status, amount, currency, case_number in refunds
        ],
        given_back=[Option(value=cur, label=format_money(int(total), cur)) for cur, total in totals],
        lines=[
            RefundableLine(row.line_id, row.name, row.purchased, row.refundable_now, iso(row.deadline))
            for row in rows
        ],
        refunds=[_sidebar_refund(refund, attempts, snap, window_days)
                 for refund, attempts in case_refunds_for_agent(session, caller, case.id)],
        agents=list_agents(session, caller),
    )


def _sidebar_refund(r: RefundCase, attempts: list[RefundAttempt], snap: OrderSnapshot, window_days: int) -> WorkspaceRefund:
    """What the refund page tells an agent at its head (refund_queries.get_refund), for the sidebar."""
    return WorkspaceRefund(id=r.id, number=r.number or "", status=r.status, status_label=REFUND_STATUS_LABELS[RefundStatus(r.status)],
                           amount=format_money(r.amount, r.currency),
                           window_text=window_verdict(snap.delivered_at, r.requested_at, window_days).text,
                           mismatch_alert=mismatch_alerts(attempts), actions=agent_actions(r, attempts), version=r.version)


def _priority_label(priority: str) -> str:
    return PRIORITY_LABELS.get(priority, priority)  # type: ignore[call-overload]


@writes
def mark_seen(session: Session, caller: Caller, case_id: object, leaving: object = None) -> int:
    """Move this agent's marks on the case they open (and on the one they leave, if it
    still exists) to now, in a short write transaction of its own; returns the id of the
    case opened. Only an explicit pick of a case marks it: live updates and the reread
    after an action do not write. Leaving a case marks it too, so what the agent watched
    live there and their own replies and decisions on it do not come back as unread.
    Two statements: which of the two cases exist (agents may see every case), and the
    marks of those, in one upsert."""
    _agent(caller)
    opened = record_id(case_id)
    left = None if leaving in (None, "") else record_id(leaving)  # a case left behind that is gone: not marked
    wanted = sorted({opened, left} - {None}) if opened is not None else []
    found = set(session.exec(_EXISTING, params={"ids": wanted}).all()) if wanted else set()
    if opened not in found:
        raise DomainError(ErrorCode.CASE_NOT_FOUND)
    now = utcnow()
    session.execute(_upsert_seen(session.get_bind().dialect.name),
                    [{"agent_id": caller.id, "case_id": cid, "seen_at": now} for cid in sorted(found)])
    return opened


_EXISTING = select(SupportCase.id).where(in_ids(SupportCase.id))


@lru_cache(maxsize=4)
def _upsert_seen(dialect: str):
    """Insert or move an agent's mark (an upsert: two tabs may open the case at once);
    built once per database dialect."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(CaseSeen.__table__)
    return stmt.on_conflict_do_update(index_elements=["agent_id", "case_id"], set_={"seen_at": stmt.excluded.seen_at})
