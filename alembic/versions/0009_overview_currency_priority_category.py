"""overviews: amounts within one currency, priority and category filters, the queue by priority

- ix_refund_cases_currency_amount_id (currency, amount, id): the refund overview sorts
  and bounds amounts within one currency (€100 and $100 are not the same amount), so
  "the largest USD refunds" reads one index range in order; a currency filter on
  another sort, and its count, read the same index instead of the table.
- ix_support_cases_{priority,category}_{created,updated}_id: the case overview filters
  by priority and by category like by assignee — one ordered index range per page —
  and the agents' queue reads each priority's oldest cases first from the same index.

Downgrade drops the indexes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 00:00:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0009'
down_revision: Union[str, None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEXES = {
    "refund_cases": [("ix_refund_cases_currency_amount_id", ["currency", "amount", "id"])],
    "support_cases": [
        ("ix_support_cases_priority_created_id", ["priority", "created_at", "id"]),
        ("ix_support_cases_priority_updated_id", ["priority", "updated_at", "id"]),
        ("ix_support_cases_category_created_id", ["category", "created_at", "id"]),
        ("ix_support_cases_category_updated_id", ["category", "updated_at", "id"]),
    ],
}


def upgrade() -> None:
    for table, indexes in INDEXES.items():
        for name, columns in indexes:
            op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for table, indexes in reversed(INDEXES.items()):
        for name, _columns in reversed(indexes):
            op.drop_index(name, table_name=table)
