"""Demo accounts matching the order sandbox's customers, plus two agents. Idempotent."""

from __future__ import annotations

from sqlmodel import Session, select

from support_app.models import User
from support_app.models.search_index import email_index
from support_app.sandbox.catalogue import DEMO_CUSTOMERS
from support_app.services.auth_service import create_user
from support_app.services.runner import writes

DEMO_PASSWORD = "demo-pass-2026"
DEMO_AGENTS = [("agent@example.com", "Sam Rivera"), ("agent2@example.com", "Riley Park")]


@writes
def seed_demo(session: Session) -> list[tuple[str, str, bool]]:
    """Create what is missing; return (email, role, created) for every demo account."""
    wanted = [(email, name, "customer", cid) for cid, email, name in DEMO_CUSTOMERS]
    wanted += [(email, name, "agent", None) for email, name in DEMO_AGENTS]
    report = []
    for email, name, role, cid in wanted:
        exists = session.exec(select(User.id).where(User.email_bidx == email_index(email))).first() is not None
        if not exists:
            create_user(session, email, name, role, DEMO_PASSWORD, cid)
        report.append((email, role, not exists))
    return report
