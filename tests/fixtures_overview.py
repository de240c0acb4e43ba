"""Bulk data for the overview tests and the plan check: users, order snapshots,
support cases and refund cases inserted directly (Core executemany), quickly.

Deliberately awkward data: many rows share a timestamp or an amount, so ordering and
paging must break ties by id; statuses, reasons, assignees and customers vary.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from support_app.domain.case_rules import CaseStatus, Category, Priority
from support_app.domain.refund_rules import RefundReason, RefundStatus
from support_app.models import CaseSubjectTerm, CustomerNameTerm, OrderSnapshot, RefundCase, SupportCase, User
from support_app.models.search_index import email_index, name_term_rows, subject_term_rows

BASE = datetime(2026, 3, 1, tzinfo=timezone.utc)
FIRST_NAMES = ["Alice", "Bob", "Chloé", "Dmitri", "Erin", "Farah", "Gus", "Hana", "Ivo", "June"]
LAST_NAMES = ["Martin", "Chen", "O'Neil", "Dupont", "Okafor", "Smith_Jones", "100% Real"]
# Subjects: "Kettle about order 7"; every third case's subject has the word kettle.
SUBJECT_WORDS = ["Kettle", "Lamp", "Broken mug"]
CATEGORIES, PRIORITIES = [c.value for c in Category], [p.value for p in Priority]  # by case id, no randomness used


@dataclass(frozen=True)
class Who:
    """Enough of a user to be a Caller (id, role) in the services."""

    id: int
    role: str
    email: str = ""
    full_name: str = ""


@dataclass
class Data:
    customers: list[Who]
    agents: list[Who]
    case_ids: list[int]
    refund_ids: list[int]
    next_case_id: int
    next_refund_id: int


def _ins(engine: Engine, model, rows: list[dict]) -> None:
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(model.__table__), rows)


def make_users(engine: Engine, n_customers: int, n_agents: int = 3) -> tuple[list[Who], list[Who]]:
    users, customers, agents = [], [], []
    for i in range(1, n_customers + 1):
        name = f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[i % len(LAST_NAMES)]} {i}"
        users.append(dict(id=i, email=f"cust{i:05d}@example.com", full_name=name, role="customer"))
        customers.append(Who(i, "customer", f"cust{i:05d}@example.com", name))
    for j in range(1, n_agents + 1):
        uid = n_customers + j
        users.append(dict(id=uid, email=f"agent{j}@example.com", full_name=f"Agent Number{j}", role="agent"))
        agents.append(Who(uid, "agent", f"agent{j}@example.com", f"Agent Number{j}"))
    for u in users:
        u.update(password_hash="x", is_active=True, created_at=BASE, order_customer_id=None, email_bidx=email_index(u["email"]))
    _ins(engine, User, users)
    _ins(engine, CustomerNameTerm, [t for c in customers for t in name_term_rows(c.id, c.full_name)])
    return customers, agents


def add_cases(engine: Engine, data: Data, n: int, *, seed: int = 7, start: datetime = BASE,
              refund_every: int = 2) -> tuple[list[int], list[int]]:
    """n more support cases (each on its own order), and a refund on every
    ``refund_every``-th case. Returns the new case ids and refund ids."""
    rnd = random.Random(seed)
    snaps, cases, refunds = [], [], []
    statuses, rstatuses, reasons = list(CaseStatus), list(RefundStatus), list(RefundReason)
    new_cases, new_refunds = [], []
    for k in range(n):
        cid = data.next_case_id
        data.next_case_id += 1
        cust = data.customers[rnd.randrange(len(data.customers))]
        # Buckets of ~5 cases share one created_at instant: ties must be broken by id.
        created = start + timedelta(minutes=(k // 5) * 173 % 9000, microseconds=0)
        updated = created + timedelta(hours=rnd.choice([0, 0, 1, 5, 30]))
        assignee = rnd.choice([None, *[a.id for a in data.agents]])
        snaps.append(dict(id=cid, order_id=f"ORD-{cid:06d}", customer_id=cust.id, currency="EUR", placed_at=created,
                          delivered_at=created, shipping_amount=0, shipping_tax=0, amount_paid=10_000,
                          payment_reference=f"PAY-{cid}", fetched_at=created))
        cases.append(dict(id=cid, number=f"SC-{cid:06d}", customer_id=cust.id, order_snapshot_id=cid,
                          subject=f"{SUBJECT_WORDS[cid % len(SUBJECT_WORDS)]} about order {cid}", description="d",
                          category=CATEGORIES[cid % len(CATEGORIES)], priority=PRIORITIES[cid % len(PRIORITIES)],
                          status=statuses[rnd.randrange(len(statuses))].value, assignee_id=assignee, version=1,
                          created_at=created, updated_at=updated))
        new_cases.append(cid)
        if k % refund_every == 0:
            rid = data.next_refund_id
            data.next_refund_id += 1
            refunds.append(dict(id=rid, number=f"RF-{rid:06d}", support_case_id=cid, order_snapshot_id=cid,
                                customer_id=cust.id, status=rstatuses[rnd.randrange(len(rstatuses))].value,
                                reason=reasons[rnd.randrange(len(reasons))].value,
                                amount=rnd.choice([500, 1250, 1250, 2999, 10_000]) + (rid % 3) * 100,
                                shipping_amount=0, currency="EUR", request_key=f"rk-{rid}", abandoned=False,
                                version=1, requested_at=created + timedelta(minutes=1), created_at=created,
                                updated_at=updated + timedelta(minutes=2)))
            new_refunds.append(rid)
    _ins(engine, OrderSnapshot, snaps)
    _ins(engine, SupportCase, cases)
    _ins(engine, CaseSubjectTerm, [t for c in cases for t in subject_term_rows(c["id"], c["subject"])])
    _ins(engine, RefundCase, refunds)
    data.case_ids += new_cases
    data.refund_ids += new_refunds
    return new_cases, new_refunds


def make_data(engine: Engine, n_cases: int = 300, n_customers: int = 25, seed: int = 7) -> Data:
    customers, agents = make_users(engine, n_customers)
    data = Data(customers, agents, [], [], 1, 1)
    add_cases(engine, data, n_cases, seed=seed)
    return data
