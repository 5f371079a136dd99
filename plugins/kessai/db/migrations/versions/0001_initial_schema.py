"""Initial schema: the integration contract, the batch's bookkeeping, the dated-slips view.

Revision ID: 0001
Revises:

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# A migration is frozen: it must create the same schema whatever the package becomes, so it uses
# copies of what it needs as they were at this revision, never the live kessai modules.

# kessai.db.schema.Timestamp: a TypeDecorator over DateTime(timezone=True); DDL is all a migration uses.
Timestamp = sa.DateTime

# kessai.db.database.japan_date_sql: the calendar date in Japan of a timestamp column (UTC+9, no DST).
JAPAN_DATE_TEMPLATES = {
    "postgresql": "(({}) AT TIME ZONE 'Asia/Tokyo')::date",
    "sqlite": "date({}, '+9 hours')",
}


def japan_date_sql(column: str, dialect: str) -> str:
    return JAPAN_DATE_TEMPLATES[dialect].format(column)


# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "business_calendar",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("is_business_day", sa.Boolean(), nullable=False),
        sa.Column("holiday_name", sa.Text(), nullable=True),
        sa.Column("next_business_day", sa.Date(), nullable=True),
        sa.Column("business_day_on_or_after", sa.Date(), nullable=True),
        sa.Column("previous_business_day", sa.Date(), nullable=True),
        sa.Column("monthly_closing_date", sa.Date(), nullable=False),
        sa.Column("twice_monthly_closing_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_business_calendar")),
    )
    op.create_table(
        "calendar_overrides",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "created_at", Timestamp(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_calendar_overrides")),
    )
    op.create_table(
        "card_companies",
        sa.Column("card_company", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("file_code", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("card_company", name=op.f("pk_card_companies")),
        sa.UniqueConstraint("file_code", name=op.f("uq_card_companies_file_code")),
    )
    op.create_table(
        "kessai_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_kessai_settings")),
    )
    op.create_table(
        "mail_outbox",
        sa.Column("mail_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachment_name", sa.Text(), nullable=True),
        sa.Column("attachment_content", sa.Text(), nullable=True),
        sa.Column(
            "created_at", Timestamp(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column("sent_at", Timestamp(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", Timestamp(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("gave_up_at", Timestamp(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("mail_id", name=op.f("pk_mail_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_mail_outbox_dedupe_key")),
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mail_outbox_unsent",
            ["mail_id"],
            unique=False,
            postgresql_where=sa.text("sent_at IS NULL AND gave_up_at IS NULL"),
            sqlite_where=sa.text("sent_at IS NULL AND gave_up_at IS NULL"),
        )

    op.create_table(
        "merchants",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_kana", sa.Text(), nullable=True),
        sa.Column("name_en", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("payout_cycle", sa.String(length=16), server_default="monthly", nullable=False),
        sa.Column("fee_rate_bp", sa.Integer(), server_default="0", nullable=False),
        sa.Column("transfer_fee", sa.Integer(), server_default="0", nullable=False),
        sa.Column("minimum_payout", sa.Integer(), server_default="0", nullable=False),
        sa.Column("repayment_mail_enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "created_at", Timestamp(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.CheckConstraint("payout_cycle IN ('monthly', 'twice_monthly')", name=op.f("ck_merchants_payout_cycle")),
        sa.CheckConstraint("fee_rate_bp BETWEEN 0 AND 10000", name=op.f("ck_merchants_fee_rate_bp")),
        sa.CheckConstraint("minimum_payout >= 0", name=op.f("ck_merchants_minimum_payout")),
        sa.CheckConstraint("transfer_fee >= 0", name=op.f("ck_merchants_transfer_fee")),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_merchants")),
    )
    op.create_table(
        "bank_accounts",
        sa.Column(
            "bank_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("bank_code", sa.String(length=4), nullable=False),
        sa.Column("bank_name_kana", sa.Text(), server_default="", nullable=False),
        sa.Column("branch_code", sa.String(length=3), nullable=False),
        sa.Column("branch_name_kana", sa.Text(), server_default="", nullable=False),
        sa.Column("account_type", sa.String(length=16), server_default="ordinary", nullable=False),
        sa.Column("account_number", sa.String(length=7), nullable=False),
        sa.Column("holder_kana", sa.Text(), nullable=False),
        sa.Column("effective_from", Timestamp(timezone=True), nullable=False),
        sa.CheckConstraint(
            "account_type IN ('ordinary', 'checking', 'savings')", name=op.f("ck_bank_accounts_account_type")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.merchant_id"], name=op.f("fk_bank_accounts_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("bank_account_id", name=op.f("pk_bank_accounts")),
        sa.UniqueConstraint("merchant_id", "effective_from", name=op.f("uq_bank_accounts_merchant_id_effective_from")),
    )
    op.create_table(
        "payout_statements",
        sa.Column(
            "statement_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("closing_date", sa.Date(), nullable=False),
        sa.Column("payout_date", sa.Date(), nullable=False),
        sa.Column("slip_count", sa.Integer(), nullable=False),
        sa.Column("gross_amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("transfer_fee", sa.BigInteger(), nullable=False),
        sa.Column("net_amount", sa.BigInteger(), nullable=False),
        sa.Column("carried_in", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("carried_forward", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "created_at", Timestamp(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.merchant_id"], name=op.f("fk_payout_statements_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("statement_id", name=op.f("pk_payout_statements")),
        sa.UniqueConstraint("merchant_id", "closing_date", name=op.f("uq_payout_statements_merchant_id_closing_date")),
    )
    op.create_table(
        "subscriptions",
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("customer_email", sa.Text(), nullable=True),
        sa.Column("card_token", sa.Text(), nullable=False),
        sa.Column("card_company", sa.String(length=16), server_default="visa_master", nullable=False),
        sa.Column("card_reference", sa.String(length=32), server_default="", nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column(
            "created_at", Timestamp(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column("started_on", sa.Date(), nullable=True),
        sa.Column("subscription_number", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("status IN ('active', 'stopped')", name=op.f("ck_subscriptions_status")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_subscriptions_amount_positive")),
        sa.CheckConstraint(
            "subscription_number BETWEEN 1 AND 99999999999", name=op.f("ck_subscriptions_subscription_number")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.merchant_id"], name=op.f("fk_subscriptions_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "merchant_id", "subscription_number", name=op.f("uq_subscriptions_merchant_id_subscription_number")
        ),
    )
    op.create_table(
        "transmission_batches",
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("card_company", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("amount_total", sa.BigInteger(), nullable=False),
        sa.Column("late_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at", Timestamp(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column("sequence_number", sa.Integer(), nullable=True),
        sa.Column("sender_code", sa.String(length=16), nullable=True),
        sa.Column("file_code", sa.String(length=8), nullable=True),
        sa.ForeignKeyConstraint(
            ["card_company"],
            ["card_companies.card_company"],
            name=op.f("fk_transmission_batches_card_company_card_companies"),
        ),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_transmission_batches")),
        sa.UniqueConstraint(
            "business_date", "card_company", name=op.f("uq_transmission_batches_business_date_card_company")
        ),
        sa.UniqueConstraint(
            "card_company", "sequence_number", name=op.f("uq_transmission_batches_card_company_sequence_number")
        ),
    )
    op.create_table(
        "payout_statement_lines",
        sa.Column("statement_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("card_company", sa.String(length=16), nullable=False),
        sa.Column("bank_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("slip_count", sa.Integer(), nullable=False),
        sa.Column("gross_amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_account_id"],
            ["bank_accounts.bank_account_id"],
            name=op.f("fk_payout_statement_lines_bank_account_id_bank_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["payout_statements.statement_id"],
            name=op.f("fk_payout_statement_lines_statement_id_payout_statements"),
        ),
        sa.PrimaryKeyConstraint(
            "statement_id", "card_company", "bank_account_id", name=op.f("pk_payout_statement_lines")
        ),
    )
    op.create_table(
        "payout_closings",
        sa.Column("closing_date", sa.Date(), nullable=False),
        sa.Column("closed_at", Timestamp(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.PrimaryKeyConstraint("closing_date", name=op.f("pk_payout_closings")),
    )
    op.create_table(
        "payout_transfer_files",
        sa.Column(
            "transfer_file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("payout_date", sa.Date(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("amount_total", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", Timestamp(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.PrimaryKeyConstraint("transfer_file_id", name=op.f("pk_payout_transfer_files")),
        sa.UniqueConstraint("payout_date", "sequence", name=op.f("uq_payout_transfer_files_payout_date_sequence")),
    )
    op.create_table(
        "payout_transfers",
        sa.Column("statement_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bank_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("payout_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("transfer_file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payout_transfers_amount_positive")),
        sa.ForeignKeyConstraint(
            ["bank_account_id"],
            ["bank_accounts.bank_account_id"],
            name=op.f("fk_payout_transfers_bank_account_id_bank_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["payout_statements.statement_id"],
            name=op.f("fk_payout_transfers_statement_id_payout_statements"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_file_id"],
            ["payout_transfer_files.transfer_file_id"],
            name=op.f("fk_payout_transfers_transfer_file_id_payout_transfer_files"),
        ),
        sa.PrimaryKeyConstraint("statement_id", "bank_account_id", name=op.f("pk_payout_transfers")),
    )
    with op.batch_alter_table("payout_transfers", schema=None) as batch_op:
        batch_op.create_index("ix_payout_transfers_payout_date", ["payout_date"], unique=False)

    op.create_table(
        "slips",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("slip_id", sa.String(length=18), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("card_company", sa.String(length=16), nullable=False),
        sa.Column("card_reference", sa.String(length=32), server_default="", nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("payment_date", sa.Date(), nullable=True),
        sa.Column("confirmed_on", sa.Date(), nullable=True),
        sa.Column("confirmation_registered_at", Timestamp(timezone=True), nullable=True),
        sa.Column("cancelled_at", Timestamp(timezone=True), nullable=True),
        sa.Column("subscription_id", sa.String(length=32), nullable=True),
        sa.Column("billing_month", sa.Date(), nullable=True),
        sa.Column("transmitted_on", sa.Date(), nullable=True),
        sa.Column("transmission_batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("transmission_due_on", sa.Date(), nullable=True),
        sa.Column("closing_date", sa.Date(), nullable=True),
        sa.Column("expired_on", sa.Date(), nullable=True),
        sa.Column(
            "created_at", Timestamp(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.CheckConstraint(
            "length(slip_id) BETWEEN 1 AND 18 AND ltrim(slip_id, '0123456789') = ''",
            name=op.f("ck_slips_slip_id_digits"),
        ),
        sa.CheckConstraint(
            "(confirmed_on IS NULL) = (confirmation_registered_at IS NULL)", name=op.f("ck_slips_confirmation_complete")
        ),
        sa.CheckConstraint(
            "(subscription_id IS NULL) = (billing_month IS NULL)", name=op.f("ck_slips_recurring_has_billing_month")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_slips_amount_positive")),
        sa.CheckConstraint(
            "confirmed_on IS NULL OR cancelled_at IS NULL", name=op.f("ck_slips_confirmed_not_cancelled")
        ),
        sa.CheckConstraint(
            "confirmed_on IS NULL OR confirmed_on >= payment_date", name=op.f("ck_slips_confirmed_on_after_payment")
        ),
        sa.CheckConstraint(
            "confirmed_on IS NULL OR payment_date IS NOT NULL", name=op.f("ck_slips_confirmed_after_paid")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.merchant_id"], name=op.f("fk_slips_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"], ["subscriptions.subscription_id"], name=op.f("fk_slips_subscription_id_subscriptions")
        ),
        sa.ForeignKeyConstraint(
            ["transmission_batch_id"],
            ["transmission_batches.batch_id"],
            name=op.f("fk_slips_transmission_batch_id_transmission_batches"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slips")),
        sa.UniqueConstraint("merchant_id", "slip_id", name=op.f("uq_slips_merchant_id_slip_id")),
        sa.UniqueConstraint("subscription_id", "billing_month", name=op.f("uq_slips_subscription_id_billing_month")),
    )
    with op.batch_alter_table("slips", schema=None) as batch_op:
        batch_op.create_index(
            "ix_slips_awaiting_transmission",
            ["confirmed_on"],
            unique=False,
            postgresql_where=sa.text("transmitted_on IS NULL AND confirmed_on IS NOT NULL"),
            sqlite_where=sa.text("transmitted_on IS NULL AND confirmed_on IS NOT NULL"),
        )
        batch_op.create_index("ix_slips_billing_month", ["billing_month"], unique=False)
        batch_op.create_index(
            "ix_slips_unpaid_by_billing_month",
            ["billing_month", "id"],
            unique=False,
            postgresql_where=sa.text("payment_date IS NULL"),
            sqlite_where=sa.text("payment_date IS NULL"),
        )
        batch_op.create_index(
            "ix_slips_awaiting_closing_date",
            ["id"],
            unique=False,
            postgresql_where=sa.text("closing_date IS NULL AND confirmed_on IS NOT NULL"),
            sqlite_where=sa.text("closing_date IS NULL AND confirmed_on IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_slips_closing",
            ["closing_date", "merchant_id"],
            unique=False,
            postgresql_where=sa.text("closing_date IS NOT NULL"),
            sqlite_where=sa.text("closing_date IS NOT NULL"),
        )
        batch_op.create_index("ix_slips_transmitted_on", ["transmitted_on"], unique=False)
        batch_op.create_index(
            "ix_slips_unconfirmed_by_payment_date",
            ["payment_date"],
            unique=False,
            postgresql_where=sa.text("confirmed_on IS NULL AND cancelled_at IS NULL AND expired_on IS NULL"),
            sqlite_where=sa.text("confirmed_on IS NULL AND cancelled_at IS NULL AND expired_on IS NULL"),
        )

    op.create_table(
        "charge_attempts",
        sa.Column(
            "attempt_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("slip_row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("billing_month", sa.Date(), nullable=False),
        sa.Column("charge_date", sa.Date(), nullable=False),
        sa.Column("attempt_number", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("outcome", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("gateway_charge_id", sa.Text(), nullable=True),
        sa.Column("started_at", Timestamp(timezone=True), nullable=False),
        sa.Column("finished_at", Timestamp(timezone=True), nullable=True),
        sa.Column("resolved_at", Timestamp(timezone=True), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('pending', 'succeeded', 'declined', 'error', 'unknown', 'not_executed')",
            name=op.f("ck_charge_attempts_outcome"),
        ),
        sa.ForeignKeyConstraint(["slip_row_id"], ["slips.id"], name=op.f("fk_charge_attempts_slip_row_id_slips")),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_charge_attempts")),
        sa.UniqueConstraint(
            "slip_row_id", "attempt_number", name=op.f("uq_charge_attempts_slip_row_id_attempt_number")
        ),
    )
    with op.batch_alter_table("charge_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_charge_attempts_idempotency_key", ["idempotency_key"], unique=False)
        batch_op.create_index(
            "ix_charge_attempts_unsettled",
            ["billing_month", "attempt_id"],
            unique=False,
            postgresql_where=sa.text("outcome IN ('pending', 'unknown')"),
            sqlite_where=sa.text("outcome IN ('pending', 'unknown')"),
        )

    op.create_table(
        "recurring_charge_cycles",
        sa.Column("billing_month", sa.Date(), nullable=False),
        sa.Column("charge_date", sa.Date(), nullable=False),
        sa.Column("slip_count", sa.Integer(), nullable=False),
        sa.Column("paid_count", sa.Integer(), nullable=False),
        sa.Column("paid_amount", sa.BigInteger(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("failed_amount", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", Timestamp(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("billing_month", name=op.f("pk_recurring_charge_cycles")),
    )

    op.create_table(
        "slip_events",
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("slip_row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event", sa.String(length=24), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column(
            "occurred_at", Timestamp(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(["slip_row_id"], ["slips.id"], name=op.f("fk_slip_events_slip_row_id_slips")),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_slip_events")),
    )
    with op.batch_alter_table("slip_events", schema=None) as batch_op:
        batch_op.create_index("ix_slip_events_slip_row_id", ["slip_row_id"], unique=False)

    op.create_table(
        "slip_reminders",
        sa.Column("slip_row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("mail_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.CheckConstraint("reason IN ('stale', 'final_notice', 'expired')", name=op.f("ck_slip_reminders_reason")),
        sa.ForeignKeyConstraint(
            ["mail_id"], ["mail_outbox.mail_id"], name=op.f("fk_slip_reminders_mail_id_mail_outbox")
        ),
        sa.ForeignKeyConstraint(["slip_row_id"], ["slips.id"], name=op.f("fk_slip_reminders_slip_row_id_slips")),
        sa.PrimaryKeyConstraint("slip_row_id", "reason", name=op.f("pk_slip_reminders")),
    )
    with op.batch_alter_table("slip_reminders", schema=None) as batch_op:
        batch_op.create_index("ix_slip_reminders_business_date", ["business_date", "reason"], unique=False)

    op.create_table(
        "transmission_batch_merchants",
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_kana", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["transmission_batches.batch_id"],
            name=op.f("fk_transmission_batch_merchants_batch_id_transmission_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.merchant_id"],
            name=op.f("fk_transmission_batch_merchants_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("batch_id", "merchant_id", name=op.f("pk_transmission_batch_merchants")),
    )
    op.create_table(
        "transmission_holds",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("slip_row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.CheckConstraint(
            "reason IN ('unknown_card_company', 'merchant_without_store_names')",
            name=op.f("ck_transmission_holds_reason"),
        ),
        sa.ForeignKeyConstraint(["slip_row_id"], ["slips.id"], name=op.f("fk_transmission_holds_slip_row_id_slips")),
        sa.PrimaryKeyConstraint("business_date", "slip_row_id", "reason", name=op.f("pk_transmission_holds")),
    )
    card_companies = sa.table("card_companies", sa.column("card_company"), sa.column("name"), sa.column("file_code"))
    op.bulk_insert(
        card_companies,
        [
            {"card_company": "visa_master", "name": "Visa/Mastercard", "file_code": "VM"},
            {"card_company": "jcb", "name": "JCB", "file_code": "JC"},
            {"card_company": "amex", "name": "American Express", "file_code": "AX"},
            {"card_company": "diners", "name": "Diners Club", "file_code": "DC"},
        ],
    )
    create_dated_slips_view()
    create_untransmitted_slips_view()
    create_bank_account_periods_view()


def create_dated_slips_view() -> None:
    """slips with the two dates every batch rule starts from, so no batch SQL differs by dialect.

    registered_on: the day in Japan the confirmation was registered;
    effective_on: the later of that day and confirmed_on (SPEC §4.2, §4.4).
    """
    dialect = op.get_bind().dialect.name
    registered_on = japan_date_sql("confirmation_registered_at", dialect)
    later = "GREATEST" if dialect == "postgresql" else "MAX"
    op.execute(
        f"CREATE VIEW dated_slips AS SELECT slips.*, {registered_on} AS registered_on, "
        f"{later}({registered_on}, confirmed_on) AS effective_on FROM slips"
    )


def create_untransmitted_slips_view() -> None:
    """Confirmed, uncancelled slips not yet transmitted, with their transmission date (SPEC §4.2):
    the business day after effective_on, from the business_calendar table."""
    op.execute(
        "CREATE VIEW untransmitted_slips AS SELECT dated_slips.*, "
        "business_calendar.next_business_day AS transmission_date FROM dated_slips "
        "JOIN business_calendar ON business_calendar.day = dated_slips.effective_on "
        "WHERE dated_slips.confirmed_on IS NOT NULL AND dated_slips.cancelled_at IS NULL "
        "AND dated_slips.transmitted_on IS NULL"
    )


def create_bank_account_periods_view() -> None:
    """Each bank account with the period it pays (SPEC §4.4): from its effective_from (the first
    account of a merchant from the beginning, valid_from NULL) to the next account's (valid_to, NULL
    for the current one). A slip is paid to the account whose period holds its registration."""
    op.execute(
        "CREATE VIEW bank_account_periods AS SELECT bank_account_id, merchant_id, "
        "CASE WHEN ROW_NUMBER() OVER periods = 1 THEN NULL ELSE effective_from END AS valid_from, "
        "LEAD(effective_from) OVER periods AS valid_to FROM bank_accounts "
        "WINDOW periods AS (PARTITION BY merchant_id ORDER BY effective_from)"
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DROP VIEW bank_account_periods")
    op.execute("DROP VIEW untransmitted_slips")
    op.execute("DROP VIEW dated_slips")
    op.drop_table("transmission_holds")
    op.drop_table("transmission_batch_merchants")
    with op.batch_alter_table("slip_reminders", schema=None) as batch_op:
        batch_op.drop_index("ix_slip_reminders_business_date")

    op.drop_table("slip_reminders")
    with op.batch_alter_table("slip_events", schema=None) as batch_op:
        batch_op.drop_index("ix_slip_events_slip_row_id")

    op.drop_table("slip_events")
    op.drop_table("recurring_charge_cycles")
    with op.batch_alter_table("charge_attempts", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_charge_attempts_unsettled",
            postgresql_where=sa.text("outcome IN ('pending', 'unknown')"),
            sqlite_where=sa.text("outcome IN ('pending', 'unknown')"),
        )
        batch_op.drop_index("ix_charge_attempts_idempotency_key")

    op.drop_table("charge_attempts")
    with op.batch_alter_table("slips", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_slips_unconfirmed_by_payment_date",
            postgresql_where=sa.text("confirmed_on IS NULL AND cancelled_at IS NULL AND expired_on IS NULL"),
            sqlite_where=sa.text("confirmed_on IS NULL AND cancelled_at IS NULL AND expired_on IS NULL"),
        )
        batch_op.drop_index("ix_slips_transmitted_on")
        batch_op.drop_index(
            "ix_slips_closing",
            postgresql_where=sa.text("closing_date IS NOT NULL"),
            sqlite_where=sa.text("closing_date IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_slips_unpaid_by_billing_month",
            postgresql_where=sa.text("payment_date IS NULL"),
            sqlite_where=sa.text("payment_date IS NULL"),
        )
        batch_op.drop_index("ix_slips_billing_month")
        batch_op.drop_index(
            "ix_slips_awaiting_closing_date",
            postgresql_where=sa.text("closing_date IS NULL AND confirmed_on IS NOT NULL"),
            sqlite_where=sa.text("closing_date IS NULL AND confirmed_on IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_slips_awaiting_transmission",
            postgresql_where=sa.text("transmitted_on IS NULL AND confirmed_on IS NOT NULL"),
            sqlite_where=sa.text("transmitted_on IS NULL AND confirmed_on IS NOT NULL"),
        )

    op.drop_table("slips")
    with op.batch_alter_table("payout_transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_payout_transfers_payout_date")

    op.drop_table("payout_transfers")
    op.drop_table("payout_transfer_files")
    op.drop_table("payout_closings")
    op.drop_table("payout_statement_lines")
    op.drop_table("transmission_batches")
    op.drop_table("subscriptions")
    op.drop_table("payout_statements")
    op.drop_table("bank_accounts")
    op.drop_table("merchants")
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_mail_outbox_unsent",
            postgresql_where=sa.text("sent_at IS NULL AND gave_up_at IS NULL"),
            sqlite_where=sa.text("sent_at IS NULL AND gave_up_at IS NULL"),
        )

    op.drop_table("mail_outbox")
    op.drop_table("kessai_settings")
    op.drop_table("card_companies")
    op.drop_table("calendar_overrides")
    op.drop_table("business_calendar")
