"""Payout adjustments and returned transfers (docs/payout-closing.md, "Adjustments";
docs/zengin-transfer-file.md, "Returned transfers"): the transfers the bank could not deliver or
recalled (振込不能・組戻し), one row per transfer; signed adjustments (chargebacks, reversals,
corrections, returned transfers and their fees) that a merchant's next closing takes; and on the
statement, the adjustments it took (its net may now carry a debt forward: carried_forward < 0).

Revision ID: 0008
Revises: 0007

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

Identity = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
KINDS = "kind IN ('chargeback', 'reversal', 'correction', 'returned_transfer', 'return_fee')"


def upgrade() -> None:
    op.create_table(
        "payout_transfer_returns",
        sa.Column("transfer_return_id", Identity, nullable=False),
        sa.Column("statement_id", Identity, nullable=False),
        sa.Column("bank_account_id", Identity, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=8), nullable=False, server_default=""),
        sa.Column("result_file", sa.Text(), nullable=False),
        sa.Column("result_file_sha256", sa.String(length=64), nullable=False),
        sa.Column("return_fee", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("registered_at", Timestamp, nullable=False),
        sa.Column("registered_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["statement_id", "bank_account_id"],
            ["payout_transfers.statement_id", "payout_transfers.bank_account_id"],
            name=op.f("fk_payout_transfer_returns_statement_id_payout_transfers"),
        ),
        sa.PrimaryKeyConstraint("transfer_return_id", name=op.f("pk_payout_transfer_returns")),
        sa.UniqueConstraint(
            "statement_id", "bank_account_id", name=op.f("uq_payout_transfer_returns_statement_id_bank_account_id")
        ),
        sa.CheckConstraint("result IN ('not_delivered', 'recalled')", name=op.f("ck_payout_transfer_returns_result")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payout_transfer_returns_amount_positive")),
        sa.CheckConstraint("return_fee >= 0", name=op.f("ck_payout_transfer_returns_return_fee")),
    )
    op.create_index("ix_payout_transfer_returns_bank_account_id", "payout_transfer_returns", ["bank_account_id"])
    op.create_table(
        "payout_adjustments",
        sa.Column("adjustment_id", Identity, nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("closing_date", sa.Date(), nullable=True),
        sa.Column("transfer_return_id", Identity, nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.merchant_id"], name=op.f("fk_payout_adjustments_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_return_id"],
            ["payout_transfer_returns.transfer_return_id"],
            name=op.f("fk_payout_adjustments_transfer_return_id_payout_transfer_returns"),
        ),
        sa.PrimaryKeyConstraint("adjustment_id", name=op.f("pk_payout_adjustments")),
        sa.UniqueConstraint("transfer_return_id", "kind", name=op.f("uq_payout_adjustments_transfer_return_id_kind")),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_payout_adjustments_amount_not_zero")),
        sa.CheckConstraint(KINDS, name=op.f("ck_payout_adjustments_kind")),
    )
    op.create_index(
        "ix_payout_adjustments_merchant_id_closing_date", "payout_adjustments", ["merchant_id", "closing_date"]
    )
    with op.batch_alter_table("payout_statements") as batch_op:
        batch_op.add_column(sa.Column("adjustment_amount", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("payout_statements") as batch_op:
        batch_op.drop_column("adjustment_amount")
    op.drop_index("ix_payout_adjustments_merchant_id_closing_date", table_name="payout_adjustments")
    op.drop_table("payout_adjustments")
    op.drop_index("ix_payout_transfer_returns_bank_account_id", table_name="payout_transfer_returns")
    op.drop_table("payout_transfer_returns")
