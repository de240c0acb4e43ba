"""the agents' queue: each case stores when it is due

- support_cases.due_at: when the agents owe the case a response (domain/case_due.py),
  NULL when they owe none now; kept by every write to a case
  (services/case_due_store.py), filled here for the cases waiting on the agents.
- ix_support_cases_status_due_created_id (status, due_at, created_at, id): the queue
  reads each status's due cases, and its other cases, in order from one range of it
  instead of working out every waiting case's due time.

Downgrade drops both.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 00:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import context, op

from support_app.models.base import UTCDateTime
from support_app.services.case_due_store import backfill_due

revision: str = '0010'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("support_cases", sa.Column("due_at", UTCDateTime(timezone=True), nullable=True))
    if context.is_offline_mode():
        op.execute("-- due_at of existing cases is filled only when this migration runs online")
    else:
        backfill_due(op.get_bind())
    op.create_index("ix_support_cases_status_due_created_id", "support_cases", ["status", "due_at", "created_at", "id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_support_cases_status_due_created_id", table_name="support_cases")
    with op.batch_alter_table("support_cases") as batch_op:
        batch_op.drop_column("due_at")
