"""DDL the migrations share: history tables the database itself keeps append-only.

Re-encryption (a key rotation, or migration 0005 encrypting existing rows) must rewrite
the ciphertext of history rows. It lifts the UPDATE guard only inside its own write
transaction and only for the ciphertext columns: ``lift_update_guard_ddl`` swaps the
table's guard for one that still refuses an UPDATE naming any other column, and
``restore_update_guard_ddl`` puts the full guard back before the commit. DDL is
transactional on SQLite (the transaction holds the write lock: nobody else writes
meanwhile) and on PostgreSQL (other sessions never see the lifted guard, and
DISABLE TRIGGER takes a lock that keeps writers out until the commit). The DELETE
guard is never touched.
"""

from __future__ import annotations

from collections.abc import Sequence

APPEND_ONLY_TABLES = ("case_events", "refund_events")  # guarded by the migrations (0001, 0002)


def _guard(table: str, action: str, dialect: str, name: str | None = None, of: Sequence[str] = ()) -> list[str]:
    """Statements creating one trigger that refuses ``action`` on ``table`` (only an UPDATE
    OF the columns ``of``, when given). On PostgreSQL the function is the action's own."""
    function = f"{table}_no_{action.lower()}"
    name = name or function
    event = f"{action} OF {', '.join(of)}" if of else action
    if dialect == "sqlite":
        return [f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"]
    if dialect == "postgresql":
        out = [] if name != function else [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{table} is append-only'; END $$"]
        return [*out, f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()"]
    return []


def append_only_ddl(table: str, dialect: str) -> list[str]:
    """Statements that make ``table`` refuse UPDATE and DELETE on SQLite or PostgreSQL."""
    return [*_guard(table, "UPDATE", dialect), *_guard(table, "DELETE", dialect)]


def drop_append_only_ddl(table: str, dialect: str) -> list[str]:
    statements: list[str] = []
    for action in ("update", "delete"):
        name = f"{table}_no_{action}"
        if dialect == "sqlite":
            statements.append(f"DROP TRIGGER IF EXISTS {name}")
        elif dialect == "postgresql":
            statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            statements.append(f"DROP FUNCTION IF EXISTS {name}()")
    return statements


def lift_update_guard_ddl(table: str, other_columns: Sequence[str], dialect: str) -> list[str]:
    """Inside a write transaction: allow UPDATE of the ciphertext columns only, i.e.
    still refuse any UPDATE that names one of ``other_columns`` (every other column)."""
    narrow = _guard(table, "UPDATE", dialect, name=f"{table}_reencrypting", of=other_columns)
    if dialect == "sqlite":
        return [f"DROP TRIGGER {table}_no_update", *narrow]
    if dialect == "postgresql":
        return [f"ALTER TABLE {table} DISABLE TRIGGER {table}_no_update", *narrow]
    return []


def restore_update_guard_ddl(table: str, dialect: str) -> list[str]:
    """The full UPDATE guard back, in the same transaction that lifted it."""
    if dialect == "sqlite":
        return [f"DROP TRIGGER {table}_reencrypting", *_guard(table, "UPDATE", dialect)]
    if dialect == "postgresql":
        return [f"DROP TRIGGER {table}_reencrypting ON {table}", f"ALTER TABLE {table} ENABLE TRIGGER {table}_no_update"]
    return []
