"""The business database's tables (SQLAlchemy Core), as the migrations build them.

The first block is the integration contract of SPEC §6 (the online side writes these); every
column beyond the contract has a default or is nullable, so a row written with the contract's
columns alone is valid. The rest is the batch's own bookkeeping.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Timestamp(TypeDecorator):
    """A time-zone aware timestamp: timestamptz on PostgreSQL, UTC text on SQLite.

    Naive datetimes are refused: a timestamp without a zone cannot say which day it is in Japan.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value!r} has no time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # written by another client as text
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


# An identity column that autoincrements on both databases (SQLite needs INTEGER PRIMARY KEY).
Identity = BigInteger().with_variant(Integer(), "sqlite")

# -- the integration contract -------------------------------------------------------------------

merchants = Table(
    "merchants",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("name_kana", Text),
    Column("name_en", Text),
    Column("email", Text),
    Column("payout_cycle", String(16), nullable=False, server_default="monthly"),
    Column("fee_rate_bp", Integer, nullable=False, server_default="0"),
    Column("transfer_fee", Integer, nullable=False, server_default="0"),
    Column("minimum_payout", Integer, nullable=False, server_default="0"),
    Column("repayment_mail_enabled", Boolean, nullable=False, server_default=false()),
    Column("created_at", Timestamp, nullable=False, server_default=func.current_timestamp()),
    # How often the merchant gets the stale-slip digest; NULL: the global default
    # (KESSAI_REMINDER_PERIOD, weekly). Migration 0007.
    Column("reminder_period", String(8)),
    # The customer's re-payment path for a failed recurring slip: a link template with {slip_id}
    # and {token} (docs/recurring-charge.md), else the merchant's own instructions. Migration 0013.
    Column("repayment_url_template", Text),
    Column("repayment_instructions", Text),
    CheckConstraint("payout_cycle IN ('monthly', 'twice_monthly')", name="payout_cycle"),
    CheckConstraint("reminder_period IN ('daily', 'weekly', 'monthly')", name="reminder_period"),
    CheckConstraint("fee_rate_bp BETWEEN 0 AND 10000", name="fee_rate_bp"),
    CheckConstraint("transfer_fee >= 0", name="transfer_fee"),
    CheckConstraint("minimum_payout >= 0", name="minimum_payout"),
)

bank_accounts = Table(
    "bank_accounts",
    metadata,
    Column("bank_account_id", Identity, primary_key=True, autoincrement=True),
    Column("merchant_id", ForeignKey("merchants.merchant_id"), nullable=False),
    Column("bank_code", String(4), nullable=False),
    Column("bank_name_kana", Text, nullable=False, server_default=""),
    Column("branch_code", String(3), nullable=False),
    Column("branch_name_kana", Text, nullable=False, server_default=""),
    Column("account_type", String(16), nullable=False, server_default="ordinary"),
    Column("account_number", String(7), nullable=False),
    Column("holder_kana", Text, nullable=False),
    Column("effective_from", Timestamp, nullable=False),
    UniqueConstraint("merchant_id", "effective_from"),
    CheckConstraint("account_type IN ('ordinary', 'checking', 'savings')", name="account_type"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("subscription_id", String(32), primary_key=True),
    Column("merchant_id", ForeignKey("merchants.merchant_id"), nullable=False),
    Column("customer_email", Text),
    Column("card_token", Text, nullable=False),
    Column("card_company", String(16), nullable=False, server_default="visa_master"),
    Column("card_reference", String(32), nullable=False, server_default=""),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("created_at", Timestamp, nullable=False, server_default=func.current_timestamp()),
    # The day the subscription started (its first, online slip); empty: created_at's date in Japan.
    Column("started_on", Date),
    # Numbers the merchant's subscriptions for recurring slip numbers (kessai.recurring.slips).
    Column("subscription_number", BigInteger),
    UniqueConstraint("merchant_id", "subscription_number"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("status IN ('active', 'stopped')", name="status"),
    CheckConstraint("subscription_number BETWEEN 1 AND 99999999999", name="subscription_number"),
)

slips = Table(
    "slips",
    metadata,
    # A surrogate key for joins; the slip number is the merchant's own order number.
    Column("id", Identity, primary_key=True, autoincrement=True),
    Column("slip_id", String(18), nullable=False),
    Column("merchant_id", ForeignKey("merchants.merchant_id"), nullable=False),
    Column("card_company", String(16), nullable=False),
    Column("card_reference", String(32), nullable=False, server_default=""),
    Column("amount", BigInteger, nullable=False),
    Column("payment_date", Date),
    Column("confirmed_on", Date),
    Column("confirmation_registered_at", Timestamp),
    Column("cancelled_at", Timestamp),
    Column("subscription_id", ForeignKey("subscriptions.subscription_id")),
    Column("billing_month", Date),  # first day of the month a recurring slip bills
    Column("transmitted_on", Date),
    # The batch it went out in. Written only by sql/transmission/mark.*.sql, from the batch it joins:
    # no foreign key on PostgreSQL (migration 0003), where checking one per slip slowed the mark.
    Column("transmission_batch_id", Identity),
    # The transmission date the rules gave when it went out: later than that means it went late.
    Column("transmission_due_on", Date),
    Column("closing_date", Date),
    Column("expired_on", Date),
    Column("created_at", Timestamp, nullable=False, server_default=func.current_timestamp()),
    # 支払区分 as the online side set it (migration 0014): lump_sum (一括), installments (分割, with
    # their number), revolving (リボ), bonus (ボーナス). No check: a slip the file cannot carry is held
    # back at transmission (payment_kind_invalid), not refused to the online side.
    Column("payment_kind", String(16), nullable=False, server_default="lump_sum"),
    Column("installments", Integer),
    UniqueConstraint("merchant_id", "slip_id"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint(
        "length(slip_id) BETWEEN 1 AND 18 AND ltrim(slip_id, '0123456789') = ''",
        name="slip_id_digits",
    ),
    CheckConstraint("confirmed_on IS NULL OR cancelled_at IS NULL", name="confirmed_not_cancelled"),
    CheckConstraint("confirmed_on IS NULL OR payment_date IS NOT NULL", name="confirmed_after_paid"),
    CheckConstraint("(confirmed_on IS NULL) = (confirmation_registered_at IS NULL)", name="confirmation_complete"),
    CheckConstraint("confirmed_on IS NULL OR confirmed_on >= payment_date", name="confirmed_on_after_payment"),
    CheckConstraint("(subscription_id IS NULL) = (billing_month IS NULL)", name="recurring_has_billing_month"),
)

# The batch queries each read a small, shrinking part of the slips: index just that part.
Index(
    "ix_slips_awaiting_transmission",
    slips.c.confirmed_on,
    postgresql_where=text("transmitted_on IS NULL AND confirmed_on IS NOT NULL"),
    sqlite_where=text("transmitted_on IS NULL AND confirmed_on IS NOT NULL"),
)
# With the row id, the stale-slip claim reads this index alone (an index-only scan).
Index(
    "ix_slips_unconfirmed_by_payment_date",
    slips.c.payment_date,
    slips.c.id,
    postgresql_where=text("confirmed_on IS NULL AND cancelled_at IS NULL AND expired_on IS NULL"),
    sqlite_where=text("confirmed_on IS NULL AND cancelled_at IS NULL AND expired_on IS NULL"),
)
# The open slips of each merchant by payment date (migration 0007): whether a merchant has an open
# stale slip, and which, for its stale-slip digest, without reading its confirmed slips.
Index(
    "ix_slips_open_by_merchant",
    slips.c.merchant_id,
    slips.c.payment_date,
    postgresql_where=text("confirmed_on IS NULL AND cancelled_at IS NULL AND expired_on IS NULL"),
    sqlite_where=text("confirmed_on IS NULL AND cancelled_at IS NULL AND expired_on IS NULL"),
)
# The slips of a closing; without the unclosed ones, so that finding the few confirmed slips
# without a closing date goes by ix_slips_awaiting_closing_date.
Index(
    "ix_slips_closing",
    slips.c.closing_date,
    slips.c.merchant_id,
    postgresql_where=text("closing_date IS NOT NULL"),
    sqlite_where=text("closing_date IS NOT NULL"),
)
Index("ix_slips_transmitted_on", slips.c.transmitted_on)
# A slip by its number alone, the console's search (migration 0011).
Index("ix_slips_slip_id", slips.c.slip_id)
# The recurring slips' columns, indexed without the one-off slips (migration 0004): a slip
# written or updated touches two indexes fewer. One slip per subscription and billing month: a
# partial unique index on PostgreSQL; SQLite keeps the table's unique constraint of 0001.
Index(
    "ix_slips_billing_month",
    slips.c.billing_month,
    postgresql_where=text("billing_month IS NOT NULL"),
    sqlite_where=text("billing_month IS NOT NULL"),
)
Index(
    "uq_slips_subscription_id_billing_month",
    slips.c.subscription_id,
    slips.c.billing_month,
    unique=True,
    postgresql_where=text("subscription_id IS NOT NULL"),
)
# The recurring slips still to charge, walked in row order a batch at a time.
Index(
    "ix_slips_unpaid_by_billing_month",
    slips.c.billing_month,
    slips.c.id,
    postgresql_where=text("payment_date IS NULL"),
    sqlite_where=text("payment_date IS NULL"),
)
Index(
    "ix_slips_awaiting_closing_date",
    slips.c.id,
    postgresql_where=text("closing_date IS NULL AND confirmed_on IS NOT NULL"),
    sqlite_where=text("closing_date IS NULL AND confirmed_on IS NOT NULL"),
)

payout_statements = Table(
    "payout_statements",
    metadata,
    Column("statement_id", Identity, primary_key=True, autoincrement=True),
    Column("merchant_id", ForeignKey("merchants.merchant_id"), nullable=False),
    Column("closing_date", Date, nullable=False),
    Column("payout_date", Date, nullable=False),
    Column("slip_count", Integer, nullable=False),
    Column("gross_amount", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("transfer_fee", BigInteger, nullable=False),
    Column("net_amount", BigInteger, nullable=False),
    Column("carried_in", BigInteger, nullable=False, server_default="0"),
    Column("carried_forward", BigInteger, nullable=False, server_default="0"),  # < 0: a debt
    Column("created_at", Timestamp, nullable=False, server_default=func.current_timestamp()),
    # The sum of the payout_adjustments this statement took (signed).
    Column("adjustment_amount", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("merchant_id", "closing_date"),
)
# A closing's statements and a payout date's, for the console's Today page (migration 0011).
Index("ix_payout_statements_closing_date", payout_statements.c.closing_date)
Index("ix_payout_statements_payout_date", payout_statements.c.payout_date)

mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("mail_id", Identity, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),
    Column("dedupe_key", String(200), unique=True),
    Column("recipient", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("attachment_name", Text),
    Column("attachment_content", Text),
    Column("created_at", Timestamp, nullable=False, server_default=func.current_timestamp()),
    Column("sent_at", Timestamp),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Timestamp),
    Column("last_error", Text),
    Column("gave_up_at", Timestamp),
)
Index(
    "ix_mail_outbox_unsent",
    mail_outbox.c.mail_id,
    postgresql_where=text("sent_at IS NULL AND gave_up_at IS NULL"),
    sqlite_where=text("sent_at IS NULL AND gave_up_at IS NULL"),
)
# The mails given up, for the console (migration 0011): a handful among every mail written.
Index(
    "ix_mail_outbox_gave_up",
    mail_outbox.c.gave_up_at,
    postgresql_where=text("gave_up_at IS NOT NULL"),
    sqlite_where=text("gave_up_at IS NOT NULL"),
)

# -- the batch's own tables ---------------------------------------------------------------------

card_companies = Table(
    "card_companies",
    metadata,
    Column("card_company", String(16), primary_key=True),
    Column("name", Text, nullable=False),
    Column("file_code", String(8), nullable=False, unique=True),
    # The code names the company's transmission file: letters and digits only, so no name leaves
    # its folder (migration 0008; each database says it its own way).
    CheckConstraint("file_code ~ '^[A-Za-z0-9]+$'", name="file_code").ddl_if(dialect="postgresql"),
    CheckConstraint("file_code <> '' AND file_code NOT GLOB '*[^A-Za-z0-9]*'", name="file_code").ddl_if(
        dialect="sqlite"
    ),
    # What the company accepts of the store names in a record, in characters (migration 0014).
    Column("name_kana_max_length", Integer, nullable=False, server_default="30"),
    Column("name_en_max_length", Integer, nullable=False, server_default="25"),
    # Whether a slip goes out only with its merchant's 加盟店番号 for this company (else held back).
    Column("merchant_number_required", Boolean, nullable=False, server_default=false()),
    # Whether the company answers each file (受領結果) and a slip is paid only once it accepted it.
    Column("requires_acknowledgement", Boolean, nullable=False, server_default=false()),
)

# Each merchant's 加盟店番号 at each card company (python -m kessai merchant-number set).
merchant_card_numbers = Table(
    "merchant_card_numbers",
    metadata,
    Column("merchant_id", ForeignKey("merchants.merchant_id"), primary_key=True),
    Column("card_company", ForeignKey("card_companies.card_company"), primary_key=True),
    Column("merchant_number", String(16), nullable=False),
)

# The store names as the transmission files write them (kessai.transmission.store_names), worked out once per
# merchant by each claim; a problem says why a name cannot be made valid (then NULL name).
merchant_file_names = Table(
    "merchant_file_names",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("name_kana", Text),
    Column("name_en", Text),
    Column("kana_problem", Text),
    Column("en_problem", Text),
    # Of the names as typed (name, name_kana, name_en): a store-change notice is sent once per value.
    Column("names_sha256", String(64), nullable=False),
)

# The store-change notices (加盟店情報変更): a merchant whose names changed since they last went to a
# card company is told to it once, with the day the change takes effect (kessai.transmission.change_notices).
merchant_change_notices = Table(
    "merchant_change_notices",
    metadata,
    Column("merchant_id", ForeignKey("merchants.merchant_id"), primary_key=True),
    Column("card_company", ForeignKey("card_companies.card_company"), primary_key=True),
    Column("names_sha256", String(64), primary_key=True),
    Column("effective_on", Date, nullable=False, index=True),
    # What the notice says, kept so a rebuilt file says the same.
    Column("name", Text, nullable=False),
    Column("name_kana", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    Column("merchant_number", Text, nullable=False),
)

transmission_batches = Table(
    "transmission_batches",
    metadata,
    Column("batch_id", Identity, primary_key=True, autoincrement=True),
    Column("business_date", Date, nullable=False),
    Column("card_company", ForeignKey("card_companies.card_company"), nullable=False),
    Column("file_name", Text, nullable=False),
    Column("record_count", Integer, nullable=False),
    Column("amount_total", BigInteger, nullable=False),
    Column("late_count", Integer, nullable=False, server_default="0"),
    Column("sha256", String(64)),
    Column("created_at", Timestamp, nullable=False, server_default=func.current_timestamp()),
    # What the file's header says, kept so that a rebuild writes the same bytes (kessai.transmission.daily).
    Column("sequence_number", Integer),  # the n-th file to this card company
    Column("sender_code", String(16)),
    Column("file_code", String(8)),
    UniqueConstraint("business_date", "card_company"),
    UniqueConstraint("card_company", "sequence_number"),
)

# The store names a batch's file carries, as they were when it went out.
transmission_batch_merchants = Table(
    "transmission_batch_merchants",
    metadata,
    Column("batch_id", ForeignKey("transmission_batches.batch_id"), primary_key=True),
    Column("merchant_id", ForeignKey("merchants.merchant_id"), primary_key=True),
    Column("name", Text, nullable=False),
    Column("name_kana", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    # As the file writes them, and the merchant's 加盟店番号 at the batch's company (migration 0014;
    # NULL in batches written before it).
    Column("file_name_kana", Text),
    Column("file_name_en", Text),
    Column("merchant_number", Text),
)

# What a card company answered for each slip of a batch (kessai.transmission.acknowledgements, migration 0014):
# one answer per batch and slip, so a file read twice changes nothing.
transmission_acknowledgements = Table(
    "transmission_acknowledgements",
    metadata,
    Column("batch_id", ForeignKey("transmission_batches.batch_id"), primary_key=True),
    Column("slip_row_id", ForeignKey("slips.id"), primary_key=True, index=True),
    Column("result", String(8), nullable=False),
    Column("code", String(16), nullable=False, server_default=""),
    Column("received_on", Date, nullable=False),  # the business day it was read: the closings read it
    Column("source_file", Text, nullable=False),
    CheckConstraint("result IN ('accepted', 'rejected')", name="result"),
)

# Due slips a transmission run held back, and why; they go out on a later run once fixed.
transmission_holds = Table(
    "transmission_holds",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("slip_row_id", ForeignKey("slips.id"), primary_key=True),
    Column("reason", String(32), primary_key=True),
    # The reasons of kessai.transmission.daily.HOLD_REASONS (migrations 0009, 0014).
    CheckConstraint(
        "reason IN ('unknown_card_company', 'merchant_without_store_names', 'amount_out_of_range', "
        "'store_name_control_character', 'merchant_id_control_character', "
        "'card_company_file_code_invalid', 'merchant_without_card_number', 'store_name_kana_invalid', "
        "'store_name_en_invalid', 'store_name_too_long', 'payment_kind_invalid')",
        name="reason",
    ),
)

payout_statement_lines = Table(
    "payout_statement_lines",
    metadata,
    Column("statement_id", ForeignKey("payout_statements.statement_id"), primary_key=True),
    Column("card_company", String(16), primary_key=True),
    Column("bank_account_id", ForeignKey("bank_accounts.bank_account_id"), primary_key=True),
    Column("slip_count", Integer, nullable=False),
    Column("gross_amount", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False, server_default="0"),  # the statement's fee is their sum
    # Of the line's slips, those an earlier closing held back (not transmitted in time): paid late.
    Column("held_back_count", Integer, nullable=False, server_default="0"),
    Column("held_back_amount", BigInteger, nullable=False, server_default="0"),
)

# The slips a closing held back because they had not gone to their card company by the closing
# date (docs/payout-closing.md, "Pay only what went out"), one row per reason (a transmission
# hold's reasons, open-ended, or not_transmitted): they moved to the merchant's next closing.
payout_held_slips = Table(
    "payout_held_slips",
    metadata,
    Column("closing_date", Date, primary_key=True),
    Column("slip_row_id", ForeignKey("slips.id"), primary_key=True),
    Column("reason", String(64), primary_key=True),
)
Index("ix_payout_held_slips_slip_row_id", payout_held_slips.c.slip_row_id)

# Where the books start: the first closing kessai pays; the slips of earlier closing dates were
# paid by the system before it. At most one row (python -m kessai books-start).
payout_books_start = Table(
    "payout_books_start",
    metadata,
    Column("start_date", Date, primary_key=True),
    Column("declared_at", Timestamp, nullable=False),
    Column("declared_by", Text, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
)

# One row per closing date that has run: closings run in order (carried balances flow forward).
payout_closings = Table(
    "payout_closings",
    metadata,
    Column("closing_date", Date, primary_key=True),
    Column("closed_at", Timestamp, nullable=False, server_default=func.current_timestamp()),
)

# A Zengin 総合振込 file: one per payout date, a later one only for transfers added after it.
payout_transfer_files = Table(
    "payout_transfer_files",
    metadata,
    Column("transfer_file_id", Identity, primary_key=True, autoincrement=True),
    Column("payout_date", Date, nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("file_name", Text, nullable=False),
    Column("record_count", Integer, nullable=False),
    Column("amount_total", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False, server_default=func.current_timestamp()),
    UniqueConstraint("payout_date", "sequence"),
)

# What a paid statement transfers to each bank account (two after an account change).
payout_transfers = Table(
    "payout_transfers",
    metadata,
    Column("statement_id", ForeignKey("payout_statements.statement_id"), primary_key=True),
    Column("bank_account_id", ForeignKey("bank_accounts.bank_account_id"), primary_key=True),
    Column("payout_date", Date, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("transfer_file_id", ForeignKey("payout_transfer_files.transfer_file_id")),
    # What the file said, set when the transfer is filed, so a file re-created later has the same
    # bytes whatever the bank master says by then: the names from the bank master and the
    # 新規コード (1: the first transfer to the merchant, 2: the first to a changed account, 0: other).
    Column("bank_name_kana", Text),
    Column("branch_name_kana", Text),
    Column("new_code", String(1)),
    CheckConstraint("amount > 0", name="amount_positive"),
)
Index("ix_payout_transfers_payout_date", payout_transfers.c.payout_date)
# The 新規コード's look-up: has this account been paid before (kessai.payout.transfer_files).
Index("ix_payout_transfers_bank_account_id", payout_transfers.c.bank_account_id)

# Transfers a transfer-file run of business_date left out of its file: slips behind them had not
# been transmitted (docs/zengin-transfer-file.md). A later run files them once the slips went out.
payout_withheld_transfers = Table(
    "payout_withheld_transfers",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("statement_id", ForeignKey("payout_statements.statement_id"), primary_key=True),
    Column("bank_account_id", ForeignKey("bank_accounts.bank_account_id"), primary_key=True),
    Column("slip_count", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("reason", String(64), nullable=False),
)

# Transfers the bank returned (振込不能) or recalled (組戻し), read from its result files
# (kessai.payout.transfer_returns): a transfer comes back at most once, whatever file says it again.
payout_transfer_returns = Table(
    "payout_transfer_returns",
    metadata,
    Column("transfer_return_id", Identity, primary_key=True, autoincrement=True),
    Column("statement_id", Identity, nullable=False),
    Column("bank_account_id", Identity, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("result", String(16), nullable=False),  # not_delivered (振込不能) or recalled (組戻し)
    Column("reason_code", String(8), nullable=False, server_default=""),  # the bank's 不能事由コード
    Column("result_file", Text, nullable=False),
    Column("result_file_sha256", String(64), nullable=False),
    Column("return_fee", BigInteger, nullable=False, server_default="0"),
    Column("registered_at", Timestamp, nullable=False),
    Column("registered_on", Date, nullable=False),  # registered_at's date in Japan
    ForeignKeyConstraint(
        ["statement_id", "bank_account_id"], ["payout_transfers.statement_id", "payout_transfers.bank_account_id"]
    ),
    UniqueConstraint("statement_id", "bank_account_id"),
    CheckConstraint("result IN ('not_delivered', 'recalled')", name="result"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("return_fee >= 0", name="return_fee"),
)
Index("ix_payout_transfer_returns_bank_account_id", payout_transfer_returns.c.bank_account_id)

# Signed amounts a merchant's next closing takes (docs/payout-closing.md, "Adjustments"): the first
# closing of its cycle on or after effective_on; closing_date says which took it (NULL: none yet).
ADJUSTMENT_KINDS = ("chargeback", "reversal", "correction", "returned_transfer", "return_fee")
payout_adjustments = Table(
    "payout_adjustments",
    metadata,
    Column("adjustment_id", Identity, primary_key=True, autoincrement=True),
    Column("merchant_id", ForeignKey("merchants.merchant_id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("effective_on", Date, nullable=False),  # created_at's date in Japan
    Column("closing_date", Date),
    Column("transfer_return_id", ForeignKey("payout_transfer_returns.transfer_return_id")),
    UniqueConstraint("transfer_return_id", "kind"),
    CheckConstraint("amount <> 0", name="amount_not_zero"),
    CheckConstraint("kind IN ('chargeback', 'reversal', 'correction', 'returned_transfer', 'return_fee')", name="kind"),
)
Index(
    "ix_payout_adjustments_merchant_id_closing_date",
    payout_adjustments.c.merchant_id,
    payout_adjustments.c.closing_date,
)

charge_attempts = Table(
    "charge_attempts",
    metadata,
    Column("attempt_id", Identity, primary_key=True, autoincrement=True),
    Column("slip_row_id", ForeignKey("slips.id"), nullable=False),
    Column("billing_month", Date, nullable=False),
    Column("charge_date", Date, nullable=False),
    Column("attempt_number", Integer, nullable=False),
    Column("idempotency_key", String(80), nullable=False),
    Column("outcome", String(16), nullable=False, server_default="pending"),
    Column("reason", Text),
    Column("gateway_charge_id", Text),
    Column("started_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp),
    Column("resolved_at", Timestamp),  # when a lookup by the idempotency key settled the outcome
    UniqueConstraint("slip_row_id", "attempt_number"),
    CheckConstraint(
        "outcome IN ('pending', 'succeeded', 'declined', 'error', 'unknown', 'not_executed')",
        name="outcome",
    ),
)
Index("ix_charge_attempts_idempotency_key", charge_attempts.c.idempotency_key)
# A charge day's attempts by outcome, for the console's Today page (migration 0011).
Index("ix_charge_attempts_charge_date", charge_attempts.c.charge_date, charge_attempts.c.outcome)
# The attempts a charge run must settle by lookup before charging anything again.
Index(
    "ix_charge_attempts_unsettled",
    charge_attempts.c.billing_month,
    charge_attempts.c.attempt_id,
    postgresql_where=text("outcome IN ('pending', 'unknown')"),
    sqlite_where=text("outcome IN ('pending', 'unknown')"),
)

# One row per billing month whose recurring charge is over: its failures were notified, and no
# slip of that month is charged again.
recurring_charge_cycles = Table(
    "recurring_charge_cycles",
    metadata,
    Column("billing_month", Date, primary_key=True),
    Column("charge_date", Date, nullable=False),
    Column("slip_count", Integer, nullable=False),
    Column("paid_count", Integer, nullable=False),
    Column("paid_amount", BigInteger, nullable=False),
    Column("failed_count", Integer, nullable=False),
    Column("failed_amount", BigInteger, nullable=False),
    Column("closed_at", Timestamp, nullable=False),
)

# An expired slip, from the run that closed it (business_date), and the digest mail that listed it
# (mail_id, NULL until the merchant's next digest). Rows of reason stale and final_notice are
# history, from before the digests (one mail per reason).
slip_reminders = Table(
    "slip_reminders",
    metadata,
    Column("slip_row_id", ForeignKey("slips.id"), primary_key=True),
    Column("reason", String(16), primary_key=True),  # expired (stale, final_notice: history)
    Column("business_date", Date, nullable=False),
    Column("mail_id", ForeignKey("mail_outbox.mail_id")),
    CheckConstraint("reason IN ('stale', 'final_notice', 'expired')", name="reason"),
)
# What one run closed (the operators' questions about a run).
Index("ix_slip_reminders_business_date", slip_reminders.c.business_date, slip_reminders.c.reason)
# The expired slips no digest has listed yet (migration 0007): a handful, found without reading
# every reminder ever written.
Index(
    "ix_slip_reminders_untold",
    slip_reminders.c.slip_row_id,
    postgresql_where=text("mail_id IS NULL"),
    sqlite_where=text("mail_id IS NULL"),
)

# One stale-slip digest per merchant and period (migration 0007): claimed by the first run of the
# period that finds the merchant something to tell, in the transaction that writes its mail.
stale_slip_digests = Table(
    "stale_slip_digests",
    metadata,
    Column("merchant_id", ForeignKey("merchants.merchant_id"), primary_key=True),
    # 2027-01-18 (daily), 2027-W03 (weekly, ISO week), 2027-01 (monthly)
    Column("period", String(10), primary_key=True),
    Column("as_of", Date, nullable=False),  # the period's first business day: the day the digest states
    Column("paid_through", Date, nullable=False),  # stale as of that day: paid on or before this
    Column("business_date", Date, nullable=False),  # the run that wrote it
    Column("mail_id", ForeignKey("mail_outbox.mail_id")),
    Column("open_slips", Integer, nullable=False, server_default="0"),
    Column("open_amount", BigInteger, nullable=False, server_default="0"),
    Column("final_notice_slips", Integer, nullable=False, server_default="0"),
    Column("expired_slips", Integer, nullable=False, server_default="0"),
)
Index("ix_stale_slip_digests_business_date", stale_slip_digests.c.business_date, stale_slip_digests.c.merchant_id)

slip_events = Table(
    "slip_events",
    metadata,
    Column("event_id", Identity, primary_key=True, autoincrement=True),
    Column("slip_row_id", ForeignKey("slips.id"), nullable=False),
    Column("event", String(24), nullable=False),
    Column("business_date", Date),
    Column("detail", Text),
    Column("occurred_at", Timestamp, nullable=False, server_default=func.current_timestamp()),
)
Index("ix_slip_events_slip_row_id", slip_events.c.slip_row_id)

calendar_overrides = Table(
    "calendar_overrides",
    metadata,
    Column("day", Date, primary_key=True),
    Column("is_open", Boolean, nullable=False),  # false: declared closed; true: re-opened
    Column("reason", Text, nullable=False, server_default=""),
    Column("created_at", Timestamp, nullable=False, server_default=func.current_timestamp()),
)

business_calendar = Table(
    "business_calendar",
    metadata,
    Column("day", Date, primary_key=True),
    Column("is_business_day", Boolean, nullable=False),
    Column("holiday_name", Text),
    Column("next_business_day", Date),
    Column("business_day_on_or_after", Date),
    Column("previous_business_day", Date),
    Column("monthly_closing_date", Date, nullable=False),
    Column("twice_monthly_closing_date", Date, nullable=False),
)

# The 全銀 bank master (docs/zengin-transfer-file.md, "The bank master"): banks and branches as
# `python -m kessai bank-master update` last loaded them. A bank or branch the source no longer
# lists stays, with the version and date it went (merged away or closed), so an account naming it
# is refused by name rather than as unknown.
bank_master_versions = Table(
    "bank_master_versions",
    metadata,
    Column("version_id", Identity, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),  # zengin-code, or file:<name>
    Column("version", Text, nullable=False),
    Column("published_on", Date),  # the date the source gives its data
    Column("sha256", String(64), nullable=False),  # of the source's rows, to tell a changed source
    Column("loaded_at", Timestamp, nullable=False),
    Column("bank_count", Integer, nullable=False),
    Column("branch_count", Integer, nullable=False),
)

master_banks = Table(
    "bank_master_banks",
    metadata,
    Column("bank_code", String(4), primary_key=True),
    Column("name", Text, nullable=False),
    Column("kana", Text, nullable=False),
    Column("removed_in", Text),  # the version that no longer lists it
    Column("removed_on", Date),
)

master_branches = Table(
    "bank_master_branches",
    metadata,
    Column("bank_code", String(4), primary_key=True),
    Column("branch_code", String(3), primary_key=True),
    Column("name", Text, nullable=False),
    Column("kana", Text, nullable=False),
    Column("removed_in", Text),
    Column("removed_on", Date),
)

settings = Table(
    "kessai_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# -- card authorizations (与信) --------------------------------------------------------------------

# The holds on the customer's credit line behind a slip (docs/card-gateway.md, "Authorizations"):
# the first written when the slip is authorized, one more for each increase of its amount (the
# difference). A slip without a row has no authorization on record (older data, bulk loads).
AUTHORIZATION_STATES = ("pending", "held", "declined", "captured", "voided", "expired", "void_refused")
slip_authorizations = Table(
    "slip_authorizations",
    metadata,
    Column("authorization_id", Identity, primary_key=True, autoincrement=True),
    Column("slip_row_id", ForeignKey("slips.id"), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    # Of the amount, what voids were asked to release (pending, voided or refused).
    Column("voided_amount", BigInteger, nullable=False, server_default="0"),
    Column("card_token", Text),
    Column("approval_number", String(16)),  # 承認番号
    Column("transaction_id", String(64)),
    Column("authorized_at", Timestamp),
    Column("state", String(16), nullable=False, server_default="held"),
    Column("idempotency_key", String(80), nullable=False, unique=True),
    Column("reason", String(64)),  # the decline code of a declined one
    UniqueConstraint("slip_row_id", "sequence"),
    CheckConstraint("amount > 0 AND voided_amount BETWEEN 0 AND amount", name="amounts"),
    CheckConstraint("state IN (" + ", ".join(f"'{s}'" for s in AUTHORIZATION_STATES) + ")", name="state"),
)
Index(
    "ix_slip_authorizations_held",
    slip_authorizations.c.slip_row_id,
    postgresql_where=text("state = 'held'"),
    sqlite_where=text("state = 'held'"),
)

# Each void (取消) asked of the card gateway, with its own idempotency key: a full one when a slip
# is cancelled or expires, a partial one when its amount decreases. 'pending' until the gateway
# answers; the daily stale-slip run asks again for any still pending.
VOID_OUTCOMES = ("pending", "voided", "refused")
VOID_PURPOSES = ("cancel", "decrease", "expiry", "unused")
authorization_voids = Table(
    "authorization_voids",
    metadata,
    Column("void_id", Identity, primary_key=True, autoincrement=True),
    Column("authorization_id", ForeignKey("slip_authorizations.authorization_id"), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("idempotency_key", String(80), nullable=False, unique=True),
    Column("business_date", Date, nullable=False),  # the day in Japan it was asked for
    Column("outcome", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("reason", String(64)),  # the last fault, or the card side's refusal code
    Column("settled_at", Timestamp),
    Column("merchant_mail_id", ForeignKey("mail_outbox.mail_id")),  # the merchant told of a refusal
    Column("operator_mail_id", ForeignKey("mail_outbox.mail_id")),  # the operators told of a refusal
    UniqueConstraint("authorization_id", "sequence"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("outcome IN (" + ", ".join(f"'{o}'" for o in VOID_OUTCOMES) + ")", name="outcome"),
    CheckConstraint("purpose IN (" + ", ".join(f"'{p}'" for p in VOID_PURPOSES) + ")", name="purpose"),
)
Index(
    "ix_authorization_voids_pending",
    authorization_voids.c.void_id,
    postgresql_where=text("outcome = 'pending'"),
    sqlite_where=text("outcome = 'pending'"),
)
Index(
    "ix_authorization_voids_untold",
    authorization_voids.c.void_id,
    postgresql_where=text("outcome = 'refused' AND (merchant_mail_id IS NULL OR operator_mail_id IS NULL)"),
    sqlite_where=text("outcome = 'refused' AND (merchant_mail_id IS NULL OR operator_mail_id IS NULL)"),
)
