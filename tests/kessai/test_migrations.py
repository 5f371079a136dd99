import ast
import os
import uuid
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from kessai.db.database import make_engine
from kessai.db.migrations_runner import MIGRATIONS_DIR, alembic_config, current_revision, head_revision, upgrade
from kessai.db.schema import metadata

CONTRACT = {
    "merchants": {"merchant_id", "name", "name_kana", "name_en", "email", "payout_cycle"},
    "bank_accounts": {
        "merchant_id",
        "bank_code",
        "branch_code",
        "account_type",
        "account_number",
        "holder_kana",
        "effective_from",
    },
    "subscriptions": {"subscription_id", "merchant_id", "customer_email", "card_token", "amount", "status"},
    "slips": {
        "slip_id",
        "merchant_id",
        "card_company",
        "amount",
        "payment_date",
        "confirmed_on",
        "confirmation_registered_at",
        "cancelled_at",
        "subscription_id",
        "transmitted_on",
        "closing_date",
    },
    "payout_statements": {
        "merchant_id",
        "closing_date",
        "payout_date",
        "slip_count",
        "gross_amount",
        "fee",
        "transfer_fee",
        "net_amount",
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


# -- 0006: card_companies.file_code is letters and digits only ---------------------------------


@pytest.fixture
def empty_database(dialect, tmp_path):
    """An engine on a database with no schema yet, on SQLite and PostgreSQL."""
    if dialect == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
        yield engine
        engine.dispose()
        return
    server = (os.environ.get("KESSAI_TEST_POSTGRES_URL") or "").replace("postgresql://", "postgresql+psycopg://", 1)
    if not server:
        pytest.skip("KESSAI_TEST_POSTGRES_URL is not set")
    name = f"kessai_empty_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(server.rsplit("/", 1)[0] + "/" + name)
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


BATCH = (
    "INSERT INTO transmission_batches (business_date, card_company, file_name, record_count, amount_total, "
    "late_count, sequence_number, sender_code, file_code) "
    "VALUES ('2027-01-04', 'unionpay', 'UP1_20270104.csv', 1, 500, 0, 1, 'KESSAI', 'UP1')"
)


def test_0006_keeps_the_card_companies_and_their_batches_and_refuses_bad_codes_after(empty_database):
    engine = empty_database
    assert upgrade(engine, "0004") == (None, "0004")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO card_companies VALUES ('unionpay', 'UnionPay', 'UP1')"))
        connection.execute(text(BATCH))  # a batch pointing at the company (a foreign key)

    assert upgrade(engine) == ("0004", head_revision())
    with engine.connect() as connection:
        assert connection.execute(
            text("SELECT card_company, file_code FROM card_companies ORDER BY card_company")
        ).all() == [
            ("amex", "AX"),
            ("diners", "DC"),
            ("jcb", "JC"),
            ("unionpay", "UP1"),
            ("visa_master", "VM"),
        ]
        assert connection.execute(text("SELECT card_company FROM transmission_batches")).scalar_one() == "unionpay"
        if engine.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # on again after the migration
    with pytest.raises(IntegrityError, match="ck_card_companies_file_code"), engine.begin() as connection:
        connection.execute(text("UPDATE card_companies SET file_code = '../x' WHERE card_company = 'jcb'"))
    with pytest.raises(IntegrityError), engine.begin() as connection:  # the foreign key still holds
        connection.execute(text(BATCH.replace("'unionpay'", "'nobody'")))


def test_0006_stops_naming_an_existing_bad_code_and_changes_nothing(empty_database):
    engine = empty_database
    upgrade(engine, "0005")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO card_companies VALUES ('odd', 'Odd', '../x')"))
    with pytest.raises(RuntimeError, match=r"letters and digits only; these are not: odd \('../x'\)"):
        upgrade(engine)
    assert current_revision(engine) == "0005"
    with engine.begin() as connection:
        connection.execute(text("UPDATE card_companies SET file_code = 'OD' WHERE card_company = 'odd'"))
    assert upgrade(engine) == ("0005", head_revision())


def test_0006_downgrades(empty_database):
    engine = empty_database
    upgrade(engine)
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0004")
    with engine.begin() as connection:
        connection.execute(text("UPDATE card_companies SET file_code = '../x' WHERE card_company = 'jcb'"))


# -- 0008: payout adjustments and returned transfers ---------------------------------------------


def test_0008_keeps_the_statements_and_downgrades(empty_database):
    engine = empty_database
    upgrade(engine, "0007")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO merchants (merchant_id, name) VALUES ('M1', 'M1')"))
        connection.execute(
            text(
                "INSERT INTO payout_statements (merchant_id, closing_date, payout_date, slip_count, gross_amount, fee, "
                "transfer_fee, net_amount) VALUES ('M1', '2027-01-31', '2027-02-25', 1, 1000, 0, 0, 1000)"
            )
        )
    assert upgrade(engine) == ("0007", head_revision())
    with engine.begin() as connection:
        assert connection.execute(text("SELECT net_amount, adjustment_amount FROM payout_statements")).one() == (
            1000,
            0,
        )
        connection.execute(
            text(
                "INSERT INTO payout_adjustments (merchant_id, amount, kind, reason, created_by, created_at, effective_on) "
                "VALUES ('M1', -500, 'chargeback', 'r', 'me', '2027-02-10 01:00:00+00:00', '2027-02-10')"
            )
        )
    for kind, amount in (("gift", -1), ("chargeback", 0)):  # the CHECKs hold on both databases
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO payout_adjustments (merchant_id, amount, kind, reason, created_by, created_at, effective_on) "
                    f"VALUES ('M1', {amount}, '{kind}', 'r', 'me', '2027-02-10 01:00:00+00:00', '2027-02-10')"
                )
            )
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0007")
    assert current_revision(engine) == "0007"
    with engine.connect() as connection:
        assert connection.execute(text("SELECT net_amount FROM payout_statements")).scalar_one() == 1000


# -- 0010: the bank master ----------------------------------------------------------------------


def test_0010_adds_the_bank_master_and_the_filed_names_and_downgrades(empty_database):
    engine = empty_database
    upgrade(engine, "0009")
    upgrade(engine)
    inspector = inspect(engine)
    assert {"bank_master_versions", "bank_master_banks", "bank_master_branches"} <= set(inspector.get_table_names())
    assert {"bank_name_kana", "branch_name_kana", "new_code"} <= {
        c["name"] for c in inspector.get_columns("payout_transfers")
    }
    assert "ix_payout_transfers_bank_account_id" in {i["name"] for i in inspector.get_indexes("payout_transfers")}
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0009")
    inspector = inspect(engine)
    assert "bank_master_branches" not in inspector.get_table_names()
    assert "new_code" not in {c["name"] for c in inspector.get_columns("payout_transfers")}
    assert upgrade(engine) == ("0009", head_revision())


# -- the migrations against the models ---------------------------------------------------------


# What SQLite keeps by design where PostgreSQL changed (each revision says why): the foreign key of
# slips.transmission_batch_id (0003) and the one-slip-a-month rule as a table constraint rather than
# a partial unique index (0004).
SQLITE_KEEPS = {"fk_slips_transmission_batch_id_transmission_batches", "uq_slips_subscription_id_billing_month"}


def compared_on(dialect: str):
    def include_object(obj, name, type_, reflected, compare_to) -> bool:
        return not (dialect == "sqlite" and name in SQLITE_KEEPS)

    def compare_server_default(
        context, inspected_column, metadata_column, inspected, metadata, rendered
    ) -> bool | None:
        # Alembic renders the models' DEFAULT '' as an empty string, which it then takes for no
        # default against SQLite's reflected ('') (PostgreSQL compares it): an empty-string default
        # is taken as equal there. Every other default is compared by Alembic itself.
        if dialect == "sqlite" and inspected in ("''", "('')") and rendered == "":
            return False
        return None

    return {"compare_type": True, "compare_server_default": compare_server_default, "include_object": include_object}


def test_upgrading_an_empty_database_gives_the_schema_the_models_declare(empty_database):
    """Autogenerate's comparison finds nothing to change between head and kessai.db.schema: the
    migrations and the models describe one schema (tables, columns, types, nullability, server
    defaults, keys, constraints and indexes)."""
    engine = empty_database
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=compared_on(engine.dialect.name))
        assert compare_metadata(context, metadata) == []


MIGRATION_FILES = sorted((MIGRATIONS_DIR / "versions").glob("*.py"))


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_every_revision_is_checked_for_imports():
    assert len(MIGRATION_FILES) == len(list(ScriptDirectory.from_config(alembic_config()).walk_revisions()))


@pytest.mark.parametrize("path", MIGRATION_FILES, ids=lambda path: path.stem)
def test_no_migration_imports_the_package(path):
    """A migration must keep creating the schema of its revision: importing live package code would
    let a later change of the package change what an old migration does."""
    assert not {module for module in imported_modules(path) if module.split(".")[0] == "kessai"}
