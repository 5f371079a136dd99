"""The index of the open slips by payment date carries the slip's row id, so the stale-slip claim
(sql/reminders/stale_slips/claim.sql) reads the index alone, never the slips themselves.

Revision ID: 0002
Revises: 0001

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NAME = "ix_slips_unconfirmed_by_payment_date"
OPEN = sa.text("confirmed_on IS NULL AND cancelled_at IS NULL AND expired_on IS NULL")


def _replace(columns: list[str]) -> None:
    op.drop_index(NAME, table_name="slips")
    op.create_index(NAME, "slips", columns, unique=False, postgresql_where=OPEN, sqlite_where=OPEN)


def upgrade() -> None:
    _replace(["payment_date", "id"])


def downgrade() -> None:
    _replace(["payment_date"])
