"""Re-encryption after a key rotation: every encrypted value not under the keyring's
current key id is decrypted and encrypted again under the current key.

Table by table (every column whose type is EncryptedText), in batches by id: a batch
is the next ``batch`` rows, after the last id done, that hold at least one value not
under the current key — found in SQL by the ciphertext's ``enc1:<kid>:`` prefix, so a
second run, or a run resumed after an interruption, only reads what is left. Each batch
is its own write transaction (the caller's unit of work). On the append-only history
tables the batch lifts the UPDATE guard for the ciphertext columns only, inside that
transaction (models/ddl), and restores it before the commit. Nothing but the
ciphertext columns is written; blind indexes do not change (their key is separate).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel import Session, SQLModel

from support_app.models.ddl import APPEND_ONLY_TABLES, lift_update_guard_ddl, restore_update_guard_ddl
from support_app.models.encrypted import EncryptedText
from support_app.security.crypto import Keyring


@dataclass(frozen=True)
class EncryptedTable:
    name: str
    columns: tuple[str, ...]  # the ciphertext columns
    others: tuple[str, ...]  # every other column (still guarded on history tables)

    @property
    def guarded(self) -> bool:
        return self.name in APPEND_ONLY_TABLES


def encrypted_tables() -> list[EncryptedTable]:
    """Every table with encrypted columns, in dependency order (as the models declare them)."""
    out = []
    for table in SQLModel.metadata.sorted_tables:
        columns = tuple(c.name for c in table.columns if isinstance(c.type, EncryptedText))
        if columns:
            out.append(EncryptedTable(table.name, columns, tuple(c.name for c in table.columns if c.name not in columns)))
    return out


def _stale(table: EncryptedTable) -> str:
    """SQL: the row holds a value not under the current key (:prefix, :plen)."""
    return "(" + " OR ".join(f"({c} IS NOT NULL AND substr({c}, 1, :plen) <> :prefix)" for c in table.columns) + ")"


def count_stale(session: Session, table: EncryptedTable, keyring: Keyring) -> int:
    prefix = keyring.current_prefix
    return session.execute(text(f"SELECT count(*) FROM {table.name} WHERE {_stale(table)}"),
                           {"prefix": prefix, "plen": len(prefix)}).scalar_one()


def reencrypt_batch(session: Session, table: EncryptedTable, keyring: Keyring, after_id: int,
                    batch: int) -> tuple[int | None, int, int]:
    """Re-encrypt the next ``batch`` stale rows after ``after_id``. Returns (the id to go
    on after, or None when this was the last batch; rows written; values re-encrypted)."""
    prefix = keyring.current_prefix
    rows = session.execute(
        text(f"SELECT id, {', '.join(table.columns)} FROM {table.name} WHERE id > :after AND {_stale(table)} "
             f"ORDER BY id LIMIT :batch"),
        {"after": after_id, "batch": batch, "prefix": prefix, "plen": len(prefix)}).all()
    if not rows:
        return None, 0, 0
    params, changed = [], 0
    for row in rows:
        values = {"id": row[0]}
        for column, value in zip(table.columns, row[1:]):
            values[column] = None if value is None else keyring.reencrypt(value, f"{table.name}.{column}")
            changed += value is not None and values[column] != value
        params.append(values)
    dialect = session.get_bind().dialect.name
    if table.guarded:
        for statement in lift_update_guard_ddl(table.name, table.others, dialect):
            session.execute(text(statement))
    session.execute(text(f"UPDATE {table.name} SET {', '.join(f'{c} = :{c}' for c in table.columns)} WHERE id = :id"),
                    params)
    if table.guarded:
        for statement in restore_update_guard_ddl(table.name, dialect):
            session.execute(text(statement))
    return (rows[-1][0] if len(rows) == batch else None), len(rows), changed
