"""customer data encrypted at rest: ciphertext columns, email blind index, search terms

Every customer-data column becomes TEXT holding ``enc1:<kid>:<base64url>``
(security/crypto; AAD "<table>.<column>"): users.email and full_name, support_cases
subject and description, case_messages.body, case_events.detail, refund_cases note and
decision_note, refund_events.detail, order_snapshots.payment_reference. users gets
email_bidx (unique; the unique email and the full_name index go: ciphertext can be
neither compared nor sorted), and two term tables (models/search_index) for the
overview search. Existing rows are encrypted and indexed here, in batches of BATCH
rows, with the keyring and blind-index key of the settings (so the migration must run
online, with the production keys set). The append-only history tables are updated
with their UPDATE guard narrowed to the ciphertext column, inside this transaction.
Downgrade decrypts everything back and restores the old columns and indexes.

On SQLite the type changes rebuild the tables (batch mode; alembic/env.py turns
foreign keys off for that) and the history triggers are recreated after the rebuild;
``PRAGMA foreign_key_check`` must come back empty before the commit.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import context, op

from support_app.models.ddl import (
    append_only_ddl, drop_append_only_ddl, lift_update_guard_ddl, restore_update_guard_ddl,
)
from support_app.models.search_index import email_index, name_term_rows, subject_term_rows
from support_app.security.crypto import get_keyring

revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BATCH = 1000
# table → encrypted columns with the type each had before (restored by downgrade).
ENCRYPTED: dict[str, dict[str, sa.types.TypeEngine]] = {
    'users': {'email': sqlmodel.sql.sqltypes.AutoString(length=254),
              'full_name': sqlmodel.sql.sqltypes.AutoString(length=120)},
    'order_snapshots': {'payment_reference': sqlmodel.sql.sqltypes.AutoString(length=128)},
    'support_cases': {'subject': sqlmodel.sql.sqltypes.AutoString(length=120), 'description': sa.Text()},
    'case_messages': {'body': sa.Text()},
    'case_events': {'detail': sqlmodel.sql.sqltypes.AutoString(length=500)},
    'refund_cases': {'note': sa.Text(), 'decision_note': sa.Text()},
    'refund_events': {'detail': sqlmodel.sql.sqltypes.AutoString(length=500)},
}
# Append-only history tables: every column but the ciphertext stays guarded.
GUARDED = {
    'case_events': ('id', 'case_id', 'actor_id', 'kind', 'from_status', 'to_status', 'internal', 'created_at'),
    'refund_events': ('id', 'refund_case_id', 'actor_id', 'kind', 'from_status', 'to_status', 'created_at'),
}
UQ = {'uq': 'uq_%(table_name)s_%(column_0_name)s'}  # names the unnamed unique(email) on SQLite


def _dialect() -> str:
    return op.get_bind().dialect.name


def _sql(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def _retype(table: str, columns: dict[str, sa.types.TypeEngine], to_text: bool) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column, old in columns.items():
            if not isinstance(old, sa.Text):
                batch_op.alter_column(column, existing_type=old if to_text else sa.Text(),
                                      type_=sa.Text() if to_text else old)


def _rewrite(table: str, columns: list[str], convert, extra=None) -> None:
    """Every row of ``table``, BATCH at a time by id: columns = convert(value, "table.column");
    ``extra(row)`` may return more column values (blind indexes) and term rows."""
    conn = op.get_bind()
    cols = ", ".join(columns)
    sets = list(columns)
    if extra is not None and table == 'users':
        sets.append('email_bidx')
    update = sa.text(f"UPDATE {table} SET {', '.join(f'{c} = :{c}' for c in sets)} WHERE id = :id")
    guarded = table in GUARDED
    last = 0
    while True:
        rows = conn.execute(sa.text(f"SELECT id, {cols}{', role' if table == 'users' else ''} FROM {table} "
                                    f"WHERE id > :last ORDER BY id LIMIT {BATCH}"), {"last": last}).all()
        if not rows:
            return
        params, terms = [], []
        for row in rows:
            values = {"id": row[0]}
            for column, value in zip(columns, row[1:]):
                values[column] = None if value is None else convert(value, f"{table}.{column}")
            if extra is not None:
                more, rows_of_terms = extra(row)
                values.update(more)
                terms.extend(rows_of_terms)
            params.append(values)
        if guarded:
            _sql(lift_update_guard_ddl(table, GUARDED[table], _dialect()))
        conn.execute(update, params)
        if guarded:
            _sql(restore_update_guard_ddl(table, _dialect()))
        if terms:
            target = 'customer_name_terms' if table == 'users' else 'case_subject_terms'
            ref = 'user_id' if table == 'users' else 'case_id'
            conn.execute(sa.text(f"INSERT INTO {target} (term_bidx, {ref}) VALUES (:term_bidx, :{ref})"), terms)
        last = rows[-1][0]


def _recreate_guards() -> None:
    """SQLite's table rebuild dropped the history tables' triggers: put them back."""
    if _dialect() == 'sqlite':
        for table in GUARDED:
            _sql(drop_append_only_ddl(table, 'sqlite') + append_only_ddl(table, 'sqlite'))


def _check_foreign_keys() -> None:
    if _dialect() == 'sqlite':
        broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"foreign keys broken by the table rebuild: {broken[:5]}")


def upgrade() -> None:
    op.create_table('customer_name_terms',
    sa.Column('term_bidx', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('term_bidx', 'user_id'),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('customer_name_terms', schema=None) as batch_op:
        batch_op.create_index('ix_customer_name_terms_user_id', ['user_id'], unique=False)
    op.create_table('case_subject_terms',
    sa.Column('term_bidx', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['support_cases.id'], ),
    sa.PrimaryKeyConstraint('term_bidx', 'case_id'),
    sqlite_with_rowid=False
    )
    op.add_column('users', sa.Column('email_bidx', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    with op.batch_alter_table('users', schema=None, naming_convention=UQ) as batch_op:
        batch_op.drop_constraint('users_email_key' if _dialect() == 'postgresql' else 'uq_users_email', type_='unique')
        batch_op.drop_index('ix_users_full_name')
    for table, columns in ENCRYPTED.items():
        _retype(table, columns, to_text=True)
    _recreate_guards()

    if context.is_offline_mode():
        op.execute("-- existing rows are encrypted and indexed only when this migration runs online")
    else:
        keyring = get_keyring()

        def index_user(row):
            _id, email, full_name, role = row
            terms = name_term_rows(_id, full_name) if role == 'customer' else []
            return {"email_bidx": email_index(email)}, terms

        for table, columns in ENCRYPTED.items():
            extra = index_user if table == 'users' else (
                (lambda row: ({}, subject_term_rows(row[0], row[1]))) if table == 'support_cases' else None)
            _rewrite(table, list(columns), keyring.encrypt, extra)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('email_bidx', existing_type=sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False)
        batch_op.create_unique_constraint('users_email_bidx_key' if _dialect() == 'postgresql' else 'uq_users_email_bidx',
                                          ['email_bidx'])
    _check_foreign_keys()


def downgrade() -> None:
    if context.is_offline_mode():
        op.execute("-- rows are decrypted only when this migration runs online")
    else:
        keyring = get_keyring()
        for table, columns in ENCRYPTED.items():
            _rewrite(table, list(columns), keyring.decrypt)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('users_email_bidx_key' if _dialect() == 'postgresql' else 'uq_users_email_bidx',
                                 type_='unique')
        batch_op.drop_column('email_bidx')
    for table, columns in ENCRYPTED.items():
        _retype(table, columns, to_text=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_unique_constraint('users_email_key' if _dialect() == 'postgresql' else 'uq_users_email', ['email'])
        batch_op.create_index('ix_users_full_name', ['full_name'], unique=False)
    _recreate_guards()
    with op.batch_alter_table('customer_name_terms', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_name_terms_user_id')
    op.drop_table('case_subject_terms')
    op.drop_table('customer_name_terms')
    _check_foreign_keys()
