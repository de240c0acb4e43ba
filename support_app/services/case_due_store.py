"""Each case's stored due time (``support_cases.due_at``), kept by every write that can move it.

The agents' queue is sorted by when a case is due (domain/case_due.py): it depends on
the case's status and priority and on when the customer and the agents last wrote.
Working that out on every queue read meant reading every case waiting on the agents,
with two subqueries each. Instead the three functions that write support cases
(``create_case``, ``bump_case``, ``touch_case`` in case_commands; every reply, note,
status change, reopening, assignment and refund message goes through one of them) store
the answer in the same transaction, and the queue reads its first rows in order from
an index. ``None``: the agents owe nothing now.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from support_app.domain.case_due import WAITING_ON_AGENT, due_at
from support_app.models import CaseMessage, SupportCase

_C, _M = SupportCase, CaseMessage


def _last(*where):
    return select(func.max(_M.created_at)).where(_M.case_id == _C.id, *where).correlate(_C).scalar_subquery()


# What the due rule needs of a case; the last messages come from the (case_id, created_at) index.
_FACTS = (_C.status, _C.priority, _C.created_at,
          _last(_M.author_id == _C.customer_id), _last(_M.author_id != _C.customer_id, _M.visibility == "public"))
_ONE = select(*_FACTS).where(_C.id == bindparam("case_id"))
_WAITING = select(_C.id, *_FACTS).where(_C.status.in_([s.value for s in WAITING_ON_AGENT]))  # type: ignore[attr-defined]
_STORE = update(_C.__table__).where(_C.__table__.c.id == bindparam("case_id")).values(due_at=bindparam("due"))


def due_after(session: Session, case_id: int, status: str | None = None) -> datetime | None:
    """When the case is due once this transaction's writes hold: its messages so far
    (pending ones are flushed first) and ``status`` when the write changes it."""
    st, priority, created, customer_last, agent_last = session.exec(_ONE, params={"case_id": case_id}).one()
    return due_at(status or st, priority, created, customer_last, agent_last)


def backfill_due(conn: Connection) -> int:
    """Store ``due_at`` of every case waiting on the agents (no other case is due), from
    its messages: for the migration that adds the column and for data written as raw
    rows (devdata.load). Returns how many cases are due."""
    rows = [{"case_id": cid, "due": due} for cid, *facts in conn.execute(_WAITING) if (due := due_at(*facts)) is not None]
    if rows:
        conn.execute(_STORE, rows)
    return len(rows)
