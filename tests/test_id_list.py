"""in_ids: ``column IN <ids>`` bound as one value, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.exc import StatementError
from sqlmodel import select

from fixtures_db import make_people, pg_engine, pg_url  # noqa: F401
from support_app.db import session_scope
from support_app.models import User
from support_app.models.id_list import in_ids

WHO = select(User.email).where(in_ids(User.id)).order_by(User.id)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, monkeypatch):
    eng = request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")
    return eng, make_people(eng, monkeypatch)


def emails(eng, ids) -> list[str]:
    with session_scope(eng) as s:
        return list(s.exec(WHO, params={"ids": ids}))


def test_it_matches_exactly_the_ids_given_whatever_their_number_and_container(db):
    eng, people = db
    alice, sam = people.alice, people.sam
    assert emails(eng, []) == []
    assert emails(eng, [alice.id]) == [alice.email]
    assert emails(eng, {sam.id, alice.id}) == [alice.email, sam.email]
    assert emails(eng, (sam.id, 10_000, alice.id, alice.id)) == [alice.email, sam.email]
    assert emails(eng, range(10_000, 10_500)) == []


def test_every_list_length_sends_the_same_statement(db):
    """The point of it: one SQL text to cache and prepare, where expanding IN sent one per length."""
    eng, people = db
    sent: list[str] = []
    listener = lambda conn, cursor, statement, *rest: sent.append(statement)  # noqa: E731
    event.listen(eng, "before_cursor_execute", listener)
    try:
        for ids in ([people.alice.id], [people.alice.id, people.bob.id], list(range(1, 300))):
            emails(eng, ids)
    finally:
        event.remove(eng, "before_cursor_execute", listener)
    selects = {s for s in sent if s.lstrip().upper().startswith("SELECT")}
    assert len(selects) == 1, selects


def test_an_id_that_is_not_a_whole_number_is_refused_before_the_database_sees_it(db):
    eng, _people = db
    with pytest.raises(StatementError) as err:
        emails(eng, ["1 OR 1=1"])
    assert isinstance(err.value.orig, ValueError)
