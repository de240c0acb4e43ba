"""overview indexes: keyset pagination on every supported filter and sort

Every overview key query is ``WHERE <driver> = ? AND <sort> <= ? ... ORDER BY <sort>,
id LIMIT n``; each (driver, sort, id) index below serves one such query as an ordered
range, so neither the first nor the deepest page sorts or scans the filtered set.
users.full_name serves the customer-name prefix lookup (users.email already has the
unique index).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 00:00:00
"""
from typing import Sequence, Union

from alembic import op


revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEXES: dict[str, list[tuple[str, list[str]]]] = {
    'support_cases': [
        ('ix_support_cases_created_id', ['created_at', 'id']),
        ('ix_support_cases_updated_id', ['updated_at', 'id']),
        ('ix_support_cases_status_created_id', ['status', 'created_at', 'id']),
        ('ix_support_cases_status_updated_id', ['status', 'updated_at', 'id']),
        ('ix_support_cases_customer_created_id', ['customer_id', 'created_at', 'id']),
        ('ix_support_cases_customer_updated_id', ['customer_id', 'updated_at', 'id']),
        ('ix_support_cases_assignee_created_id', ['assignee_id', 'created_at', 'id']),
        ('ix_support_cases_assignee_updated_id', ['assignee_id', 'updated_at', 'id']),
    ],
    'refund_cases': [
        ('ix_refund_cases_requested_id', ['requested_at', 'id']),
        ('ix_refund_cases_updated_id', ['updated_at', 'id']),
        ('ix_refund_cases_amount_id', ['amount', 'id']),
        ('ix_refund_cases_status_requested_id', ['status', 'requested_at', 'id']),
        ('ix_refund_cases_status_updated_id', ['status', 'updated_at', 'id']),
        ('ix_refund_cases_status_amount_id', ['status', 'amount', 'id']),
        ('ix_refund_cases_customer_requested_id', ['customer_id', 'requested_at', 'id']),
        ('ix_refund_cases_customer_updated_id', ['customer_id', 'updated_at', 'id']),
        ('ix_refund_cases_customer_amount_id', ['customer_id', 'amount', 'id']),
        ('ix_refund_cases_reason_requested_id', ['reason', 'requested_at', 'id']),
        ('ix_refund_cases_reason_updated_id', ['reason', 'updated_at', 'id']),
        ('ix_refund_cases_reason_amount_id', ['reason', 'amount', 'id']),
    ],
    'users': [
        ('ix_users_full_name', ['full_name']),
    ],
}


def upgrade() -> None:
    for table, indexes in INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, columns in indexes:
                batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    for table, indexes in reversed(INDEXES.items()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, _columns in reversed(indexes):
                batch_op.drop_index(name)
