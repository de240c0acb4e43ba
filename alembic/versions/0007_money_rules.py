"""money rules: settlement internal notes, gateway text as TEXT, answers that do not match, order status

- refund_cases.internal_note (TEXT holding ciphertext, AAD "refund_cases.internal_note"):
  a settlement's note for agents only; decision_note stays what the customer is told.
- Text from a person or the payment gateway never meets a VARCHAR limit any more:
  refund_cases.gateway_reference (64) and failure_reason (300), refund_attempts
  gateway_reference (64) and error_message (300) become TEXT, and so does
  refund_items.unit_amounts (2000; it grows with the quantity refunded). The columns
  that stay VARCHAR get bounded or validated values (refund_attempts.error_code is cut
  to 64; webhook_events: an event id over 80 or a key over 64 is not ours, the type is
  cut to 64).
- refund_attempts.reported_amount (BIGINT) and reported_currency (VARCHAR(3)): what the
  gateway said when its answer did not match the attempt (status 'mismatch'); the
  one-live-attempt index counts 'mismatch' as live, since money may have moved.
- order_snapshots.status (VARCHAR(16)): the order system's status, refreshed with
  delivered_at. Existing rows get 'delivered' when they have a delivery date, else
  'shipped' (what the pages showed so far); the next refresh corrects them.

Downgrade: values longer than the old VARCHARs are cut to fit (PostgreSQL would refuse
them), the internal notes are dropped (each is also an internal message in its case's
conversation), attempts marked 'mismatch' keep that status (the old code never treats
them as live, so they are neither sent nor retried) and the index goes back to its
three statuses. On SQLite the type changes rebuild the tables (batch mode; alembic/env.py
turns foreign keys off for that); ``PRAGMA foreign_key_check`` must come back empty.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 00:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# table → columns that become TEXT, with the VARCHAR length each had.
TO_TEXT: dict[str, dict[str, int]] = {
    'refund_cases': {'gateway_reference': 64, 'failure_reason': 300},
    'refund_attempts': {'gateway_reference': 64, 'error_message': 300},
    'refund_items': {'unit_amounts': 2000},
}
NULLABLE = {('refund_items', 'unit_amounts'): False}
LIVE_BEFORE = "status IN ('pending', 'unknown', 'succeeded')"
LIVE_NOW = "status IN ('pending', 'unknown', 'succeeded', 'mismatch')"


def _varchar(length: int) -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _one_live_index(batch_op, where: str) -> None:
    batch_op.create_index('uq_refund_attempts_one_live', ['refund_case_id'], unique=True,
                          sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def _drop_one_live_index(batch_op, where: str) -> None:
    batch_op.drop_index('uq_refund_attempts_one_live', sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def _retype(batch_op, table: str, to_text: bool) -> None:
    for column, length in TO_TEXT[table].items():
        batch_op.alter_column(column, existing_type=_varchar(length) if to_text else sa.Text(),
                              type_=sa.Text() if to_text else _varchar(length),
                              existing_nullable=NULLABLE.get((table, column), True))


def _check_foreign_keys() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"foreign keys broken by the table rebuild: {broken[:5]}")


def upgrade() -> None:
    with op.batch_alter_table('order_snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', _varchar(16), nullable=True))
    op.execute("UPDATE order_snapshots SET status = CASE WHEN delivered_at IS NOT NULL THEN 'delivered' ELSE 'shipped' END")

    with op.batch_alter_table('refund_cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('internal_note', sa.Text(), nullable=True))
        _retype(batch_op, 'refund_cases', to_text=True)
    with op.batch_alter_table('refund_items', schema=None) as batch_op:
        _retype(batch_op, 'refund_items', to_text=True)
    with op.batch_alter_table('refund_attempts', schema=None) as batch_op:
        _drop_one_live_index(batch_op, LIVE_BEFORE)
        batch_op.add_column(sa.Column('reported_amount', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('reported_currency', _varchar(3), nullable=True))
        _retype(batch_op, 'refund_attempts', to_text=True)
        _one_live_index(batch_op, LIVE_NOW)
    _check_foreign_keys()


def downgrade() -> None:
    for table, columns in TO_TEXT.items():
        for column, length in columns.items():  # PostgreSQL refuses a value longer than its VARCHAR
            op.execute(f"UPDATE {table} SET {column} = substr({column}, 1, {length}) WHERE length({column}) > {length}")
    with op.batch_alter_table('refund_attempts', schema=None) as batch_op:
        _drop_one_live_index(batch_op, LIVE_NOW)
        _retype(batch_op, 'refund_attempts', to_text=False)
        batch_op.drop_column('reported_currency')
        batch_op.drop_column('reported_amount')
        _one_live_index(batch_op, LIVE_BEFORE)
    with op.batch_alter_table('refund_items', schema=None) as batch_op:
        _retype(batch_op, 'refund_items', to_text=False)
    with op.batch_alter_table('refund_cases', schema=None) as batch_op:
        _retype(batch_op, 'refund_cases', to_text=False)
        batch_op.drop_column('internal_note')
    with op.batch_alter_table('order_snapshots', schema=None) as batch_op:
        batch_op.drop_column('status')
    _check_foreign_keys()
