"""Stale-slip digests: one mail per merchant and period instead of one per reason and day.

merchants.reminder_period (daily, weekly, monthly; NULL: the global default) says how often a
merchant hears of its stale slips; stale_slip_digests holds each digest sent (one per merchant
and period); ix_slips_open_by_merchant finds a merchant's open slips by payment date (whether it
has any stale, and which) without reading its confirmed ones; ix_slip_reminders_untold finds the
expired slips no digest has listed yet.

The column is added with its CHECK in one ALTER TABLE, which SQLite and PostgreSQL both accept
(SQLite cannot add a table constraint later without copying the table).

Revision ID: 0007
Revises: 0006

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UNTOLD = sa.text("mail_id IS NULL")
OPEN = sa.text("confirmed_on IS NULL AND cancelled_at IS NULL AND expired_on IS NULL")


def upgrade() -> None:
    op.execute(
        "ALTER TABLE merchants ADD COLUMN reminder_period VARCHAR(8) "
        "CONSTRAINT ck_merchants_reminder_period CHECK (reminder_period IN ('daily', 'weekly', 'monthly'))"
    )
    op.create_table(
        "stale_slip_digests",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("paid_through", sa.Date(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("mail_id", ROW_ID, nullable=True),
        sa.Column("open_slips", sa.Integer(), server_default="0", nullable=False),
        sa.Column("open_amount", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("final_notice_slips", sa.Integer(), server_default="0", nullable=False),
        sa.Column("expired_slips", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.merchant_id"], name="fk_stale_slip_digests_merchant_id_merchants"
        ),
        sa.ForeignKeyConstraint(["mail_id"], ["mail_outbox.mail_id"], name="fk_stale_slip_digests_mail_id_mail_outbox"),
        sa.PrimaryKeyConstraint("merchant_id", "period", name="pk_stale_slip_digests"),
    )
    op.create_index("ix_stale_slip_digests_business_date", "stale_slip_digests", ["business_date", "merchant_id"])
    op.create_index(
        "ix_slip_reminders_untold", "slip_reminders", ["slip_row_id"], postgresql_where=UNTOLD, sqlite_where=UNTOLD
    )
    op.create_index(
        "ix_slips_open_by_merchant", "slips", ["merchant_id", "payment_date"], postgresql_where=OPEN, sqlite_where=OPEN
    )


def downgrade() -> None:
    op.drop_index("ix_slips_open_by_merchant", table_name="slips")
    op.drop_index("ix_slip_reminders_untold", table_name="slip_reminders")
    op.drop_index("ix_stale_slip_digests_business_date", table_name="stale_slip_digests")
    op.drop_table("stale_slip_digests")
    op.execute("ALTER TABLE merchants DROP COLUMN reminder_period")
