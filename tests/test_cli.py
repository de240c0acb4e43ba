"""The command line (`python -m support_app.cli`) against a temporary SQLite file.

SUPPORT_DATABASE_URL points at the file; the cached settings and engine are cleared
before and after so the CLI really reads it and later tests get their own again.
"""

from __future__ import annotations

import getpass

import pytest
from sqlalchemy import inspect
from sqlmodel import SQLModel, select

from fixtures_db import count, keep_logging, reset_app_caches  # noqa: F401
from support_app import cli
from support_app.db import get_engine, make_engine, session_scope
from support_app.devdata.demo import DEMO_AGENTS, DEMO_PASSWORD
from support_app.models import User
from support_app.sandbox.catalogue import DEMO_CUSTOMERS
from support_app.security import passwords
from support_app.settings import get_settings

APP_TABLES = set(SQLModel.metadata.tables)  # every model has a migrated table


@pytest.fixture
def db_url(tmp_path, monkeypatch, keep_logging):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SUPPORT_DATABASE_URL", url)
    reset_app_caches()
    yield url
    reset_app_caches()


@pytest.fixture
def engine_of(db_url):
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def migrated(db_url, capsys):
    assert cli.main(["migrate"]) == 0
    capsys.readouterr()
    return db_url


def users(engine) -> dict[str, User]:
    with session_scope(engine) as s:
        return {u.email: u for u in s.exec(select(User))}


def test_settings_follow_the_environment(db_url):
    assert get_settings().database_url == db_url
    assert str(get_engine().url) == db_url


def test_migrate_creates_the_schema_and_is_repeatable(db_url, engine_of, capsys):
    assert cli.main(["migrate"]) == 0
    assert set(inspect(engine_of).get_table_names()) == APP_TABLES | {"alembic_version"}
    assert cli.main(["migrate"]) == 0  # already at head: nothing to do, no error
    assert set(inspect(engine_of).get_table_names()) == APP_TABLES | {"alembic_version"}


def test_seed_demo_is_idempotent(migrated, engine_of, capsys):
    assert cli.main(["seed-demo", "--accounts-only"]) == 0
    first = capsys.readouterr().out.splitlines()
    expected = {email for _, email, _ in DEMO_CUSTOMERS} | {email for email, _ in DEMO_AGENTS}
    assert len(first) == len(expected) == 5
    assert all(line.startswith("created") and DEMO_PASSWORD in line for line in first)
    assert {line.split()[2] for line in first} == expected

    made = users(engine_of)
    assert set(made) == expected
    for cid, email, name in DEMO_CUSTOMERS:
        assert (made[email].role, made[email].order_customer_id, made[email].full_name) == ("customer", cid, name)
    for email, name in DEMO_AGENTS:
        assert (made[email].role, made[email].order_customer_id, made[email].full_name) == ("agent", None, name)
    assert passwords.verify_password(DEMO_PASSWORD, made["alice@example.com"].password_hash)

    assert cli.main(["seed-demo", "--accounts-only"]) == 0
    second = capsys.readouterr().out.splitlines()
    assert len(second) == 5 and all(line.startswith("exists") for line in second)
    assert count(engine_of, User) == 5
    assert {e: u.password_hash for e, u in users(engine_of).items()} == {e: u.password_hash for e, u in made.items()}


def test_create_agent_with_password(migrated, engine_of, capsys):
    code = cli.main(["create-user", " Dana@Example.COM ", "Dana Lee", "agent", "--password", "s3cret-enough"])
    out = capsys.readouterr()
    assert code == 0 and out.err == ""
    [dana] = users(engine_of).values()
    assert out.out.strip() == f"created agent dana@example.com (id {dana.id})"
    assert (dana.email, dana.full_name, dana.role, dana.order_customer_id) == ("dana@example.com", "Dana Lee", "agent", None)
    assert dana.password_hash.startswith("$argon2id$") and "s3cret-enough" not in dana.password_hash
    assert passwords.verify_password("s3cret-enough", dana.password_hash)


def test_create_customer_needs_order_system_id(migrated, engine_of, capsys):
    assert cli.main(["create-user", "eve@example.com", "Eve", "customer", "--password", "long-enough"]) == 2
    err = capsys.readouterr().err
    assert "VALIDATION_FAILED" in err and "order_customer_id" in err
    assert count(engine_of, User) == 0
    argv = ["create-user", "eve@example.com", "Eve", "customer", "--password", "long-enough", "--order-customer-id", "C-1003"]
    assert cli.main(argv) == 0
    assert users(engine_of)["eve@example.com"].order_customer_id == "C-1003"


def test_duplicate_email_exits_2_with_message_on_stderr(migrated, engine_of, capsys):
    assert cli.main(["create-user", "dana@example.com", "Dana", "agent", "--password", "s3cret-enough"]) == 0
    capsys.readouterr()
    assert cli.main(["create-user", "DANA@example.com", "Other Dana", "agent", "--password", "another-one"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith("error EMAIL_TAKEN: An account with that email already exists.")
    assert "email:" in out.err
    assert [u.full_name for u in users(engine_of).values()] == ["Dana"]


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["create-user", "not-an-email", "X", "agent", "--password", "long-enough"], "email"),
        (["create-user", "x@example.com", "X", "agent", "--password", "short"], "password"),
        (["create-user", "x@example.com", "   ", "agent", "--password", "long-enough"], "full_name"),
        (["create-user", "x@example.com", "X", "agent", "--password", "long-enough", "--order-customer-id", "C-1"],
         "order_customer_id"),
    ],
)
def test_invalid_user_exits_2(migrated, engine_of, capsys, argv, field):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error VALIDATION_FAILED") and f"{field}:" in err
    assert count(engine_of, User) == 0


def test_password_is_prompted_when_not_given(migrated, engine_of, capsys, monkeypatch):
    prompts = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": prompts.append(prompt) or "typed-secret-1")
    assert cli.main(["create-user", "gus@example.com", "Gus", "agent"]) == 0
    assert prompts == ["Password: "]
    assert passwords.verify_password("typed-secret-1", users(engine_of)["gus@example.com"].password_hash)


@pytest.mark.parametrize("argv", [[], ["nope"], ["create-user", "a@example.com", "A", "admin", "--password", "long-enough"]])
def test_bad_usage_exits_2(db_url, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2 and "usage:" in capsys.readouterr().err


def test_seed_demo_is_refused_in_production(monkeypatch, capsys):
    """Demo accounts have a published password: never in production. The refusal comes
    before any database work (the URL points where nothing listens)."""
    from test_settings import GOOD_PRODUCTION

    for key, value in {**GOOD_PRODUCTION, "SUPPORT_DATABASE_URL": "postgresql+psycopg://u@127.0.0.1:1/none"}.items():
        monkeypatch.setenv(key, value)
    reset_app_caches()
    try:
        assert cli.main(["seed-demo"]) == 2
        out = capsys.readouterr()
        assert out.out == ""
        assert out.err.startswith("error: seed-demo is refused in production") and "create-user" in out.err
    finally:
        reset_app_caches()


def test_serve_needs_the_frontend_built_first(db_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REFLEX_WEB_WORKDIR", str(tmp_path / "no-web"))
    assert cli.main(["serve", "--port", "4299"]) == 2
    assert "reflex export --frontend-only --no-zip" in capsys.readouterr().err
