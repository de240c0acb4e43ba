"""Alembic migrations: up, down and up again on SQLite and PostgreSQL, and the
migrated schema equals what the models declare (autogenerate finds no diff).

PostgreSQL runs in a throw-away schema (fixture ``pg_url``), so whatever another run
left in ``public`` cannot make this pass or fail; the schema is dropped at the end.
"""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError
from sqlmodel import SQLModel

import support_app.models  # noqa: F401  (registers every table)
from fixtures_db import alembic_config, keep_logging, pg_url  # noqa: F401
from support_app.db import make_engine

APP_TABLES = {
    "users", "refresh_tokens", "order_snapshots", "order_lines", "support_cases", "case_messages", "case_events",
    "refund_cases", "refund_items", "refund_events", "refund_attempts", "webhook_events",
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


def tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def current_revision(engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head(url: str) -> str:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def seed_and_try_tampering(engine) -> None:
    """Insert a user, a case and a history event with plain SQL; then UPDATE and
    DELETE on case_events must be refused by the database itself."""
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO users (id, email, full_name, role, password_hash, is_active, created_at) "
            "VALUES (1, 'a@example.com', 'A', 'customer', 'x', true, CURRENT_TIMESTAMP)"))
        conn.execute(text(
            "INSERT INTO order_snapshots (id, order_id, customer_id, currency, placed_at, shipping_amount, "
            "shipping_tax, amount_paid, payment_reference, fetched_at) "
            "VALUES (1, 'ORD-1', 1, 'EUR', CURRENT_TIMESTAMP, 0, 0, 100, 'PAY-1', CURRENT_TIMESTAMP)"))
        conn.execute(text(
            "INSERT INTO support_cases (id, number, customer_id, order_snapshot_id, subject, description, category, "
            "priority, status, version, created_at, updated_at) VALUES (1, 'SC-000001', 1, 1, 'subj', 'description', "
            "'other', 'normal', 'open', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
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
