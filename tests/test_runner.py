"""The service runner: a database busy for a moment is retried inside the call; busy
for too long becomes SERVICE_BUSY with nothing stored. Real SQLite files, a real
second connection holding the write lock."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import SQLModel, select

from fixtures_db import hold_write_lock
from support_app import db
from support_app.domain.errors import DomainError, ErrorCode
from support_app.models import User
from support_app.services import runner


@pytest.fixture
def short_busy(monkeypatch, tmp_path):
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 30)
    engine = db.make_engine(f"sqlite:///{tmp_path / 'busy.db'}")
    SQLModel.metadata.create_all(engine)
    monkeypatch.setattr(db, "get_engine", lambda: engine)
    yield tmp_path / "busy.db"
    engine.dispose()


tries: list[int] = []


@runner.writes
def add_user(session, email: str) -> int:
    tries.append(1)
    user = User(email=email, full_name="X", role="agent", password_hash="x")
    session.add(user)
    session.flush()
    return user.id


def _users(path) -> list[str]:
    with db.session_scope() as s:
        return list(s.exec(select(User.email)))


def test_a_write_lock_held_for_a_moment_is_waited_out(short_busy):
    tries.clear()
    started = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(short_busy, 0.25, started))
    holder.start()
    started.wait()
    assert runner.run_sync(add_user, "a@example.com") == 1
    holder.join()
    assert len(tries) >= 2  # refused (and rolled back) until the lock was gone, then done once
    assert _users(short_busy) == ["a@example.com"]


def test_a_write_lock_held_too_long_is_a_clear_busy_answer_with_nothing_stored(short_busy):
    started = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(short_busy, 3.0, started))
    holder.start()
    started.wait()
    with pytest.raises(DomainError) as err:
        runner.run_sync(add_user, "b@example.com")
    holder.join()
    assert err.value.code is ErrorCode.SERVICE_BUSY and "try again" in err.value.message
    assert _users(short_busy) == []


def test_other_database_errors_are_not_retried(short_busy):
    tries.clear()

    @runner.writes
    def broken(session):
        tries.append(1)
        session.exec(select(User).where(User.id == session.connection().exec_driver_sql("SELECT no_such_column").scalar()))

    with pytest.raises(Exception) as err:
        runner.run_sync(broken)
    assert not isinstance(err.value, DomainError) and len(tries) == 1
