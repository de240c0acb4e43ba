"""Changing support cases: open one, reply or note, change status, assign.

Every change bumps the case's version with a conditional UPDATE (expected version,
affected-row check) and appends a history event in the same transaction; it also
stores when the case is due (services/case_due_store.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session

from support_app.domain.case_due import due_at
from support_app.domain.case_rules import (
    CaseStatus,
    Role,
    Visibility,
    check_reopen,
    check_transition,
    status_after_reply,
    validate_message,
    validate_new_case,
    validate_reason,
)
from support_app.domain.errors import DomainError, ErrorCode
from support_app.integrations.order_client import OrderClient
from support_app.live.changes import changed
from support_app.models import CaseEvent, CaseMessage, SupportCase, User
from support_app.models.base import utcnow
from support_app.security.ratelimit import case_create_limiter
from support_app.services.case_due_store import due_after
from support_app.services.case_queries import load_case_for, reopen_since
from support_app.services.orders import check_owned, fetch_order, upsert_snapshot
from support_app.services.runner import writes
from support_app.services.views import Caller
from support_app.settings import get_settings


def case_number(case_id: int) -> str:
    return f"SC-{case_id:06d}"


@writes
def create_case(
    session: Session,
    caller: Caller,
    order_id: str,
    subject: str,
    description: str,
    category: str,
    priority: str = "normal",
    client: OrderClient | None = None,
) -> int:
    """Open a case on one of the caller's orders; returns the new case id."""
    if caller.role != Role.CUSTOMER:
        raise DomainError(ErrorCode.FORBIDDEN)
    fields = validate_new_case(subject, description, category, priority)
    case_create_limiter().check(str(caller.id))
    order = fetch_order(order_id, client)  # HTTP first: no transaction is open yet
    user = check_owned(session, caller, order)
    assert order is not None
    snap = upsert_snapshot(session, user.id, order)
    now = utcnow()
    case = SupportCase(
        customer_id=user.id,
        order_snapshot_id=snap.id,
        status=CaseStatus.OPEN,
        created_at=now,
        updated_at=now,
        due_at=due_at(CaseStatus.OPEN, fields["priority"], now, None, None),
        **fields,
    )
    session.add(case)
    session.flush()
    case.number = case_number(case.id)
    session.add(case)
    changed(session, case=case.id, customer=user.id)
    case_event(session, case.id, caller.id, "created", to_status=CaseStatus.OPEN, at=now)
    return case.id


@writes
def add_message(
    session: Session, caller: Caller, case_id: object, body: str, internal: bool = False, expected_version: int | None = None
) -> None:
    """A reply the customer sees, or (agents only) an internal note."""
    text = validate_message(body)
    case = load_case_for(session, caller, case_id, lock=True)
    role = Role(caller.role)
    if internal and role is not Role.AGENT:
        raise DomainError(ErrorCode.FORBIDDEN)
    if case.status == CaseStatus.CLOSED:
        raise DomainError(ErrorCode.CASE_CLOSED)
    now = utcnow()
    session.add(
        CaseMessage(
            case_id=case.id,
            author_id=caller.id,
            visibility=Visibility.INTERNAL if internal else Visibility.PUBLIC,
            body=text,
            created_at=now,
        )
    )
    values: dict[str, object] = {}
    if not internal:
        new_status = status_after_reply(CaseStatus(case.status), role)
        if new_status != case.status:
            values["status"] = new_status
            case_event(session, case.id, caller.id, "status_changed", case.status, new_status, "customer replied", at=now)
        if role is Role.AGENT and case.first_response_at is None:
            values["first_response_at"] = now
    case_event(session, case.id, caller.id, "note" if internal else "reply", internal=internal, at=now)
    # The newest message decides when the case is due: the others need not be read again.
    if internal:
        due = case.due_at  # a note is no answer, and the status stays
    elif role is Role.CUSTOMER:
        due = due_at(values.get("status", case.status), case.priority, case.created_at, now, None)  # type: ignore[arg-type]
    else:
        due = None  # an agent's reply answers the customer
    bump_case(session, case, expected_version, None if internal else now, due=due, **values)


@writes
def change_status(
    session: Session, caller: Caller, case_id: object, target: str, reason: str = "", expected_version: int | None = None
) -> None:
    case = load_case_for(session, caller, case_id, lock=True)
    src, dst = check_transition(case.status, target, Role(caller.role))
    why = validate_reason(reason)
    now = utcnow()
    values = status_step(session, case.id, caller.id, src, dst, why, at=now)
    bump_case(session, case, expected_version, now, **values)


def status_step(
    session: Session, case_id: int, actor_id: int, src: CaseStatus, dst: CaseStatus, why: str | None = None, *, at: datetime
) -> dict[str, object]:
    """One checked workflow step: its history event, and the columns it sets on the case
    (the status; when it was resolved or closed). change_status and the workspace's
    resolve both go through here so a status change means the same wherever it is made."""
    case_event(session, case_id, actor_id, "status_changed", src, dst, why, at=at)
    values: dict[str, object] = {"status": dst}
    if dst is CaseStatus.RESOLVED:
        values["resolved_at"] = at
    if dst is CaseStatus.CLOSED:
        values["closed_at"] = at
    return values


@writes
def reopen_case(
    session: Session, caller: Caller, case_id: object, reason: str = "", expected_version: int | None = None
) -> None:
    """The customer who owns a resolved or closed case, or any agent, reopens it within
    SUPPORT_REOPEN_DAYS of its resolution or closing (case_rules.reopen_verdict); it goes
    back to the agents (in progress) and the history says who reopened it and why."""
    if caller.role not in (Role.CUSTOMER, Role.AGENT):
        raise DomainError(ErrorCode.FORBIDDEN)
    case = load_case_for(session, caller, case_id, lock=True)  # someone else's case reads as missing
    why = validate_reason(reason)
    now = utcnow()
    src, dst = check_reopen(case.status, reopen_since(case), now, get_settings().reopen_days)
    case_event(session, case.id, caller.id, "reopened", src, dst, why, at=now)
    bump_case(session, case, expected_version, now, status=dst)


@writes
def assign(
    session: Session, caller: Caller, case_id: object, assignee_id: int | None, expected_version: int | None = None
) -> None:
    """Agents assign a case to an agent (themselves or a colleague) or unassign it."""
    if caller.role != Role.AGENT:
        raise DomainError(ErrorCode.FORBIDDEN)
    case = load_case_for(session, caller, case_id, lock=True)
    if case.status == CaseStatus.CLOSED:
        raise DomainError(ErrorCode.CASE_CLOSED)
    name = None
    if assignee_id is not None:
        agent = session.get(User, assignee_id)
        if agent is None or agent.role != Role.AGENT or not agent.is_active:
            raise DomainError(ErrorCode.USER_NOT_FOUND)
        name = agent.full_name
    if case.assignee_id == assignee_id:
        return
    now = utcnow()
    case_event(session, case.id, caller.id, "assigned", detail=name, at=now)
    bump_case(session, case, expected_version, now, assignee_id=assignee_id)


_WORK_IT_OUT = object()


def bump_case(session: Session, case: SupportCase, expected: int | None, now: datetime | None, *,
              due: object = _WORK_IT_OUT, **values: object) -> None:
    """Apply the change only if nobody else changed the case since it was read.

    ``updated_at`` is the last customer-visible change: an internal note passes
    ``now=None`` so the customer's pages cannot even tell that a note was written.
    ``due``: when the case is due after the change, if the caller knows (a message just
    written decides it); otherwise it is worked out from the case's messages. Callers
    hold the case's row (``load_case_for(lock=True)``); a message written on the case
    elsewhere waits for it too (its foreign key locks the row), so that counts every
    message on the case. SQLAlchemy applies the same SET to the loaded ``case``: it is
    not read again.
    """
    expected = case.version if expected is None else expected
    if now is not None:
        values["updated_at"] = now
    values["due_at"] = due_after(session, case.id, values.get("status")) if due is _WORK_IT_OUT else due  # type: ignore[arg-type]
    result = session.execute(
        update(SupportCase)
        .where(SupportCase.id == case.id, SupportCase.version == expected)
        .values(version=SupportCase.version + 1, **values)
    )
    if result.rowcount != 1:
        raise DomainError(ErrorCode.CONCURRENT_UPDATE)
    changed(session, case=case.id, customer=case.customer_id, internal=now is None)


def touch_case(session: Session, case_id: int, now: datetime, *, message: bool = False) -> None:
    """Mark a customer-visible change made elsewhere (a refund moved) so open pages
    reload. Unconditional: such a change must never fail because someone replied.
    ``message``: a message was written with it (a refund's decision or settlement), which
    can move when the case is due; it is worked out from the case's messages, as a
    reply committed while this waited for the case's row may be newer."""
    values: dict[str, object] = {"version": SupportCase.version + 1, "updated_at": now}
    if message:
        values["due_at"] = due_after(session, case_id)
    session.execute(update(SupportCase).where(SupportCase.id == case_id).values(**values))


def case_event(
    session: Session,
    case_id: int,
    actor_id: int | None,
    kind: str,
    from_status: str | None = None,
    to_status: str | None = None,
    detail: str | None = None,
    *,
    internal: bool = False,
    at: datetime,
) -> None:
    session.add(
        CaseEvent(
            case_id=case_id,
            actor_id=actor_id,
            kind=kind,
            from_status=from_status,
            to_status=to_status,
            detail=detail,
            internal=internal,
            created_at=at,
        )
    )
