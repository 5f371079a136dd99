"""The 全銀 bank master (banks and branches with their names and kana, and the versions loaded) and,
on each transfer, what its file said: the bank and branch names from the master and the 新規コード
(with an index to tell whether an account was paid before).

Revision ID: 0010
Revises: 0009

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0010"
down_revision: Union[str, Sequence[str], None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

Identity = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bank_master_versions",
        sa.Column("version_id", Identity, nullable=False, autoincrement=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("published_on", sa.Date()),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("loaded_at", Timestamp, nullable=False),
        sa.Column("bank_count", sa.Integer(), nullable=False),
        sa.Column("branch_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_bank_master_versions")),
    )
    op.create_table(
        "bank_master_banks",
        sa.Column("bank_code", sa.String(length=4), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kana", sa.Text(), nullable=False),
        sa.Column("removed_in", sa.Text()),
        sa.Column("removed_on", sa.Date()),
        sa.PrimaryKeyConstraint("bank_code", name=op.f("pk_bank_master_banks")),
    )
    op.create_table(
        "bank_master_branches",
        sa.Column("bank_code", sa.String(length=4), nullable=False),
        sa.Column("branch_code", sa.String(length=3), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kana", sa.Text(), nullable=False),
        sa.Column("removed_in", sa.Text()),
        sa.Column("removed_on", sa.Date()),
        sa.PrimaryKeyConstraint("bank_code", "branch_code", name=op.f("pk_bank_master_branches")),
    )
    with op.batch_alter_table("payout_transfers") as batch_op:
        batch_op.add_column(sa.Column("bank_name_kana", sa.Text()))
        batch_op.add_column(sa.Column("branch_name_kana", sa.Text()))
        batch_op.add_column(sa.Column("new_code", sa.String(length=1)))
    op.create_index("ix_payout_transfers_bank_account_id", "payout_transfers", ["bank_account_id"])


def downgrade() -> None:
    op.drop_index("ix_payout_transfers_bank_account_id", table_name="payout_transfers")
    with op.batch_alter_table("payout_transfers") as batch_op:
        batch_op.drop_column("new_code")
        batch_op.drop_column("branch_name_kana")
        batch_op.drop_column("bank_name_kana")
    op.drop_table("bank_master_branches")
    op.drop_table("bank_master_banks")
    op.drop_table("bank_master_versions")
