"""Customer data at rest: what the services write is ciphertext in the database (raw
SQL, and the SQLite file's own bytes), what they read back is the plaintext; exact
lookups go through the email blind index; the search terms follow the rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel, select

from fixtures_db import (  # noqa: F401
    PW, make_people, order_client, orders_server, orders_server_session, pg_engine, pg_url, run,
)
from support_app.db import make_engine, session_scope
from support_app.domain.errors import DomainError, ErrorCode
from support_app.kv import MemoryKV
from support_app.models import CaseEvent, CaseMessage, CaseSubjectTerm, CustomerNameTerm, OrderSnapshot, RefundCase, RefundEvent, SupportCase, User
from support_app.models.search_index import NAME, SUBJECT, email_index, term_index
from support_app.security.crypto import get_keyring
from support_app.services import auth_service
from support_app.services import case_commands as cmd
from support_app.services import refund_commands as rc
from support_app.services import refund_review as rr

SUBJECT_TEXT = "Zebra-striped teapot arrived shattered"
DESCRIPTION = "Quixotic description: the spout snapped clean off."
REPLY = "Xylophone-shaped photos attached for the agent"
NOTE = "Internal: warehouse shelf 42b misloaded"
REFUND_NOTE = "Please refund my Mastercard ending 4242"
REJECT_TEXT = "We could not see the damage on your zebra photos"
REASON = "waiting for the zebra photos"
SETTLE_MESSAGE = "Yodelling store credit added to your account"
SETTLE_NOTE = "Internal: the zebra batch came from supplier Quagga"

ENCRYPTED_COLUMNS = [("users", "email"), ("users", "full_name"), ("support_cases", "subject"),
                     ("support_cases", "description"), ("case_messages", "body"), ("case_events", "detail"),
                     ("refund_cases", "note"), ("refund_cases", "decision_note"), ("refund_cases", "internal_note"),
                     ("refund_events", "detail"), ("order_snapshots", "payment_reference")]


def walk(engine, people, client) -> dict[str, int]:
    """A demo walk through the services: open a case, talk, note, change status,
    assign, request a refund with a note, reject it with a message, settle another with
    a message and an internal note."""
    alice, sam = people.alice, people.sam
    case_id = run(engine, cmd.create_case, alice, "ORD-1001-1", client=client, subject=SUBJECT_TEXT,
                  description=DESCRIPTION, category="damaged_item")
    run(engine, cmd.assign, sam, case_id, sam.id)
    run(engine, cmd.add_message, sam, case_id, NOTE, internal=True)
    run(engine, cmd.change_status, sam, case_id, "in_progress")
    run(engine, cmd.change_status, sam, case_id, "waiting_on_customer", REASON)
    run(engine, cmd.add_message, alice, case_id, REPLY)
    refund_id = run(engine, rc.request_refund, alice, case_id, {"L1": 1}, "damaged", note=REFUND_NOTE, request_key="form-key-000001")
    run(engine, rr.reject_refund, sam, refund_id, "no_evidence", REJECT_TEXT)
    settled_id = run(engine, rc.request_refund, alice, case_id, {"L2": 1}, "damaged", request_key="form-key-000002")
    run(engine, rr.settle_refund, sam, settled_id, "store_credit", 1000, SETTLE_MESSAGE, SETTLE_NOTE)
    return {"case": case_id, "refund": refund_id, "settled": settled_id}


def plaintexts(people) -> list[str]:
    return [people.alice.email, people.alice.full_name, people.sam.email, people.sam.full_name, SUBJECT_TEXT,
            DESCRIPTION, REPLY, NOTE, REFUND_NOTE, REJECT_TEXT, REASON, SETTLE_MESSAGE, SETTLE_NOTE, "PAY-1001-1"]


def check_raw_and_read(engine, people, ids) -> None:
    keyring = get_keyring()
    secrets = plaintexts(people)
    with engine.connect() as conn:
        for table, column in ENCRYPTED_COLUMNS:
            values = [v for v in conn.execute(text(f"SELECT {column} FROM {table}")).scalars() if v is not None]
            assert values, f"the walk writes {table}.{column}"
            for value in values:
                assert value.startswith(f"enc1:{keyring.current_kid}:"), (table, column)
                assert not any(s in value for s in secrets), (table, column)
        assert conn.execute(text("SELECT email_bidx FROM users WHERE id = :id"), {"id": people.alice.id}).scalar_one() \
            == email_index("alice@example.com")
    with session_scope(engine) as s:  # the services see plaintext
        case = s.get(SupportCase, ids["case"])
        assert (case.subject, case.description) == (SUBJECT_TEXT, DESCRIPTION)
        assert s.get(User, people.alice.id).email == "alice@example.com"
        assert s.get(OrderSnapshot, case.order_snapshot_id).payment_reference == "PAY-1001-1"
        assert {m.body for m in s.exec(select(CaseMessage))} >= {REPLY, NOTE}
        assert REASON in {e.detail for e in s.exec(select(CaseEvent))}
        refund = s.get(RefundCase, ids["refund"])
        assert (refund.note, refund.decision_note) == (REFUND_NOTE, REJECT_TEXT)
        settled = s.get(RefundCase, ids["settled"])
        assert (settled.decision_note, settled.internal_note) == (SETTLE_MESSAGE, SETTLE_NOTE)
        assert any(e.detail for e in s.exec(select(RefundEvent)))


def test_services_write_ciphertext_and_read_plaintext_on_sqlite(engine, monkeypatch, order_client):
    people = make_people(engine, monkeypatch)
    check_raw_and_read(engine, people, walk(engine, people, order_client))


@pytest.mark.postgres
def test_services_write_ciphertext_and_read_plaintext_on_postgresql(pg_engine, monkeypatch, order_client):
    people = make_people(pg_engine, monkeypatch)
    check_raw_and_read(pg_engine, people, walk(pg_engine, people, order_client))


def test_the_sqlite_file_holds_no_customer_plaintext(tmp_path, monkeypatch, order_client):
    """Every byte of the database file (and its WAL) after a walk through the services."""
    path = tmp_path / "bytes.db"
    engine = make_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    people = make_people(engine, monkeypatch)
    walk(engine, people, order_client)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    data = b"".join(Path(f"{path}{suffix}").read_bytes() for suffix in ("", "-wal") if Path(f"{path}{suffix}").exists())
    assert b"ORD-1001-1" in data  # the order id is not customer data: the check does see plaintext
    leaks = [s for s in plaintexts(people) + ["alice@example.com", "Alice", "Zebra", "zebra", "4242"]
             if s.encode() in data or s.encode("utf-16-le") in data]
    assert leaks == []


def test_encrypted_columns_cannot_be_compared_or_sorted():
    for expression in (lambda: User.email == "a@example.com", lambda: User.full_name.startswith("A"),
                       lambda: SupportCase.subject.in_(["x"]), lambda: User.full_name.desc(),
                       lambda: User.email.asc(), lambda: CaseMessage.body.like("%x%")):
        with pytest.raises(TypeError, match="encrypted"):
            expression()
    assert str(RefundCase.note.is_(None).compile()) == "refund_cases.note IS NULL"


def test_sign_in_goes_through_the_blind_index(engine, monkeypatch):
    people = make_people(engine, monkeypatch)
    result = auth_service.sign_in("  ALICE@Example.COM ", PW, "client-1", kv=MemoryKV(), engine=engine)
    assert result.user.id == people.alice.id and result.user.email == "alice@example.com"
    with engine.connect() as conn:  # found through email_bidx: the stored email is ciphertext
        assert "alice" not in conn.execute(text("SELECT email FROM users WHERE id = :id"), {"id": people.alice.id}).scalar_one()
    with pytest.raises(DomainError) as err:
        run(engine, auth_service.create_user, "Alice@EXAMPLE.com", "Other Alice", "customer", PW, "C-9")
    assert err.value.code is ErrorCode.EMAIL_TAKEN


def test_terms_follow_inserts_and_changes(engine, monkeypatch, order_client):
    people = make_people(engine, monkeypatch)
    ids = walk(engine, people, order_client)

    def users_with(word):
        with session_scope(engine) as s:
            return set(s.exec(select(CustomerNameTerm.user_id).where(CustomerNameTerm.term_bidx == term_index(NAME, word))))

    def cases_with(word):
        with session_scope(engine) as s:
            return set(s.exec(select(CaseSubjectTerm.case_id).where(CaseSubjectTerm.term_bidx == term_index(SUBJECT, word))))

    assert users_with("alice") == users_with("ali") == {people.alice.id} and users_with("sam") == set()  # customers only
    assert cases_with("teapot") == {ids["case"]} and cases_with("a") == set()
    with session_scope(engine, write=True) as s:
        s.get(User, people.alice.id).full_name = "Alicia Keyes"
        s.get(User, people.bob.id).email = "Robert@Example.com"
        s.get(SupportCase, ids["case"]).subject = "Teapot lid missing"
    assert users_with("alice") == set() and users_with("alicia") == users_with("key") == {people.alice.id}
    assert cases_with("shattered") == set() and cases_with("teapot") == cases_with("lid") == {ids["case"]}
    with session_scope(engine) as s:
        assert s.exec(select(User.id).where(User.email_bidx == email_index("robert@example.com"))).one() == people.bob.id
    with session_scope(engine, write=True) as s:  # a customer who becomes an agent leaves the customer search
        s.get(User, people.bob.id).role = "agent"
    assert users_with("bob") == set()
