"""slips.transmission_batch_id without a foreign key on PostgreSQL: the transmission's mark
(sql/transmission/mark.*.sql) is its only writer and takes the id from the batch it joins, and the
key, checked once per slip marked, cost 3 of the 20 seconds a million-slip transmission spent
marking (docs/performance.md).

SQLite keeps it: dropping a constraint there means copying the whole slips table (and its views
in the way), and its check is a cheap look-up in the same file.

Revision ID: 0003
Revises: 0002

"""

from typing import Sequence, Union

from alembic import op


revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NAME = "fk_slips_transmission_batch_id_transmission_batches"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _postgresql():
        op.drop_constraint(NAME, "slips", type_="foreignkey")


def downgrade() -> None:
    if _postgresql():
        op.create_foreign_key(NAME, "slips", "transmission_batches", ["transmission_batch_id"], ["batch_id"])
