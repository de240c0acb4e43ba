"""sign-ins: a sign-in's absolute lifetime and revocation, for the HttpOnly session cookie

The refresh token moves from a script-readable cookie to an HttpOnly session cookie
tied to a ``sign_ins`` row; tokens issued before this revision were kept in the old
cookie, which the app no longer reads, so their rows are marked revoked.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from support_app.models.base import UTCDateTime, utcnow

revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'sign_ins',
        sa.Column('id', sa.String(length=64), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.Column('revoked_at', UTCDateTime(), nullable=True),
    )
    op.create_index('ix_sign_ins_user_id', 'sign_ins', ['user_id'])
    refresh = sa.table('refresh_tokens', sa.column('revoked_at', UTCDateTime()))
    op.execute(refresh.update().where(refresh.c.revoked_at.is_(None)).values(revoked_at=utcnow()))


def downgrade() -> None:
    op.drop_index('ix_sign_ins_user_id', table_name='sign_ins')
    op.drop_table('sign_ins')
