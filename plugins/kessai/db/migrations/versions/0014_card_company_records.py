"""A record a card company could clear: each merchant's 加盟店番号 per card company
(merchant_card_numbers), the 支払区分 of a slip (payment_kind, installments), each card company's
limits on the store names and whether it requires a merchant number, the store names as the files
write them (merchant_file_names, and kept per batch with the merchant number), and the hold
reasons of a slip whose data cannot be made valid. The card companies' acknowledgements (受領結果)
per transmitted slip, and whether a company's slips are paid only once accepted. The store-change
notices: one per merchant, card company and set of names.

SQLite cannot alter a check constraint: the small transmission_holds table is copied (batch mode);
the columns of slips are added in place.

Revision ID: 0014
Revises: 0013

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0014"
down_revision: Union[str, Sequence[str], None] = "0013"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

REASON = "ck_transmission_holds_reason"
BEFORE = (
    "unknown_card_company",
    "merchant_without_store_names",
    "amount_out_of_range",
    "store_name_control_character",
    "merchant_id_control_character",
    "card_company_file_code_invalid",
)
AFTER = BEFORE + (
    "merchant_without_card_number",
    "store_name_kana_invalid",
    "store_name_en_invalid",
    "store_name_too_long",
    "payment_kind_invalid",
)


def _reasons(reasons: tuple[str, ...]) -> str:
    return "reason IN (" + ", ".join(f"'{reason}'" for reason in reasons) + ")"


def _replace_check(reasons: tuple[str, ...]) -> None:
    with op.batch_alter_table("transmission_holds") as batch_op:
        batch_op.drop_constraint(op.f(REASON), type_="check")
        batch_op.create_check_constraint(op.f(REASON), _reasons(reasons))


def upgrade() -> None:
    op.create_table(
        "merchant_card_numbers",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("card_company", sa.String(length=16), nullable=False),
        sa.Column("merchant_number", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.merchant_id"], name=op.f("fk_merchant_card_numbers_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["card_company"],
            ["card_companies.card_company"],
            name=op.f("fk_merchant_card_numbers_card_company_card_companies"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "card_company", name=op.f("pk_merchant_card_numbers")),
    )
    op.create_table(
        "merchant_file_names",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("name_kana", sa.Text(), nullable=True),
        sa.Column("name_en", sa.Text(), nullable=True),
        sa.Column("kana_problem", sa.Text(), nullable=True),
        sa.Column("en_problem", sa.Text(), nullable=True),
        sa.Column("names_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_merchant_file_names")),
    )
    op.create_table(
        "merchant_change_notices",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("card_company", sa.String(length=16), nullable=False),
        sa.Column("names_sha256", sa.String(length=64), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_kana", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("merchant_number", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.merchant_id"], name=op.f("fk_merchant_change_notices_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["card_company"],
            ["card_companies.card_company"],
            name=op.f("fk_merchant_change_notices_card_company_card_companies"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "card_company", "names_sha256", name=op.f("pk_merchant_change_notices")),
    )
    op.create_index("ix_merchant_change_notices_effective_on", "merchant_change_notices", ["effective_on"])
    op.add_column("slips", sa.Column("payment_kind", sa.String(length=16), nullable=False, server_default="lump_sum"))
    op.add_column("slips", sa.Column("installments", sa.Integer(), nullable=True))
    op.add_column(
        "card_companies", sa.Column("name_kana_max_length", sa.Integer(), nullable=False, server_default="30")
    )
    op.add_column("card_companies", sa.Column("name_en_max_length", sa.Integer(), nullable=False, server_default="25"))
    op.add_column(
        "card_companies", sa.Column("merchant_number_required", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(
        "card_companies", sa.Column("requires_acknowledgement", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_table(
        "transmission_acknowledgements",
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("slip_row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("result", sa.String(length=8), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.CheckConstraint("result IN ('accepted', 'rejected')", name=op.f("ck_transmission_acknowledgements_result")),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["transmission_batches.batch_id"],
            name=op.f("fk_transmission_acknowledgements_batch_id_transmission_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["slip_row_id"], ["slips.id"], name=op.f("fk_transmission_acknowledgements_slip_row_id_slips")
        ),
        sa.PrimaryKeyConstraint("batch_id", "slip_row_id", name=op.f("pk_transmission_acknowledgements")),
    )
    op.create_index("ix_transmission_acknowledgements_slip_row_id", "transmission_acknowledgements", ["slip_row_id"])
    op.add_column("transmission_batch_merchants", sa.Column("file_name_kana", sa.Text(), nullable=True))
    op.add_column("transmission_batch_merchants", sa.Column("file_name_en", sa.Text(), nullable=True))
    op.add_column("transmission_batch_merchants", sa.Column("merchant_number", sa.Text(), nullable=True))
    _replace_check(AFTER)


def downgrade() -> None:
    op.execute(f"DELETE FROM transmission_holds WHERE NOT ({_reasons(BEFORE)})")
    _replace_check(BEFORE)
    # In place (SQLite 3.35+ drops a column itself): copying slips would break the views over it.
    for table, columns in (
        ("transmission_batch_merchants", ("merchant_number", "file_name_en", "file_name_kana")),
        (
            "card_companies",
            ("requires_acknowledgement", "merchant_number_required", "name_en_max_length", "name_kana_max_length"),
        ),
        ("slips", ("installments", "payment_kind")),
    ):
        for column in columns:
            op.drop_column(table, column)
    op.drop_index("ix_transmission_acknowledgements_slip_row_id", "transmission_acknowledgements")
    op.drop_table("transmission_acknowledgements")
    op.drop_index("ix_merchant_change_notices_effective_on", "merchant_change_notices")
    op.drop_table("merchant_change_notices")
    op.drop_table("merchant_file_names")
    op.drop_table("merchant_card_numbers")
