"""Pay only what went out (SPEC §4.6): the slips a closing held back for not having gone to their
card company, each with its reasons; on the statement lines, the slips paid late after such a hold;
the transfers a transfer-file run left out because slips behind them were not transmitted; and
the declared start of the books (the first closing kessai pays).

Revision ID: 0005
Revises: 0004

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

Identity = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "payout_held_slips",
        sa.Column("closing_date", sa.Date(), nullable=False),
        sa.Column("slip_row_id", Identity, nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["slip_row_id"], ["slips.id"], name=op.f("fk_payout_held_slips_slip_row_id_slips")),
        sa.PrimaryKeyConstraint("closing_date", "slip_row_id", "reason", name=op.f("pk_payout_held_slips")),
    )
    op.create_index("ix_payout_held_slips_slip_row_id", "payout_held_slips", ["slip_row_id"])
    with op.batch_alter_table("payout_statement_lines") as batch_op:
        batch_op.add_column(sa.Column("held_back_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("held_back_amount", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "payout_withheld_transfers",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("statement_id", Identity, nullable=False),
        sa.Column("bank_account_id", Identity, nullable=False),
        sa.Column("slip_count", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["payout_statements.statement_id"],
            name=op.f("fk_payout_withheld_transfers_statement_id_payout_statements"),
        ),
        sa.ForeignKeyConstraint(
            ["bank_account_id"],
            ["bank_accounts.bank_account_id"],
            name=op.f("fk_payout_withheld_transfers_bank_account_id_bank_accounts"),
        ),
        sa.PrimaryKeyConstraint(
            "business_date", "statement_id", "bank_account_id", name=op.f("pk_payout_withheld_transfers")
        ),
    )
    op.create_table(
        "payout_books_start",
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("declared_at", Timestamp, nullable=False),
        sa.Column("declared_by", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("start_date", name=op.f("pk_payout_books_start")),
    )


def downgrade() -> None:
    op.drop_table("payout_books_start")
    op.drop_table("payout_withheld_transfers")
    with op.batch_alter_table("payout_statement_lines") as batch_op:
        batch_op.drop_column("held_back_amount")
        batch_op.drop_column("held_back_count")
    op.drop_index("ix_payout_held_slips_slip_row_id", table_name="payout_held_slips")
    op.drop_table("payout_held_slips")
