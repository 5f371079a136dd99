"""The two indexes of the recurring slips' columns leave out the one-off slips, whose billing
month and subscription are empty: every slip written or updated (a confirmation, a transmission's
mark, an expiry) then updates two indexes fewer, a tenth of what marking a slip transmitted costs
(docs/performance.md).

ix_slips_billing_month becomes partial on both databases. The unique rule of one slip per
subscription and billing month becomes a partial unique index on PostgreSQL (the same rule: empty
subscriptions never conflicted); SQLite keeps it in the table's definition, where dropping it means
copying the whole table.

Revision ID: 0004
Revises: 0003

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BILLING_MONTH = "ix_slips_billing_month"
ONE_SLIP_A_MONTH = "uq_slips_subscription_id_billing_month"
RECURRING = sa.text("billing_month IS NOT NULL")
SUBSCRIBED = sa.text("subscription_id IS NOT NULL")


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.drop_index(BILLING_MONTH, table_name="slips")
    op.create_index(BILLING_MONTH, "slips", ["billing_month"], postgresql_where=RECURRING, sqlite_where=RECURRING)
    if _postgresql():
        op.drop_constraint(ONE_SLIP_A_MONTH, "slips", type_="unique")
        op.create_index(
            ONE_SLIP_A_MONTH, "slips", ["subscription_id", "billing_month"], unique=True, postgresql_where=SUBSCRIBED
        )


def downgrade() -> None:
    if _postgresql():
        op.drop_index(ONE_SLIP_A_MONTH, table_name="slips")
        op.create_unique_constraint(ONE_SLIP_A_MONTH, "slips", ["subscription_id", "billing_month"])
    op.drop_index(BILLING_MONTH, table_name="slips")
    op.create_index(BILLING_MONTH, "slips", ["billing_month"])
