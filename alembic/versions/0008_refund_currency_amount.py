"""refund overview: amounts compared within one currency

- ix_refund_cases_currency_amount_id (currency, amount, id): the refund overview sorts
  and bounds amounts within one currency (€100 and $100 are not the same amount), so
  "the largest USD refunds" reads one index range in order; a currency filter on
  another sort, and its count, read the same index instead of the table.

Downgrade drops the index.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 00:00:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_refund_cases_currency_amount_id", "refund_cases", ["currency", "amount", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_refund_cases_currency_amount_id", table_name="refund_cases")
