from sqlalchemy import inspect

from kessai.migrations_runner import current_revision, head_revision, upgrade

CONTRACT = {
    "merchants": {"merchant_id", "name", "name_kana", "name_en", "email", "payout_cycle"},
    "bank_accounts": {
        "merchant_id", "bank_code", "branch_code", "account_type", "account_number", "holder_kana", "effective_from",
    },
    "subscriptions": {"subscription_id", "merchant_id", "customer_email", "card_token", "amount", "status"},
    "slips": {
        "slip_id", "merchant_id", "card_company", "amount", "payment_date", "confirmed_on",
        "confirmation_registered_at", "cancelled_at", "subscription_id", "transmitted_on", "closing_date",
    },
    "payout_statements": {
        "merchant_id", "closing_date", "payout_date", "slip_count", "gross_amount", "fee", "transfer_fee", "net_amount",
    },
    "mail_outbox": {"kind", "recipient", "subject", "body", "sent_at"},
}


def test_migrated_database_has_the_contract_tables_and_columns(engine):
    inspector = inspect(engine)
    for table, columns in CONTRACT.items():
        assert columns <= {c["name"] for c in inspector.get_columns(table)}, table


def test_upgrade_again_is_a_no_op(engine):
    assert current_revision(engine) == head_revision()
    assert upgrade(engine) == (head_revision(), head_revision())
