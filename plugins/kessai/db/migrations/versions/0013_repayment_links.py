"""The customer's re-payment path: a merchant's link template for re-paying a failed recurring
slip (merchants.repayment_url_template, with {slip_id} and {token}) and its own instructions for
customers when it has no online re-payment page (merchants.repayment_instructions). Both nullable.

Revision ID: 0013
Revises: 0012

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0013"
down_revision: Union[str, Sequence[str], None] = "0012"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


# Plain ALTER TABLE on both databases (SQLite adds and drops a column without constraints in
# place): copying merchants in batch mode would lose the names of its check constraints, which
# 0007's downgrade drops by name.
def upgrade() -> None:
    op.add_column("merchants", sa.Column("repayment_url_template", sa.Text(), nullable=True))
    op.add_column("merchants", sa.Column("repayment_instructions", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("merchants", "repayment_instructions")
    op.drop_column("merchants", "repayment_url_template")
