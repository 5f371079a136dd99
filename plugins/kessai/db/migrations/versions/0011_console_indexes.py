"""The operators' console's look-ups, each one index probe.

ix_slips_slip_id finds a slip by its number alone (the Slip page's search; the unique constraint
leads with the merchant). The others serve the Today page: a day's charge attempts, the statements
closed on a closing date or paid on a payout date, and the mails given up (a handful among every
mail ever written).

Revision ID: 0011
Revises: 0010

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0011"
down_revision: Union[str, Sequence[str], None] = "0010"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

GAVE_UP = sa.text("gave_up_at IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_slips_slip_id", "slips", ["slip_id"])
    op.create_index("ix_charge_attempts_charge_date", "charge_attempts", ["charge_date", "outcome"])
    op.create_index("ix_payout_statements_closing_date", "payout_statements", ["closing_date"])
    op.create_index("ix_payout_statements_payout_date", "payout_statements", ["payout_date"])
    op.create_index(
        "ix_mail_outbox_gave_up", "mail_outbox", ["gave_up_at"], postgresql_where=GAVE_UP, sqlite_where=GAVE_UP
    )


def downgrade() -> None:
    op.drop_index("ix_mail_outbox_gave_up", table_name="mail_outbox")
    op.drop_index("ix_payout_statements_payout_date", table_name="payout_statements")
    op.drop_index("ix_payout_statements_closing_date", table_name="payout_statements")
    op.drop_index("ix_charge_attempts_charge_date", table_name="charge_attempts")
    op.drop_index("ix_slips_slip_id", table_name="slips")
