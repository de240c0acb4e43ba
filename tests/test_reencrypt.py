"""Key rotation: `python -m support_app.cli reencrypt` moves every encrypted value to the
current key, batch by batch, resumably; the history tables' guards stay up for every
other write, and for every other column even inside the re-encryption transaction."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import select

from fixtures_crypto import key_text, use_keys  # noqa: F401
from fixtures_db import alembic_config, keep_logging, pg_url, reset_app_caches  # noqa: F401
from support_app import cli
from support_app.db import make_engine, session_scope
from support_app.models import CaseEvent, CaseMessage, OrderSnapshot, RefundCase, RefundEvent, SupportCase, User
from support_app.models.ddl import lift_update_guard_ddl, restore_update_guard_ddl
from support_app.security.crypto import Keyring, get_keyring
from support_app.services.reencryption import count_stale, encrypted_tables, reencrypt_batch

OLD, NEW = f"old:{key_text(11)}", f"new:{key_text(22)}"
NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
ENCRYPTED = {"users": ("email", "full_name"), "order_snapshots": ("payment_reference",),
             "support_cases": ("subject", "description"), "case_messages": ("body",), "case_events": ("detail",),
             "refund_cases": ("note", "decision_note", "internal_note"), "refund_events": ("detail",)}


@pytest.fixture
def database(request, tmp_path, monkeypatch, keep_logging, use_keys):  # noqa: F811
    """A migrated database (SQLite file, or a PostgreSQL schema) holding data under OLD."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else f"sqlite:///{tmp_path / 'rotate.db'}"
    use_keys(OLD)
    monkeypatch.setenv("SUPPORT_DATABASE_URL", url)
    reset_app_caches()
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    with session_scope(engine, write=True) as s:
        for i in range(1, 8):
            user = User(email=f"cust{i}@example.com", full_name=f"Customer Number{i}", role="customer",
                        password_hash="x", order_customer_id=f"C-{i}")
            s.add(user)
            s.flush()
            snap = OrderSnapshot(order_id=f"ORD-{i}", customer_id=user.id, currency="EUR", placed_at=NOW,
                                 payment_reference=f"PAY-{i}")
            s.add(snap)
            s.flush()
            case = SupportCase(number=f"SC-{i:06d}", customer_id=user.id, order_snapshot_id=snap.id,
                               subject=f"Kettle number {i}", description=f"Description {i}", category="other",
                               priority="normal", status="open")
            s.add(case)
            s.flush()
            s.add(CaseMessage(case_id=case.id, author_id=user.id, visibility="public", body=f"Body {i}"))
            s.add(CaseEvent(case_id=case.id, actor_id=user.id, kind="created", to_status="open", detail=f"Detail {i}"))
            s.add(CaseEvent(case_id=case.id, actor_id=user.id, kind="reply"))  # detail NULL stays NULL
            refund = RefundCase(support_case_id=case.id, order_snapshot_id=snap.id, customer_id=user.id, status="rejected",
                                reason="damaged", note=f"Note {i}" if i % 2 else None, decision_note=f"No {i}",
                                internal_note=f"Agents only {i}" if i % 3 else None, amount=100,
                                currency="EUR", request_key=f"request-key-{i:04d}", requested_at=NOW)
            s.add(refund)
            s.flush()
            s.add(RefundEvent(refund_case_id=refund.id, actor_id=user.id, kind="status_changed", detail=f"Rejected {i}"))
    yield url, engine
    engine.dispose()
    reset_app_caches()


def raw_values(engine) -> dict[tuple[str, str], list[str | None]]:
    with engine.connect() as conn:
        return {(t, c): conn.execute(text(f"SELECT {c} FROM {t} ORDER BY id")).scalars().all()
                for t, cols in ENCRYPTED.items() for c in cols}


def plain_values(engine) -> list:
    with session_scope(engine) as s:
        return [(u.email, u.full_name) for u in s.exec(select(User).order_by(User.id))] + \
               [(c.subject, c.description) for c in s.exec(select(SupportCase).order_by(SupportCase.id))] + \
               [e.detail for e in s.exec(select(CaseEvent).order_by(CaseEvent.id))] + \
               [(r.note, r.decision_note, r.internal_note) for r in s.exec(select(RefundCase).order_by(RefundCase.id))] + \
               [e.detail for e in s.exec(select(RefundEvent).order_by(RefundEvent.id))] + \
               [o.payment_reference for o in s.exec(select(OrderSnapshot).order_by(OrderSnapshot.id))] + \
               [m.body for m in s.exec(select(CaseMessage).order_by(CaseMessage.id))]


def kids(engine) -> set[str]:
    return {v.split(":")[1] for values in raw_values(engine).values() for v in values if v is not None}


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_rotate_reencrypt_then_drop_the_old_key(database, use_keys, capsys):  # noqa: F811
    url, engine = database
    before_plain, before_raw = plain_values(engine), raw_values(engine)
    assert kids(engine) == {"old"} and "Kettle number 1" in before_plain[7]
    use_keys(f"{NEW},{OLD}")  # a new first key: new values are written under it, old ones still read
    assert plain_values(engine) == before_plain

    # Interrupted after one batch of one table: a later run does only what is left.
    table = next(t for t in encrypted_tables() if t.name == "case_events")
    with session_scope(engine, write=True) as s:
        after, rows, changed = reencrypt_batch(s, table, get_keyring(), 0, 3)
    assert (rows, changed) == (3, 3)  # the first three rows with a detail under the old key (NULLs are skipped)
    with session_scope(engine) as s:
        assert count_stale(s, table, get_keyring()) == 7 - 3

    capsys.readouterr()
    assert cli.main(["reencrypt", "--batch", "2"]) == 0
    out, err = capsys.readouterr()
    assert "re-encrypting under key 'new'" in err and "[" + "#" * 30 + "]" in err and "case_events" in err
    total = sum(len([v for v in vs if v]) for vs in before_raw.values()) - 3
    assert f"{total:,} values re-encrypted in 7 tables" in out
    assert "case_events                 4 values" in out
    assert kids(engine) == {"new"}
    after_raw = raw_values(engine)
    assert all((a is None) == (b is None) and (a is None or a != b) for k in after_raw for a, b in zip(after_raw[k], before_raw[k]))
    assert plain_values(engine) == before_plain

    assert cli.main(["reencrypt"]) == 0  # idempotent: nothing left to do
    assert "0 values re-encrypted in 7 tables" in capsys.readouterr().out
    assert raw_values(engine) == after_raw

    use_keys(NEW)  # the old key can go
    assert plain_values(engine) == before_plain
    for sql in ("UPDATE case_events SET detail = 'x'", "UPDATE refund_events SET detail = 'x'", "DELETE FROM case_events"):
        with pytest.raises(DatabaseError, match="append-only"):  # the guards are back, whole
            with engine.begin() as conn:
                conn.execute(text(sql))


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_the_lifted_guard_still_refuses_other_columns_and_only_inside_its_transaction(database):
    url, engine = database
    dialect = engine.dialect.name
    for table in encrypted_tables():
        if not table.guarded:
            continue
        with pytest.raises(DatabaseError, match="append-only"):
            with session_scope(engine, write=True) as s:
                for statement in lift_update_guard_ddl(table.name, table.others, dialect):
                    s.execute(text(statement))
                s.execute(text(f"UPDATE {table.name} SET detail = detail"))  # the ciphertext column: allowed
                s.execute(text(f"UPDATE {table.name} SET kind = 'tampered'"))  # anything else: refused
        with pytest.raises(DatabaseError, match="append-only"):
            with session_scope(engine, write=True) as s:
                for statement in lift_update_guard_ddl(table.name, table.others, dialect):
                    s.execute(text(statement))
                s.execute(text(f"DELETE FROM {table.name}"))  # the DELETE guard is never lifted
        with session_scope(engine, write=True) as s:  # lifted and restored in one transaction
            for statement in lift_update_guard_ddl(table.name, table.others, dialect):
                s.execute(text(statement))
            s.execute(text(f"UPDATE {table.name} SET detail = detail"))
            for statement in restore_update_guard_ddl(table.name, dialect):
                s.execute(text(statement))
        with pytest.raises(DatabaseError, match="append-only"):  # …so the next transaction is guarded again
            with engine.begin() as conn:
                conn.execute(text(f"UPDATE {table.name} SET detail = detail"))


def test_a_value_under_a_removed_key_is_reported_not_guessed(tmp_path, use_keys):  # noqa: F811
    use_keys(OLD)
    token = get_keyring().encrypt("secret", "users.email")
    use_keys(NEW)
    with pytest.raises(ValueError, match="'old', which is not in the keyring"):
        Keyring.parse(NEW).reencrypt(token, "users.email")
