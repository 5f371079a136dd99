"""Card authorizations (与信): slip_authorizations holds each authorization of a slip (amount,
approval number, transaction id, when, state), authorization_voids each void asked of the card
gateway with its idempotency key and outcome. New tables only: the slips contract is unchanged,
and a slip without an authorization row has none on record.

Revision ID: 0012
Revises: 0011

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0012"
down_revision: Union[str, Sequence[str], None] = "0011"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATES = ("pending", "held", "declined", "captured", "voided", "expired", "void_refused")
OUTCOMES = ("pending", "voided", "refused")
PURPOSES = ("cancel", "decrease", "expiry", "unused")
HELD = sa.text("state = 'held'")
PENDING = sa.text("outcome = 'pending'")
UNTOLD = sa.text("outcome = 'refused' AND (merchant_mail_id IS NULL OR operator_mail_id IS NULL)")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def upgrade() -> None:
    op.create_table(
        "slip_authorizations",
        sa.Column("authorization_id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("slip_row_id", ROW_ID, nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("voided_amount", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("card_token", sa.Text(), nullable=True),
        sa.Column("approval_number", sa.String(length=16), nullable=True),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("authorized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), server_default="held", nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "amount > 0 AND voided_amount BETWEEN 0 AND amount", name=op.f("ck_slip_authorizations_amounts")
        ),
        sa.CheckConstraint(_in("state", STATES), name=op.f("ck_slip_authorizations_state")),
        sa.ForeignKeyConstraint(["slip_row_id"], ["slips.id"], name=op.f("fk_slip_authorizations_slip_row_id_slips")),
        sa.PrimaryKeyConstraint("authorization_id", name=op.f("pk_slip_authorizations")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_slip_authorizations_idempotency_key")),
        sa.UniqueConstraint("slip_row_id", "sequence", name=op.f("uq_slip_authorizations_slip_row_id_sequence")),
    )
    op.create_index(
        "ix_slip_authorizations_held", "slip_authorizations", ["slip_row_id"], postgresql_where=HELD, sqlite_where=HELD
    )
    op.create_table(
        "authorization_voids",
        sa.Column("void_id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("authorization_id", ROW_ID, nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merchant_mail_id", ROW_ID, nullable=True),
        sa.Column("operator_mail_id", ROW_ID, nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_authorization_voids_amount_positive")),
        sa.CheckConstraint(_in("outcome", OUTCOMES), name=op.f("ck_authorization_voids_outcome")),
        sa.CheckConstraint(_in("purpose", PURPOSES), name=op.f("ck_authorization_voids_purpose")),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["slip_authorizations.authorization_id"],
            name=op.f("fk_authorization_voids_authorization_id_slip_authorizations"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_mail_id"],
            ["mail_outbox.mail_id"],
            name=op.f("fk_authorization_voids_merchant_mail_id_mail_outbox"),
        ),
        sa.ForeignKeyConstraint(
            ["operator_mail_id"],
            ["mail_outbox.mail_id"],
            name=op.f("fk_authorization_voids_operator_mail_id_mail_outbox"),
        ),
        sa.PrimaryKeyConstraint("void_id", name=op.f("pk_authorization_voids")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_authorization_voids_idempotency_key")),
        sa.UniqueConstraint(
            "authorization_id", "sequence", name=op.f("uq_authorization_voids_authorization_id_sequence")
        ),
    )
    op.create_index(
        "ix_authorization_voids_pending",
        "authorization_voids",
        ["void_id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "ix_authorization_voids_untold",
        "authorization_voids",
        ["void_id"],
        postgresql_where=UNTOLD,
        sqlite_where=UNTOLD,
    )


def downgrade() -> None:
    op.drop_index("ix_authorization_voids_untold", table_name="authorization_voids")
    op.drop_index("ix_authorization_voids_pending", table_name="authorization_voids")
    op.drop_table("authorization_voids")
    op.drop_index("ix_slip_authorizations_held", table_name="slip_authorizations")
    op.drop_table("slip_authorizations")
