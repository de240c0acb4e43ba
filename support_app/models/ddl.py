"""DDL the migrations share: history tables the database itself keeps append-only."""

from __future__ import annotations


def append_only_ddl(table: str, dialect: str) -> list[str]:
    """Statements that make ``table`` refuse UPDATE and DELETE on SQLite or PostgreSQL."""
    statements: list[str] = []
    for action in ("UPDATE", "DELETE"):
        name = f"{table}_no_{action.lower()}"
        if dialect == "sqlite":
            statements.append(
                f"CREATE TRIGGER {name} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
        elif dialect == "postgresql":
            statements.append(
                f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{table} is append-only'; END $$"
            )
            statements.append(f"CREATE TRIGGER {name} BEFORE {action} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()")
    return statements


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
