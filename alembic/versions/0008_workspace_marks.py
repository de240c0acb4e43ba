"""workspace marks: when an agent last opened a case in the workspace

case_seen_marks (agent_id, case_id) -> seen_at. The workspace's queue marks a case
whose updated_at is later than the agent's mark (or that the agent never opened).
Downgrade drops the table: the marks are a convenience, nothing else reads them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 09:45:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from support_app.models.base import UTCDateTime

revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'case_seen_marks',
        sa.Column('agent_id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('seen_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['agent_id'], ['users.id']),
        sa.ForeignKeyConstraint(['case_id'], ['support_cases.id']),
        sa.PrimaryKeyConstraint('agent_id', 'case_id'),
    )
    op.create_index('ix_case_seen_marks_case_id', 'case_seen_marks', ['case_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_case_seen_marks_case_id', table_name='case_seen_marks')
    op.drop_table('case_seen_marks')
