"""The demo history (seed-demo): written through the services against a real sandbox
(order system and gateway over loopback HTTP) into a migrated SQLite file, anchored at a
fixed moment. It must show every status, both currencies, the whole team and 90 days of
activity, leave no attempt for the workers, agree with the gateway's ledger, never pay
back more than was paid, add nothing when run again, and be the same for the same anchor.
"""

from __future__ import annotations

import io
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, redirect_stdout
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select as sa_select
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, select

from fixtures_http import refused_url, serve_asgi
from support_app import cli
from support_app.db import get_engine, make_engine, session_scope
from support_app.devdata.demo import DEMO_AGENTS
from support_app.devdata.history import HISTORY_AGENTS, HistoryError, seed_history
from support_app.integrations.gateway_client import GatewayClient
from support_app.integrations.order_client import OrderClient
from support_app.models import CaseMessage, OrderSnapshot, RefundAttempt, RefundCase, User
from support_app.models.base import frozen_time
from support_app.sandbox.app import create_sandbox_app
from support_app.sandbox.catalogue import DEMO_CUSTOMERS, HISTORY_CUSTOMERS, demo_orders, history_orders
from support_app.services.auth_service import Identity
from support_app.services.metrics import metrics
from support_app.settings import ROOT, get_settings

ANCHOR = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)  # the sandbox's "first start"


@dataclass
class Seeded:
    engine: Engine
    sandbox: str  # base URL: /orders and /gateway under it
    summary: re.Match | None = None  # the history line `seed-demo` printed

    def rows(self, sql: str, **params) -> list[tuple]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]

    def one(self, sql: str, **params):
        return self.rows(sql, **params)[0][0]

    def seed_demo(self) -> list[str]:
        """`python -m support_app.cli seed-demo` against this database and sandbox; its output lines."""
        with pytest.MonkeyPatch.context() as env:
            env.setenv("SUPPORT_DATABASE_URL", str(self.engine.url))
            env.setenv("SUPPORT_ORDER_SYSTEM_URL", f"{self.sandbox}/orders")
            env.setenv("SUPPORT_PAYMENT_GATEWAY_URL", f"{self.sandbox}/gateway")
            _reset_caches()
            out = io.StringIO()
            try:
                with redirect_stdout(out):
                    assert cli.main(["seed-demo"]) == 0
            finally:
                _reset_caches()
        return out.getvalue().splitlines()


SUMMARY = re.compile(r"history  created (\d+) of \1 support cases and (\d+) refund cases over the 90 days before "
                     r"(\S+ \S+) UTC \(the sandbox's first start\), 37 customers and 3 agents in [\d.]+ s")


def _reset_caches() -> None:
    """The CLI reads the settings and builds its engine once per process: forget them."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    get_settings.cache_clear()


def _migrate(url: str) -> None:
    """Alembic to head (the app's triggers and partial indexes), without its logging setup."""
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.attributes["url"] = url
    command.upgrade(cfg, "head")


def _seed(stack: ExitStack, directory: Path) -> Seeded:
    """A sandbox first started at ANCHOR, a migrated database, then `seed-demo` (accounts
    and history; the five demo accounts dated 200 days before the anchor)."""
    directory.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{directory / 'app.db'}"
    _migrate(url)
    engine = make_engine(url)
    stack.callback(engine.dispose)
    app = create_sandbox_app(directory / "sandbox.db", webhook_url=None, webhook_secret="", now=ANCHOR)
    seeded = Seeded(engine, stack.enter_context(serve_asgi(app)))
    with frozen_time(ANCHOR - timedelta(days=200)):  # the history's own steps run at their moments
        lines = seeded.seed_demo()
    seeded.summary = SUMMARY.fullmatch(lines[-1])
    assert seeded.summary and len(lines) == 6, lines
    return seeded


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Seeded]:
    with ExitStack() as stack:
        yield _seed(stack, tmp_path_factory.mktemp("demo"))


def _counts(seeded: Seeded) -> dict[str, int]:
    return {t.name: seeded.one(f"select count(*) from {t.name}") for t in SQLModel.metadata.sorted_tables}


# -- what the data shows ---------------------------------------------------------------


def test_every_case_and_refund_status_is_there(demo):
    cases = dict(demo.rows("select status, count(*) from support_cases group by status"))
    # The README's numbers, for any anchor (this one is not the one they were counted at).
    assert cases == {"open": 6, "in_progress": 13, "waiting_on_customer": 4, "resolved": 51, "closed": 227}
    refunds = dict(demo.rows("select status, count(*) from refund_cases group by status"))
    # approved and processing are passed through on the way to refunded or failed: no refund
    # may rest there, because that would leave an attempt for the workers (see below).
    assert refunds == {"requested": 7, "refunded": 108, "failed": 9, "rejected": 18, "settled": 68, "cancelled": 18}
    passed = {s for (s,) in demo.rows("select distinct to_status from refund_events")}
    assert {"requested", "approved", "processing", "refunded", "failed", "rejected", "settled", "cancelled"} <= passed
    # failed: given up on (abandoned), and still waiting for an agent's decision
    assert {a for (a,) in demo.rows("select abandoned from refund_cases where status = 'failed'")} == {0, 1}
    # failed, retried and then refunded: a declined attempt, then a succeeded one
    retried = demo.rows(
        "select r.id from refund_cases r where r.status = 'refunded' and exists (select 1 from refund_attempts a "
        "where a.refund_case_id = r.id and a.status = 'failed') and exists (select 1 from refund_attempts a "
        "where a.refund_case_id = r.id and a.status = 'succeeded')")
    assert len(retried) >= 2
    kinds = dict(demo.rows("select decision_code, count(*) from refund_cases where status = 'settled' group by 1"))
    assert set(kinds) == {"store_credit", "replacement", "manual_transfer", "goodwill"}
    assert demo.one("select count(*) from refund_cases where status = 'settled' and settled_amount = 0 "
                    "and decision_code != 'replacement'") == 0
    with session_scope(demo.engine) as s:  # through the models: texts may be stored encrypted
        rejected = list(s.exec(select(RefundCase).where(RefundCase.status == "rejected")))
        told = [(m.case_id, m.body) for m in s.exec(select(CaseMessage).where(CaseMessage.visibility == "public"))]
    assert {r.decision_code for r in rejected} >= {"no_evidence", "item_not_returned", "outside_policy"}
    for r in rejected:  # the message reached the customer's conversation
        said = [body for case_id, body in told if case_id == r.support_case_id
                and body.startswith(f"Refund {r.number} was not approved (")]
        assert len(said) == 1 and said[0].endswith(r.decision_note) and len(r.decision_note) > 40


def test_two_currencies_the_whole_team_and_forty_customers(demo):
    assert {c for (c,) in demo.rows("select distinct currency from refund_cases")} == {"EUR", "USD"}
    assert {c for (c,) in demo.rows("select distinct currency from order_snapshots")} == {"EUR", "USD"}
    with session_scope(demo.engine) as s:
        users = list(s.exec(select(User)))
    agents = {u.email: u for u in users if u.role == "agent"}
    assert {(e, a.full_name) for e, a in agents.items()} == set(DEMO_AGENTS + HISTORY_AGENTS)
    assert (agents["agent@example.com"].full_name, agents["agent2@example.com"].full_name) == ("Sam Rivera", "Riley Park")
    customers = {u.order_customer_id for u in users if u.role == "customer"}
    assert customers == {cid for cid, _, _ in DEMO_CUSTOMERS + HISTORY_CUSTOMERS} and len(customers) == 40
    ids = {u.id for u in agents.values()}
    working = {a for (a,) in demo.rows("select distinct assignee_id from support_cases where assignee_id is not null")}
    writing = {a for (a,) in demo.rows("select distinct author_id from case_messages where visibility = 'internal'")}
    assert working == ids and writing <= ids and len(writing) >= 4
    with_cases = demo.one("select count(distinct customer_id) from support_cases")
    assert with_cases >= 30


def test_alice_bob_and_carol_keep_their_orders_untouched(demo):
    with OrderClient(f"{demo.sandbox}/orders", timeout_seconds=5) as client:
        theirs = {o.order_id: o for cid, _, _ in DEMO_CUSTOMERS for o in client.list_customer_orders(cid)}
    assert theirs == {o.order_id: o for o in demo_orders(ANCHOR)}  # the browser tests' boundary offsets
    assert demo.one("select count(*) from order_snapshots where order_id like 'ORD-100%'") == 0


def test_ninety_days_of_history_up_to_the_anchor(demo):
    def ts(value: str) -> datetime:
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)

    first, last = (ts(v) for v in demo.rows("select min(created_at), max(created_at) from support_cases")[0])
    assert ANCHOR - timedelta(days=90) <= first < ANCHOR - timedelta(days=88)
    assert ANCHOR - timedelta(days=1) < last < ANCHOR
    for table, column in (("case_events", "created_at"), ("case_messages", "created_at"), ("refund_events", "created_at"),
                          ("refund_attempts", "updated_at"), ("support_cases", "updated_at"), ("refund_cases", "updated_at")):
        assert ts(demo.one(f"select max({column}) from {table}")) < ANCHOR, table
    # nothing happens to a case before it was opened, nor to a case before its order was delivered
    assert demo.one("select count(*) from case_events e join support_cases c on c.id = e.case_id "
                    "where e.created_at < c.created_at") == 0
    assert demo.one("select count(*) from support_cases c join order_snapshots o on o.id = c.order_snapshot_id "
                    "where o.delivered_at > c.created_at") == 0


def test_conversations_go_both_ways_with_notes_and_first_responses(demo):
    by_role = dict(demo.rows("select u.role || ':' || m.visibility, count(*) from case_messages m "
                             "join users u on u.id = m.author_id group by 1"))
    assert by_role["customer:public"] > 100 and by_role["agent:public"] > 300 and by_role["agent:internal"] > 50
    assert "customer:internal" not in by_role
    # every case an agent answered has its first response, after it was opened
    assert demo.one("select count(*) from support_cases c where first_response_at is null and exists (select 1 "
                    "from case_messages m join users u on u.id = m.author_id where m.case_id = c.id and "
                    "u.role = 'agent' and m.visibility = 'public')") == 0
    delays = [r[0] for r in demo.rows("select (julianday(first_response_at) - julianday(created_at)) * 24 "
                                      "from support_cases where first_response_at is not null")]
    assert min(delays) > 0.05 and max(delays) < 80 and 1 < sorted(delays)[len(delays) // 2] < 24
    assert demo.one("select count(*) from support_cases where status in ('resolved', 'closed') "
                    "and resolved_at is null") == 0
    assert demo.one("select count(*) from support_cases where status = 'open' and assignee_id is null") >= 1


def test_metrics_have_something_to_show_on_most_days(demo):
    with session_scope(demo.engine) as s:
        sam = next(Identity(u.id, u.role) for u in s.exec(select(User)) if u.email == "agent@example.com")
    with frozen_time(ANCHOR), session_scope(demo.engine) as session:
        eur = metrics(session, sam, days=90)
    money = {r.currency: r for r in eur.refunded}
    busy = [d for d in eur.per_day if d["opened"] or d["refund_requests"]]
    assert len(busy) >= 80  # of 90 days (and the partial day the window starts in, which metrics adds)
    assert sum(1 for d in eur.per_day if d["opened"]) >= 75
    assert sum(1 for d in eur.per_day if d["resolved"]) >= 60
    assert sum(1 for d in money["EUR"].per_day if d["amount"]) >= 40
    assert sum(1 for d in money["USD"].per_day if d["amount"]) >= 20
    assert "—" not in (eur.median_first_response, eur.median_resolution, eur.median_approve_to_refunded)
    assert eur.median_approve_to_refunded.endswith(" s")
    assert 0.5 < float(eur.median_approve_to_refunded.split()[0]) < 3.0  # the gateway's latency
    assert money["EUR"].total.startswith("€") and money["USD"].total.startswith("$")
    assert len(eur.by_reason) == 6 and any(0 < r["rate"] < 100 for r in eur.by_reason)
    assert {o.kind for o in eur.oldest} == {"case", "refund"}


# -- money ---------------------------------------------------------------------------


def test_no_attempt_is_left_for_the_workers_and_the_gateway_agrees(demo):
    with session_scope(demo.engine) as s:  # through the models: payment references may be stored encrypted
        attempts = s.exec(select(RefundAttempt.idempotency_key, RefundAttempt.status, RefundAttempt.gateway_reference,
                                 RefundAttempt.error_code, RefundAttempt.amount, OrderSnapshot.payment_reference)
                          .join(RefundCase, RefundCase.id == RefundAttempt.refund_case_id)
                          .join(OrderSnapshot, OrderSnapshot.id == RefundCase.order_snapshot_id)).all()
    assert Counter(status for _, status, *_ in attempts).keys() == {"succeeded", "failed"}
    assert demo.one("select count(*) from refund_cases where status in ('approved', 'processing')") == 0
    refunded: dict[str, int] = defaultdict(int)
    with GatewayClient(f"{demo.sandbox}/gateway", timeout_seconds=5) as gateway:
        for key, status, reference, error, amount, payment in attempts:
            answer = gateway.find_refund(key)
            assert answer is not None and (answer.outcome, answer.reference) == (status, reference), key
            if status == "failed":
                assert error in ("card_declined", "expired_card", "account_closed")
            else:
                refunded[payment] += amount
    for payment, amount in refunded.items():  # the ledger moved exactly the app's refunds
        assert gateway_payment(demo, payment)["refunded"] == amount


def gateway_payment(demo: Seeded, ref: str) -> dict:
    return httpx.get(f"{demo.sandbox}/gateway/payments/{ref}").raise_for_status().json()


def test_what_was_paid_back_never_exceeds_what_was_paid(demo):
    over = demo.rows(
        "select o.order_id, o.amount_paid, sum(case when r.status = 'refunded' then r.amount else 0 end) "
        "+ sum(case when r.status = 'settled' then r.settled_amount else 0 end) back from order_snapshots o "
        "join refund_cases r on r.order_snapshot_id = o.id group by o.id having back > o.amount_paid")
    assert over == []
    held = demo.rows(
        "select l.id from order_lines l join refund_items i on i.order_line_id = l.id join refund_cases r "
        "on r.id = i.refund_case_id where r.status in ('requested', 'approved', 'processing', 'refunded', 'settled') "
        "or (r.status = 'failed' and not r.abandoned) group by l.id having sum(i.quantity) > l.quantity")
    assert held == []
    # a gateway refund was requested inside the 14-day window; late items were settled instead
    assert demo.one("select count(*) from refund_cases r join order_snapshots o on o.id = r.order_snapshot_id "
                    "where r.status = 'refunded' and (o.delivered_at is null or "
                    "julianday(r.requested_at) > julianday(o.delivered_at) + 14)") == 0
    assert demo.one("select count(*) from refund_cases r join order_snapshots o on o.id = r.order_snapshot_id "
                    "where r.status = 'settled' and (o.delivered_at is null or "
                    "julianday(r.requested_at) > julianday(o.delivered_at) + 14)") >= 5


# -- idempotent, deterministic -------------------------------------------------------------


def test_a_second_run_adds_nothing(demo):
    before = _counts(demo)
    cases, refunds, anchor = demo.summary.groups()
    assert before["support_cases"] == int(cases) and before["refund_cases"] == int(refunds)
    assert demo.seed_demo()[-1] == (f"history  exists: {cases} support cases over the 90 days before {anchor} UTC "
                                    "(the sandbox's first start); nothing to do")
    assert _counts(demo) == before


# Values that are random by design: idempotency keys carry a random part, the gateway
# names its refunds, and every password hash has its own salt.
RANDOM = (re.compile(r"re_[0-9a-f]{32}"), re.compile(r"(refund-\d+-attempt-\d+-)[0-9a-f]{16}"))


def _dump(seeded: Seeded) -> dict[str, list[tuple]]:
    """Every table's rows as the app reads them (through the column types, so values
    stored encrypted compare by what they hold), random parts masked."""
    tables = {}
    with seeded.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            columns = [c for c in table.columns if c.name != "password_hash"]
            rows = conn.execute(sa_select(*columns).order_by(*table.primary_key.columns))
            tables[table.name] = [tuple(RANDOM[1].sub(r"\1*", RANDOM[0].sub("re_*", v)) if isinstance(v, str) else v
                                        for v in row) for row in rows]
    return tables


def test_the_same_anchor_gives_the_same_rows(demo, tmp_path):
    with ExitStack() as stack:
        other = _seed(stack, tmp_path / "again")
        assert _dump(other) == _dump(demo)


def test_history_orders_move_with_the_anchor_only():
    later = ANCHOR + timedelta(days=17, seconds=5)
    first, second = history_orders(ANCHOR), history_orders(later)
    assert [o.order_id for o in first] == [o.order_id for o in second] and len(first) > 300
    assert all(a.placed_at - ANCHOR == b.placed_at - later and a.lines == b.lines and a.amount_paid == b.amount_paid
               for a, b in zip(first, second))
    assert {o.customer_id for o in first} == {cid for cid, _, _ in HISTORY_CUSTOMERS}
    assert {o.status for o in first} == {"processing", "shipped", "delivered"}
    assert len({o.payment_reference for o in first}) == len(first)


def test_without_the_sandbox_the_history_says_what_is_missing(engine):
    with refused_url() as nowhere, pytest.raises(HistoryError) as err:
        seed_history(engine, order_url=f"{nowhere}/orders", gateway_url=f"{nowhere}/gateway", wait_seconds=0.5)
    assert "did not answer" in str(err.value) and "make run" in str(err.value)
