"""attempt claims: refund_attempts become the outbox the workers drain

A worker claims due live attempts (status pending/unknown, next_try_at passed, no
live claim) by writing claimed_by/claimed_until, sends them, then releases the claim
and, if the outcome is still open, sets next_try_at for a later try (backoff on
tries). Existing rows are due from their last update, so attempts left pending or
unknown before this migration are picked up at once. The (status, next_try_at) index
serves the claim; (status, updated_at) stays, the metrics read it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 00:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel
import support_app.models.base


revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('refund_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tries', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('next_try_at', support_app.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', support_app.models.base.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE refund_attempts SET next_try_at = updated_at")
    with op.batch_alter_table('refund_attempts', schema=None) as batch_op:
        # The default only filled the existing rows; the application always writes it.
        batch_op.alter_column('tries', existing_type=sa.Integer(), existing_nullable=False, server_default=None)
        batch_op.alter_column('next_try_at', existing_type=support_app.models.base.UTCDateTime(timezone=True),
                              nullable=False)
        batch_op.create_index('ix_refund_attempts_status_next_try', ['status', 'next_try_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('refund_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_refund_attempts_status_next_try')
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('next_try_at')
        batch_op.drop_column('tries')
