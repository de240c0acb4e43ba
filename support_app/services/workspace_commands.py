"""Workspace commands that the case page has no single button for."""

from __future__ import annotations

from sqlmodel import Session

from support_app.domain.case_rules import CaseStatus, Role, check_transition
from support_app.domain.errors import DomainError, ErrorCode
from support_app.models.base import utcnow
from support_app.services.case_commands import bump_case, status_step
from support_app.services.case_queries import load_case_for
from support_app.services.runner import writes
from support_app.services.views import Caller

# The agents' workflow to "resolved" from each status: every step is an allowed transition.
PATH_TO_RESOLVED = {
    CaseStatus.OPEN: (CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED),
    CaseStatus.IN_PROGRESS: (CaseStatus.RESOLVED,),
    CaseStatus.WAITING_ON_CUSTOMER: (CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED),
}


@writes
def resolve(session: Session, caller: Caller, case_id: object, expected_version: int | None = None) -> None:
    """Resolve a case in one go (the workspace's ``e``): an open case or one waiting on
    the customer passes through "in progress" first; each step is checked by the
    workflow rules and recorded in the history like a separate change."""
    if caller.role != Role.AGENT:
        raise DomainError(ErrorCode.FORBIDDEN)
    case = load_case_for(session, caller, case_id, lock=True)
    status = CaseStatus(case.status)
    steps = PATH_TO_RESOLVED.get(status)
    if steps is None:  # resolved or closed: the rules say why
        steps = (CaseStatus.RESOLVED,)
    now = utcnow()
    values: dict[str, object] = {}
    src = status
    for dst in steps:
        src, dst = check_transition(src, dst, Role.AGENT)
        values.update(status_step(session, case.id, caller.id, src, dst, at=now))
        src = dst
    bump_case(session, case, expected_version, now, **values)
