"""Alembic migrations: up, down and up again on SQLite and PostgreSQL, and the
migrated schema equals what the models declare (autogenerate finds no diff).
`python -m support_app.cli migrate` run by several processes at once (replicas
starting together) migrates once: the others wait for the lock, then find head.

PostgreSQL runs in a throw-away schema (fixture ``pg_url``), so whatever another run
left in ``public`` cannot make this pass or fail; the schema is dropped at the end.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import column as sa_column
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy import table as sa_table
from sqlalchemy.exc import DatabaseError, IntegrityError
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

import support_app.models  # noqa: F401  (registers every table)
from fixtures_db import alembic_config, keep_logging, pg_url  # noqa: F401
from support_app.db import make_engine
from support_app.migration_lock import LOCK_NAME, PG_LOCK_KEY, migration_lock, pg_lock, pg_unlock
from support_app.models.base import UTCDateTime
from support_app.models.search_index import email_index
from support_app.security.crypto import get_keyring
from support_app.settings import ROOT

APP_TABLES = {
    "users", "sign_ins", "refresh_tokens", "order_snapshots", "order_lines", "support_cases", "case_messages", "case_events",
    "refund_cases", "refund_items", "refund_events", "refund_attempts", "webhook_events",
    "customer_name_terms", "case_subject_terms", "case_seen_marks",
}


def test_models_declare_exactly_the_app_tables():
    assert set(SQLModel.metadata.tables) == APP_TABLES


def test_single_head(keep_logging):
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def schema_diff(engine) -> list:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(ctx, SQLModel.metadata)


def tables(bind) -> set[str]:
    return set(inspect(bind).get_table_names())


def current_revision(engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head(url: str) -> str:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def seed_and_try_tampering(engine, encrypted: bool = True) -> None:
    """Insert a user, a case and a history event with plain SQL (customer data as the
    schema stores it: ciphertext from 0006 on, ``encrypted=False`` before); then UPDATE
    and DELETE on case_events must be refused by the database itself."""
    enc = get_keyring().encrypt if encrypted else (lambda value, _aad: value)
    bidx = ("email_bidx, ", ":bidx, ") if encrypted else ("", "")
    with engine.begin() as conn:
        conn.execute(text(
            f"INSERT INTO users (id, email, {bidx[0]}full_name, role, password_hash, is_active, created_at) "
            f"VALUES (1, :email, {bidx[1]}:name, 'customer', 'x', true, CURRENT_TIMESTAMP)"),
            {"email": enc("a@example.com", "users.email"), "bidx": email_index("a@example.com"),
             "name": enc("A", "users.full_name")})
        conn.execute(text(
            "INSERT INTO order_snapshots (id, order_id, customer_id, currency, placed_at, shipping_amount, "
            "shipping_tax, amount_paid, payment_reference, fetched_at) "
            "VALUES (1, 'ORD-1', 1, 'EUR', CURRENT_TIMESTAMP, 0, 0, 100, :ref, CURRENT_TIMESTAMP)"),
            {"ref": enc("PAY-1", "order_snapshots.payment_reference")})
        conn.execute(text(
            "INSERT INTO support_cases (id, number, customer_id, order_snapshot_id, subject, description, category, "
            "priority, status, version, created_at, updated_at) VALUES (1, 'SC-000001', 1, 1, :subject, :description, "
            "'other', 'normal', 'open', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
            {"subject": enc("subj", "support_cases.subject"), "description": enc("description", "support_cases.description")})
        conn.execute(text(
            "INSERT INTO case_events (case_id, actor_id, kind, to_status, internal, created_at) "
            "VALUES (1, 1, 'created', 'open', false, CURRENT_TIMESTAMP)"))
    for sql in ("UPDATE case_events SET kind = 'tampered'", "DELETE FROM case_events"):
        with pytest.raises(DatabaseError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(sql))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT kind FROM case_events")).scalars().all() == ["created"]


def round_trip(url: str) -> None:
    cfg = alembic_config(url)
    engine = make_engine(url)
    try:
        command.upgrade(cfg, "head")
        assert current_revision(engine) == head(url)
        assert tables(engine) == APP_TABLES | {"alembic_version"}
        assert schema_diff(engine) == []
        seed_and_try_tampering(engine)

        command.downgrade(cfg, "base")
        assert current_revision(engine) is None
        assert tables(engine) - {"alembic_version"} == set()

        command.upgrade(cfg, "head")  # a downgrade leaves nothing behind that blocks a fresh upgrade
        assert current_revision(engine) == head(url)
        assert schema_diff(engine) == []
        seed_and_try_tampering(engine)  # the triggers came back too
    finally:
        try:
            command.downgrade(cfg, "base")
            assert tables(engine) - {"alembic_version"} == set()
        finally:
            engine.dispose()


def test_round_trip_on_sqlite(tmp_path, keep_logging):
    round_trip(f"sqlite:///{tmp_path / 'migrations.db'}")


@pytest.mark.postgres
def test_round_trip_on_postgresql(pg_url, keep_logging):
    round_trip(pg_url)
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:  # the trigger functions went with the downgrade
            left = conn.execute(text(
                "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = current_schema() AND proname LIKE 'case_events_no_%'")).scalars().all()
        assert left == []
    finally:
        engine.dispose()


def test_offline_sql_can_be_rendered(keep_logging, capsys):
    """`alembic upgrade head --sql` works, e.g. for a DBA to review."""
    command.upgrade(alembic_config("postgresql://"), "head", sql=True)
    out = capsys.readouterr().out
    assert "CREATE TABLE support_cases" in out and "CREATE TRIGGER case_events_no_update" in out


# -- one migration at a time (python -m support_app.cli migrate) -------------------

WAITING = "migrate: another migration holds the lock; waiting for it"


def start_migrate(url: str) -> subprocess.Popen:
    """`python -m support_app.cli migrate` as its own process, as a replica or job runs it."""
    env = {**os.environ, "SUPPORT_ENVIRONMENT": "test", "SUPPORT_DATABASE_URL": url}
    return subprocess.Popen([sys.executable, "-m", "support_app.cli", "migrate"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    return err


def wait_until_waiting(proc: subprocess.Popen) -> None:
    """Block until the process says it found the lock taken (an event, not a delay)."""
    for line in proc.stderr:
        if line.strip() == WAITING:
            return
    proc.wait()
    pytest.fail(f"migrate never waited for the lock (exit {proc.returncode})")


def assert_at_head(url: str) -> None:
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head(url)
        assert tables(engine) == APP_TABLES | {"alembic_version"}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        engine.dispose()


@pytest.fixture
def pg_holder(pg_url):
    """An AUTOCOMMIT connection into the test schema, to hold the migration lock."""
    engine = create_engine(pg_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def advisory_waiters(conn) -> int:
    """Sessions blocked in pg_advisory_lock on the migration key of this schema."""
    key = conn.execute(text(f"SELECT {PG_LOCK_KEY}"), {"name": LOCK_NAME}).scalar() & 0xFFFFFFFFFFFFFFFF
    return conn.execute(text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1 "
        "AND classid::text::bigint = :hi AND objid::text::bigint = :lo"), {"hi": key >> 32, "lo": key & 0xFFFFFFFF}
    ).scalar()


@pytest.mark.postgres
def test_replicas_migrating_together_on_postgresql_all_succeed(pg_url, keep_logging):
    procs = [start_migrate(pg_url) for _ in range(4)]
    for proc in procs:
        finish(proc)
    assert_at_head(pg_url)


@pytest.mark.postgres
def test_migrate_waits_for_the_advisory_lock_on_postgresql(pg_url, pg_holder, keep_logging):
    assert pg_lock(pg_holder, wait=False)  # as if another replica were migrating
    procs = [start_migrate(pg_url) for _ in range(3)]
    for proc in procs:
        wait_until_waiting(proc)
    # Each is now blocked inside pg_advisory_lock, and nothing has been migrated.
    while advisory_waiters(pg_holder) < 3:
        assert all(p.poll() is None for p in procs)
    assert all(p.poll() is None for p in procs)
    assert "alembic_version" not in tables(pg_holder)

    pg_unlock(pg_holder)
    for proc in procs:
        finish(proc)
    assert_at_head(pg_url)
    assert pg_lock(pg_holder, wait=False)  # every runner released the lock
    pg_unlock(pg_holder)


def test_replicas_migrating_together_on_sqlite_all_succeed(tmp_path, keep_logging):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    procs = [start_migrate(url) for _ in range(4)]
    for proc in procs:
        finish(proc)
    assert_at_head(url)


def test_migrate_waits_for_the_file_lock_on_sqlite(tmp_path, keep_logging):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    fd = os.open(tmp_path / "app.db.migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc = start_migrate(url)
        wait_until_waiting(proc)
        assert proc.poll() is None
        assert not (tmp_path / "app.db").exists()  # blocked before touching the database
        fcntl.flock(fd, fcntl.LOCK_UN)
        finish(proc)
        assert_at_head(url)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released by the runner
    finally:
        os.close(fd)


def test_in_memory_sqlite_needs_no_lock():
    with migration_lock("sqlite://"):
        pass


# -- 0004: attempt claims ---------------------------------------------------------

ATTEMPTS = sa_table(
    "refund_attempts", sa_column("id"), sa_column("refund_case_id"), sa_column("idempotency_key"), sa_column("status"),
    sa_column("amount"), sa_column("currency"), sa_column("sends"), sa_column("created_at", UTCDateTime()),
    sa_column("updated_at", UTCDateTime()),
)
CLAIM_COLUMNS = {"tries", "next_try_at", "claimed_by", "claimed_until"}


def attempt_columns(engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("refund_attempts")}


def attempt_indexes(engine) -> set[str]:
    return {i["name"] for i in inspect(engine).get_indexes("refund_attempts")}


def second_live_attempt_refused(engine) -> bool:
    """The partial unique index (one live attempt per refund) survived the table rebuild."""
    try:
        with engine.begin() as conn:
            conn.execute(ATTEMPTS.insert().values(
                id=99, refund_case_id=1, idempotency_key="second-live", status="pending", amount=1, currency="EUR",
                sends=0, created_at=datetime.now(timezone.utc), updated_at=datetime.now(timezone.utc)))
    except IntegrityError:
        return True
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM refund_attempts WHERE id = 99"))
    return False


def check_claim_columns_migration(url: str) -> None:
    """0004 on a database that already holds attempts: every row gets next_try_at from
    its updated_at (so an attempt left open is due at once), tries 0, no claim; the
    downgrade gives the 0003 table back with its rows and indexes."""
    cfg = alembic_config(url)
    engine = make_engine(url)
    stamps = [datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=timezone.utc),
              datetime(2026, 11, 21, 18, 0, 0, 654321, tzinfo=timezone.utc)]
    try:
        command.upgrade(cfg, "0003")
        seed_and_try_tampering(engine, encrypted=False)  # a user, an order snapshot, a case (before 0006)
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO refund_cases (id, number, support_case_id, order_snapshot_id, customer_id, status, reason, "
                "amount, shipping_amount, currency, request_key, abandoned, version, requested_at, created_at, updated_at) "
                "VALUES (1, 'RF-000001', 1, 1, 1, 'processing', 'damaged', 100, 0, 'EUR', 'k1', false, 2, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            for i, (status, at) in enumerate(zip(("failed", "unknown"), stamps), start=1):
                conn.execute(ATTEMPTS.insert().values(
                    id=i, refund_case_id=1, idempotency_key=f"refund-1-attempt-{i}", status=status, amount=100,
                    currency="EUR", sends=1, created_at=at, updated_at=at))
        assert not CLAIM_COLUMNS & attempt_columns(engine)

        command.upgrade(cfg, "0004")
        assert CLAIM_COLUMNS <= attempt_columns(engine)
        assert {"ix_refund_attempts_status_next_try", "ix_refund_attempts_status_updated"} <= attempt_indexes(engine)
        with engine.connect() as conn:
            rows = conn.execute(select(
                sa_column("id"), sa_column("next_try_at", UTCDateTime()), sa_column("tries"), sa_column("claimed_by"),
                sa_column("claimed_until", UTCDateTime())).select_from(sa_table("refund_attempts")).order_by(text("id"))).all()
        assert [tuple(r) for r in rows] == [(1, stamps[0], 0, None, None), (2, stamps[1], 0, None, None)]
        assert second_live_attempt_refused(engine)
        with pytest.raises(IntegrityError):  # next_try_at is required from now on
            with engine.begin() as conn:
                conn.execute(ATTEMPTS.insert().values(
                    id=3, refund_case_id=1, idempotency_key="no-next-try", status="failed", amount=1, currency="EUR",
                    sends=0, created_at=stamps[0], updated_at=stamps[0]))

        command.downgrade(cfg, "0003")
        assert not CLAIM_COLUMNS & attempt_columns(engine)
        assert "ix_refund_attempts_status_next_try" not in attempt_indexes(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id, status FROM refund_attempts ORDER BY id")).all() == [
                (1, "failed"), (2, "unknown")]
        assert second_live_attempt_refused(engine)
    finally:
        try:
            command.downgrade(cfg, "base")
        finally:
            engine.dispose()


# -- 0006: customer data encrypted at rest -------------------------------------------

N_CUSTOMERS = 1_203  # more than one batch of the migration (BATCH = 1000)


def _plain_rows(conn) -> None:
    """Customer data as it stood before 0006: plaintext everywhere."""
    conn.execute(text(
        "INSERT INTO users (id, email, full_name, role, password_hash, is_active, created_at) "
        "VALUES (:id, :email, :name, :role, 'x', true, CURRENT_TIMESTAMP)"),
        [{"id": 1, "email": "agent@example.com", "name": "Sam Rivera", "role": "agent"}]
        + [{"id": i, "email": f"kenji{i}@example.com", "name": f"Kenji Ünder-Berg {i}", "role": "customer"}
           for i in range(2, N_CUSTOMERS + 2)])
    conn.execute(text(
        "INSERT INTO order_snapshots (id, order_id, customer_id, currency, placed_at, shipping_amount, "
        "shipping_tax, amount_paid, payment_reference, fetched_at) "
        "VALUES (1, 'ORD-1', 2, 'EUR', CURRENT_TIMESTAMP, 0, 0, 100, 'PAY-SECRET-1', CURRENT_TIMESTAMP)"))
    conn.execute(text(
        "INSERT INTO support_cases (id, number, customer_id, order_snapshot_id, subject, description, category, "
        "priority, status, version, created_at, updated_at) VALUES (1, 'SC-000001', 2, 1, 'Kettle arrived broken', "
        "'The lid is cracked', 'other', 'normal', 'open', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    conn.execute(text(
        "INSERT INTO case_messages (case_id, author_id, visibility, body, created_at) "
        "VALUES (1, 2, 'public', 'Photos attached', CURRENT_TIMESTAMP)"))
    conn.execute(text(
        "INSERT INTO case_events (case_id, actor_id, kind, to_status, detail, internal, created_at) "
        "VALUES (1, 2, 'created', 'open', 'Opened by Kenji', false, CURRENT_TIMESTAMP)"))
    conn.execute(text(
        "INSERT INTO refund_cases (id, number, support_case_id, order_snapshot_id, customer_id, status, reason, note, "
        "amount, shipping_amount, currency, request_key, abandoned, decision_note, version, requested_at, created_at, "
        "updated_at) VALUES (1, 'RF-000001', 1, 1, 2, 'rejected', 'damaged', 'Box crushed', 100, 0, 'EUR', 'k1', "
        "false, 'No photos of the box', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    conn.execute(text(
        "INSERT INTO refund_events (refund_case_id, actor_id, kind, from_status, to_status, detail, created_at) "
        "VALUES (1, 1, 'status_changed', 'requested', 'rejected', 'Rejected: no photos', CURRENT_TIMESTAMP)"))


PLAIN = {  # (table, column, id) → the plaintext it held
    ("users", "email", 2): "kenji2@example.com", ("users", "full_name", 2): "Kenji Ünder-Berg 2",
    ("users", "email", N_CUSTOMERS + 1): f"kenji{N_CUSTOMERS + 1}@example.com",
    ("order_snapshots", "payment_reference", 1): "PAY-SECRET-1",
    ("support_cases", "subject", 1): "Kettle arrived broken", ("support_cases", "description", 1): "The lid is cracked",
    ("case_messages", "body", 1): "Photos attached", ("case_events", "detail", 1): "Opened by Kenji",
    ("refund_cases", "note", 1): "Box crushed", ("refund_cases", "decision_note", 1): "No photos of the box",
    ("refund_events", "detail", 1): "Rejected: no photos",
}


def _raw(conn, table: str, column: str, row_id: int) -> str:
    return conn.execute(text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": row_id}).scalar_one()


def encrypt_migration_round_trip(url: str) -> None:
    from support_app.db import session_scope
    from support_app.domain.overview_rules import parse_overview_query
    from fixtures_overview import Who
    from support_app.services.overview_queries import support_case_overview

    cfg, engine = alembic_config(url), make_engine(url)
    keyring = get_keyring()
    try:
        command.upgrade(cfg, "0005")
        with engine.begin() as conn:
            _plain_rows(conn)
        command.upgrade(cfg, "0006")
        with engine.connect() as conn:
            for (table, column, row_id), plain in PLAIN.items():
                raw = _raw(conn, table, column, row_id)
                assert raw.startswith(f"enc1:{keyring.current_kid}:") and plain not in raw
                assert keyring.decrypt(raw, f"{table}.{column}") == plain
            assert _raw(conn, "users", "email_bidx", 2) == email_index("kenji2@example.com")
            assert conn.execute(text("SELECT count(*) FROM users WHERE email_bidx IS NULL")).scalar_one() == 0
            # Terms: every customer's name words and prefixes, the case's subject words.
            assert conn.execute(text("SELECT count(DISTINCT user_id) FROM customer_name_terms")).scalar_one() == N_CUSTOMERS
            assert conn.execute(text("SELECT count(*) FROM case_subject_terms WHERE case_id = 1")).scalar_one() == 3
        agent = Who(1, "agent")
        with session_scope(engine) as s:  # the app reads it: search by name prefix, subject word, exact email
            for params, found in (({"customer": "ken"}, 1), ({"customer": "under berg 2"}, 1), ({"q": "KETTLE"}, 1),
                                  ({"customer": "kenji2@example.com"}, 1), ({"customer": "kenji3@example.com"}, 0)):
                page = support_case_overview(s, agent, parse_overview_query(params, "support"))
                assert [r.subject for r in page.rows] == ["Kettle arrived broken"] * found, params
        for sql in ("UPDATE case_events SET detail = 'x'", "UPDATE refund_events SET kind = 'x'",
                    "DELETE FROM refund_events"):  # the guards are whole again after the migration
            with pytest.raises(DatabaseError, match="append-only"):
                with engine.begin() as conn:
                    conn.execute(text(sql))

        command.downgrade(cfg, "0005")
        with engine.connect() as conn:
            for (table, column, row_id), plain in PLAIN.items():
                assert _raw(conn, table, column, row_id) == plain
        assert not {"customer_name_terms", "case_subject_terms"} & tables(engine)
        with pytest.raises(DatabaseError):  # the unique email is back
            with engine.begin() as conn:
                conn.execute(text("UPDATE users SET email = 'kenji2@example.com' WHERE id = 3"))
        with pytest.raises(DatabaseError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text("UPDATE case_events SET detail = 'x'"))
        command.upgrade(cfg, "head")  # and up again
        assert schema_diff(engine) == []  # (compared at head: the models are the newest revision's)
        with engine.connect() as conn:
            assert keyring.decrypt(_raw(conn, "support_cases", "subject", 1), "support_cases.subject") == "Kettle arrived broken"
    finally:
        try:
            command.downgrade(cfg, "base")
        finally:
            engine.dispose()


def test_claim_columns_migration_on_sqlite(tmp_path, keep_logging):
    check_claim_columns_migration(f"sqlite:///{tmp_path / 'claims.db'}")


@pytest.mark.postgres
def test_claim_columns_migration_on_postgresql(pg_url, keep_logging):
    check_claim_columns_migration(pg_url)


def test_0006_encrypts_existing_rows_and_downgrade_restores_them_on_sqlite(tmp_path, keep_logging):
    encrypt_migration_round_trip(f"sqlite:///{tmp_path / 'encrypt.db'}")


@pytest.mark.postgres
def test_0006_encrypts_existing_rows_and_downgrade_restores_them_on_postgresql(pg_url, keep_logging):
    encrypt_migration_round_trip(pg_url)


# -- 0007: money rules ----------------------------------------------------------------

LONG = "x" * 5000


def _attempt(conn, attempt_id: int, status: str, error_message: str | None = None) -> None:
    conn.execute(text(
        "INSERT INTO refund_attempts (id, refund_case_id, idempotency_key, status, amount, currency, error_message, sends, "
        "tries, next_try_at, created_at, updated_at) VALUES (:id, 1, :key, :status, 100, 'EUR', :msg, 1, 1, "
        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
        {"id": attempt_id, "key": f"refund-1-attempt-{attempt_id}", "status": status, "msg": error_message})


def _columns(engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def money_rules_round_trip(url: str) -> None:
    """0007 on a database with refunds: snapshots get their status from the delivery
    date, gateway text fits whatever its length, a 'mismatch' attempt counts as live;
    the downgrade cuts long values to the old VARCHARs and gives the old index back."""
    cfg, engine = alembic_config(url), make_engine(url)
    try:
        command.upgrade(cfg, "0006")
        seed_and_try_tampering(engine)  # user 1, snapshot 1 (not delivered), case 1
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO order_snapshots (id, order_id, customer_id, currency, placed_at, delivered_at, shipping_amount, "
                "shipping_tax, amount_paid, payment_reference, fetched_at) VALUES (2, 'ORD-2', 1, 'EUR', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP, 0, 0, 100, :ref, CURRENT_TIMESTAMP)"),
                {"ref": get_keyring().encrypt("PAY-2", "order_snapshots.payment_reference")})
            conn.execute(text(
                "INSERT INTO order_lines (id, snapshot_id, line_id, sku, name, quantity, unit_price, discount_total, tax_total) "
                "VALUES (1, 1, 'L1', 'SKU', 'Thing', 1, 100, 0, 0)"))
            conn.execute(text(
                "INSERT INTO refund_cases (id, number, support_case_id, order_snapshot_id, customer_id, status, reason, "
                "amount, shipping_amount, currency, request_key, abandoned, gateway_reference, failure_reason, version, "
                "requested_at, created_at, updated_at) VALUES (1, 'RF-000001', 1, 1, 1, 'processing', 'damaged', 100, 0, "
                "'EUR', 'k1', false, :ref, :reason, 2, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                {"ref": "r" * 64, "reason": "y" * 300})
            conn.execute(text("INSERT INTO refund_items (id, refund_case_id, order_line_id, quantity, unit_amounts, amount) "
                              "VALUES (1, 1, 1, 1, :units, 100)"), {"units": "1" * 2000})
            _attempt(conn, 1, "failed", "z" * 300)

        command.upgrade(cfg, "0007")
        assert {"internal_note"} <= _columns(engine, "refund_cases")
        assert {"reported_amount", "reported_currency"} <= _columns(engine, "refund_attempts")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT id, status FROM order_snapshots ORDER BY id")).all() == [(1, "shipped"), (2, "delivered")]
            assert conn.execute(text("SELECT failure_reason FROM refund_cases")).scalar_one() == "y" * 300  # kept
            conn.execute(text("UPDATE refund_cases SET failure_reason = :v, gateway_reference = :v"), {"v": LONG})
            conn.execute(text("UPDATE refund_items SET unit_amounts = :v"), {"v": LONG})
            conn.execute(text("UPDATE refund_attempts SET error_message = :v, gateway_reference = :v, reported_amount = :big"),
                         {"v": LONG, "big": 10**15})
            _attempt(conn, 2, "mismatch")
        with pytest.raises(IntegrityError):  # a mismatch is the refund's live attempt: no second one
            with engine.begin() as conn:
                _attempt(conn, 3, "pending")

        command.downgrade(cfg, "0006")
        assert not {"internal_note"} & _columns(engine, "refund_cases")
        assert not {"reported_amount", "reported_currency"} & _columns(engine, "refund_attempts")
        assert "status" not in _columns(engine, "order_snapshots")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT failure_reason, gateway_reference FROM refund_cases")).one() == ("x" * 300, "x" * 64)
            assert conn.execute(text("SELECT unit_amounts FROM refund_items")).scalar_one() == "x" * 2000
            assert conn.execute(text("SELECT error_message FROM refund_attempts WHERE id = 1")).scalar_one() == "x" * 300
            _attempt(conn, 3, "pending")  # the old index: 'mismatch' is not live there
            conn.execute(text("DELETE FROM refund_attempts WHERE id = 3"))
        command.upgrade(cfg, "head")
        assert schema_diff(engine) == []
    finally:
        try:
            command.downgrade(cfg, "base")
        finally:
            engine.dispose()


def test_0007_money_rules_up_and_down_on_sqlite(tmp_path, keep_logging):
    money_rules_round_trip(f"sqlite:///{tmp_path / 'money.db'}")


@pytest.mark.postgres
def test_0007_money_rules_up_and_down_on_postgresql(pg_url, keep_logging):
    money_rules_round_trip(pg_url)


# -- 0010: each case stores when it is due --------------------------------------------

def due_migration_round_trip(url: str) -> None:
    """Existing cases get their due time from their messages; the downgrade drops it."""
    cfg, engine = alembic_config(url), make_engine(url)
    t0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
    at = lambda hours: (t0 + timedelta(hours=hours)).isoformat()  # noqa: E731
    try:
        command.upgrade(cfg, "0009")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO users (id, email, email_bidx, full_name, role, password_hash, is_active, created_at) "
                "VALUES (1, 'a', 'a', 'Agent', 'agent', 'x', true, :t), (2, 'c', 'c', 'Customer', 'customer', 'x', true, :t)"),
                {"t": at(0)})
            conn.execute(text(
                "INSERT INTO order_snapshots (id, order_id, customer_id, currency, placed_at, shipping_amount, "
                "shipping_tax, amount_paid, payment_reference, fetched_at) VALUES (1, 'ORD-1', 2, 'EUR', :t, 0, 0, 100, 'P', :t)"),
                {"t": at(0)})
            cases = [(1, "normal", "open"), (2, "urgent", "in_progress"), (3, "high", "waiting_on_customer"), (4, "low", "open")]
            conn.execute(text(
                "INSERT INTO support_cases (id, number, customer_id, order_snapshot_id, subject, description, category, "
                "priority, status, version, created_at, updated_at) "
                "VALUES (:id, :number, 2, 1, 's', 'd', 'other', :priority, :status, 1, :t, :t)"),
                [{"id": i, "number": f"SC-{i}", "priority": p, "status": st, "t": at(0)} for i, p, st in cases])
            conn.execute(text(
                "INSERT INTO case_messages (case_id, author_id, visibility, body, created_at) VALUES (:case, :author, :vis, 'm', :t)"),
                [{"case": 1, "author": 2, "vis": "public", "t": at(1)},  # 1: the customer wrote, then an agent answered
                 {"case": 1, "author": 1, "vis": "public", "t": at(2)},
                 {"case": 2, "author": 2, "vis": "public", "t": at(3)},  # 2: due an hour after the customer's message
                 {"case": 4, "author": 1, "vis": "internal", "t": at(5)}])  # 4: a note is no answer; due 72 h after opening
        command.upgrade(cfg, "0010")
        with engine.connect() as conn:
            due = dict(conn.execute(select(sa_column("id"), sa_column("due_at", UTCDateTime()))
                                    .select_from(sa_table("support_cases"))).all())
        assert due == {1: None, 2: t0 + timedelta(hours=4), 3: None, 4: t0 + timedelta(hours=72)}
        command.downgrade(cfg, "0009")
        assert "due_at" not in {c["name"] for c in inspect(engine).get_columns("support_cases")}
        command.upgrade(cfg, "head")
        assert schema_diff(engine) == []
    finally:
        try:
            with engine.begin() as conn:  # plaintext rows: 0006's downgrade would try to decrypt them
                for table in ("case_messages", "support_cases", "order_snapshots", "users"):
                    conn.execute(text(f"DELETE FROM {table}"))
            command.downgrade(cfg, "base")
        finally:
            engine.dispose()


def test_due_times_of_existing_cases_on_sqlite(tmp_path, keep_logging):
    due_migration_round_trip(f"sqlite:///{tmp_path / 'due.db'}")


@pytest.mark.postgres
def test_due_times_of_existing_cases_on_postgresql(pg_url, keep_logging):
    due_migration_round_trip(pg_url)
