"""Claiming due refund attempts, so each is worked on by one worker at a time.

An attempt is due when it is live (pending/unknown), its ``next_try_at`` has passed
and nobody holds a live claim on it. A claim is ``claimed_by`` (the worker's owner
id) until ``claimed_until`` (now + lease). The lease outlasts the longest the sender
can take with one attempt (checked when a worker starts), so a claim only expires
when its holder died or hung — and then the next claimant takes over, with the same
idempotency key (a duplicate send would be deduplicated by the gateway anyway; the
claim keeps it from happening at all).

PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` picks rows no concurrent claimant
is looking at, then the UPDATE writes the claim in the same transaction; under READ
COMMITTED a row another claimant claimed meanwhile is re-checked against the WHERE
clause and left out. SQLite: writers are serialised by BEGIN IMMEDIATE (the caller's
``session_scope(write=True)``), and one conditional UPDATE ... RETURNING claims.

Times come from the caller's clock (aware UTC); hosts of one deployment keep their
clocks in sync (NTP), which the lease's margin of seconds tolerates.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlmodel import Session

from support_app.models import RefundAttempt
from support_app.services.refund_execution import LIVE

BACKOFF_FIRST_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 300.0

A = RefundAttempt.__table__.c


def _due(c, now: datetime):
    return and_(c.status.in_(LIVE), c.next_try_at <= now, or_(c.claimed_until.is_(None), c.claimed_until <= now))


def _pick(limit: int, now: datetime):
    """Ids of due attempts, oldest due first (an alias: it also runs as a subquery of
    an UPDATE of the same table, where it must not correlate)."""
    due = RefundAttempt.__table__.alias("due")
    return select(due.c.id).where(_due(due.c, now)).order_by(due.c.next_try_at, due.c.id).limit(limit)


def any_due(session: Session, now: datetime) -> bool:
    """Is anything due? A read (no write lock): the claim loop asks this first, so an idle
    worker's rounds never queue behind the app's writers for SQLite's one write lock."""
    return session.execute(select(A.id).where(_due(A, now)).limit(1)).first() is not None


def claim_due(session: Session, owner: str, lease_seconds: float, limit: int, now: datetime) -> list[int]:
    """Claim up to ``limit`` due attempts (the longest due first) for ``owner`` until
    now + lease; returns their ids. The claim counts as a try. Commit promptly: the
    claim is only visible to other workers once committed."""
    if limit <= 0:
        return []
    until = now + timedelta(seconds=lease_seconds)
    claim = {"claimed_by": owner, "claimed_until": until, "tries": A.tries + 1}
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.execute(_pick(limit, now).with_for_update(skip_locked=True)).scalars())
        if ids:
            session.execute(update(RefundAttempt.__table__).where(A.id.in_(ids)).values(**claim))
        return ids
    # SQLite (and anything else): one conditional statement inside the write lock.
    claimed = session.execute(
        update(RefundAttempt.__table__).where(A.id.in_(_pick(limit, now).scalar_subquery()), _due(A, now)).values(**claim).returning(A.id)
    )
    return sorted(claimed.scalars())


def backoff_seconds(tries: int) -> float:
    """Delay before the next try of an attempt still open after ``tries`` claims:
    2 s, 4 s, 8 s ... doubling, at most 5 minutes."""
    return min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** max(0, tries - 1))


def release(session: Session, attempt_id: int, owner: str, now: datetime) -> bool:
    """Give up ``owner``'s claim on an attempt. If the attempt is still open (unknown,
    or pending at the gateway, or the gateway was unreachable) its next try is set
    after the backoff. False if the claim was no longer ours (taken over after it
    expired): the new claimant decides then."""
    row = session.execute(select(A.status, A.tries).where(A.id == attempt_id, A.claimed_by == owner)).first()
    if row is None:
        return False
    values: dict = {"claimed_by": None, "claimed_until": None}
    if row.status in LIVE:
        values["next_try_at"] = now + timedelta(seconds=backoff_seconds(row.tries))
    changed = session.execute(
        update(RefundAttempt.__table__).where(A.id == attempt_id, A.claimed_by == owner).values(**values)
    ).rowcount
    return changed == 1
