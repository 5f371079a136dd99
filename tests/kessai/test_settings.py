"""The settings (kessai.settings): the one reader of the environment, every variable read and
documented, bad values refused in one line, and a Settings handed to a job is what the job uses,
whatever the environment says."""

from __future__ import annotations

import re
from argparse import Namespace
from dataclasses import fields
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from kessai import settings as settings_module
from kessai.calendar.run_dates import JAPAN
from kessai.cli import command_clock, main
from kessai.db.database import database_url
from kessai.db.schema import settings as settings_table
from kessai.errors import Refusal
from kessai.gateway.circuit_breaker import BreakerSettings
from kessai.mail.smtp_client import SmtpSettings
from kessai.masking import mask_text
from kessai.payout.transfer_files import lead_business_days, load_remitter
from kessai.payout.transfer_returns import results_folder, return_fee
from kessai.reminders.stale_slips import ReminderSettings
from kessai.settings import Settings, environment_setting
from kessai.slips.commands import command_gateway
from kessai.transmission.acknowledgements import acknowledgements_folder

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "plugins"
# How a module would read the environment itself.
ENVIRONMENT_READ = re.compile(r"\bos\.environ\b|\bgetenv\b|from os import")

# A valid value, other than the default, for every variable.
EVERY_VARIABLE = {
    "KESSAI_DATABASE_URL": "postgresql+psycopg://kessai:db-secret@db.example/kessai",
    "KESSAI_HOME": "/srv/kessai",
    "KESSAI_SQL_DIR": "/srv/kessai/sql",
    "KESSAI_AS_OF": "2027-01-05T06:00:00+09:00",
    "KESSAI_HOLIDAYS_REVIEWED_THROUGH": "2030",
    "KESSAI_SMTP_URL": "smtp+starttls://mailer:mail-secret@mail.example?from=noreply@example.jp",
    "KESSAI_OPERATOR_EMAIL": "ops@example.jp",
    "KESSAI_FILE_MODE": "0600",
    "KESSAI_DIR_MODE": "700",
    "KESSAI_CSV_ENCODING": "cp932",
    "KESSAI_MAX_SLIP_AMOUNT": "5,000",
    "KESSAI_IMPORT_MAX_BYTES": "1_000",
    "KESSAI_TRANSMISSION_URL": "s3://transmissions/kessai",
    "KESSAI_TRANSMISSION_SENDER": "ASJ01",
    "KESSAI_ACKNOWLEDGEMENTS_DIR": "/srv/acknowledgements",
    "KESSAI_TRANSFER_LEAD_DAYS": "3",
    "KESSAI_TRANSFER_RETURN_FEE": "440",
    "KESSAI_TRANSFER_RESULTS_DIR": "/srv/transfer-results",
    "KESSAI_ZENGIN_NAME": "ｹｯｻｲ(ｶ",
    "KESSAI_INVOICE_REGISTRATION_NUMBER": "T7000012050002",
    "KESSAI_REMINDER_PERIOD": "monthly",
    "KESSAI_STALE_SLIP_INLINE_LIMIT": "10",
    "KESSAI_CARD_GATEWAY": "http",
    "KESSAI_CARD_GATEWAY_URL": "https://gateway.example",
    "KESSAI_CARD_GATEWAY_API_KEY": "gateway-key-0123",
    "KESSAI_CHARGE_CONCURRENCY": "4",
    "KESSAI_CHARGE_BREAKER_CONSECUTIVE": "3",
    "KESSAI_CHARGE_BREAKER_RATE": "2.5",
    "KESSAI_CHARGE_BREAKER_WINDOW": "50",
    "KESSAI_REPAYMENT_LINK_SECRET": "a-link-secret-of-32-characters!!",
}


def _python_files() -> list[Path]:
    return [*sorted((PLUGINS / "kessai").rglob("*.py")), PLUGINS / "kessai_tasks.py", PLUGINS / "kessai_console.py"]


def test_only_kessai_settings_reads_the_environment():
    readers = [str(path.relative_to(ROOT)) for path in _python_files() if ENVIRONMENT_READ.search(path.read_text())]
    assert readers == ["plugins/kessai/settings.py"]


def test_an_empty_environment_gives_the_defaults():
    assert Settings.from_environment({}) == Settings()
    assert Settings.from_environment({name: " " for name in EVERY_VARIABLE}).max_slip_amount == 99_999_999


def test_every_setting_is_read_from_its_variable():
    configured = Settings.from_environment(EVERY_VARIABLE)
    defaults = Settings()
    unchanged = [
        item.name for item in fields(Settings) if getattr(configured, item.name) == getattr(defaults, item.name)
    ]
    assert unchanged == []
    assert configured.as_of == datetime(2027, 1, 5, 6, tzinfo=JAPAN)
    assert (configured.max_slip_amount, configured.import_max_bytes, configured.file_mode) == (5000, 1000, 0o600)
    assert configured.zengin_remitter == {"name": "ｹｯｻｲ(ｶ"}
    assert configured.invoice == {"invoice_registration_number": "T7000012050002"}
    # One field at a time, as a caller handed no Settings reads it.
    assert environment_setting("transfer_lead_days", EVERY_VARIABLE) == 3
    assert environment_setting("transfer_lead_days", {}) is None


def test_every_variable_is_in_the_documented_table():
    table = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(KESSAI_[A-Z_<>]+)`", table, re.MULTILINE))
    named = {value for name, value in vars(settings_module).items() if name.endswith("_VARIABLE")}
    expected = (set(EVERY_VARIABLE) - {"KESSAI_ZENGIN_NAME"}) | {"KESSAI_ZENGIN_<FIELD>"}
    expected |= set(settings_module.INVOICE_VARIABLES.values())
    assert named <= expected
    assert documented == expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KESSAI_AS_OF", "tomorrow"),
        ("KESSAI_HOLIDAYS_REVIEWED_THROUGH", "next year"),
        ("KESSAI_FILE_MODE", "rw-r-----"),
        ("KESSAI_DIR_MODE", "0999"),
        ("KESSAI_CSV_ENCODING", "latin-1"),
        ("KESSAI_MAX_SLIP_AMOUNT", "0"),
        ("KESSAI_IMPORT_MAX_BYTES", "a lot"),
        ("KESSAI_TRANSFER_LEAD_DAYS", "0"),
        ("KESSAI_TRANSFER_RETURN_FEE", "-440"),
        ("KESSAI_REMINDER_PERIOD", "yearly"),
        ("KESSAI_STALE_SLIP_INLINE_LIMIT", "many"),
        ("KESSAI_CHARGE_BREAKER_RATE", "5%"),
        ("KESSAI_CHARGE_BREAKER_WINDOW", "1.5"),
    ],
)
def test_a_bad_value_is_refused_in_one_line_naming_the_variable_and_the_value(variable, value):
    with pytest.raises(Refusal) as refused:
        Settings.from_environment({variable: value})
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"{variable}={value!r}")


def test_a_bad_url_is_refused_with_its_password_masked():
    url = "smtp://mailer:mail-secret@mail.example:port"
    with pytest.raises(ValueError, match=r"^KESSAI_SMTP_URL='smtp://mailer:\*\*\*@mail.example:port'") as refused:
        Settings.from_environment({"KESSAI_SMTP_URL": url})
    assert "mail-secret" not in str(refused.value)


def test_the_secret_settings_are_masked_in_any_text(monkeypatch):
    for variable in ("KESSAI_DATABASE_URL", "KESSAI_CARD_GATEWAY_API_KEY", "KESSAI_REPAYMENT_LINK_SECRET"):
        monkeypatch.setenv(variable, EVERY_VARIABLE[variable])
    text = "db-secret, gateway-key-0123 and a-link-secret-of-32-characters!! leaked"
    assert mask_text(text) == "***, *** and *** leaked"
    shown = repr(Settings.from_environment(EVERY_VARIABLE))
    assert "max_slip_amount=5000" in shown
    for secret in ("db-secret", "mail-secret", "gateway-key-0123", "a-link-secret"):
        assert secret not in shown


# -- a Settings handed in is what is used ------------------------------------------------------


def test_the_command_clock_is_the_settings_given(monkeypatch):
    monkeypatch.setenv("KESSAI_AS_OF", "2031-01-01T00:00:00+09:00")
    given = Settings(as_of=datetime.fromisoformat("2027-01-31T15:30:00+00:00"))
    assert command_clock(Namespace(settings=given)) == datetime(2027, 2, 1, 0, 30, tzinfo=JAPAN)
    assert command_clock(Namespace()) == datetime(2031, 1, 1, tzinfo=JAPAN)  # no Settings: the environment


def test_the_database_is_the_settings_given(monkeypatch, tmp_path):
    monkeypatch.setenv("KESSAI_DATABASE_URL", "postgresql://elsewhere/kessai")
    assert database_url(settings=Settings(database_url="sqlite:///given.sqlite")) == "sqlite:///given.sqlite"
    assert database_url(settings=Settings(home=tmp_path)) == f"sqlite:///{tmp_path / 'kessai.sqlite'}"
    assert database_url("postgres://airflow-connection/kessai", Settings()) == (
        "postgresql+psycopg://airflow-connection/kessai"
    )


def test_the_card_gateway_of_the_commands_is_the_settings_given(monkeypatch, tmp_path):
    monkeypatch.setenv("KESSAI_CARD_GATEWAY", "http")  # without a URL: refused, were it read
    gateway = command_gateway(Settings(card_gateway="simulator", home=tmp_path))
    gateway.close()
    assert (tmp_path / "card-gateway-simulator.sqlite").exists()


def test_the_mail_settings_given(monkeypatch):
    monkeypatch.setenv("KESSAI_SMTP_URL", "smtp://elsewhere:25")
    monkeypatch.setenv("KESSAI_STALE_SLIP_INLINE_LIMIT", "many")  # refused, were it read
    given = Settings(
        smtp_url="smtps://mail.example?from=noreply@example.jp",
        operator_email="ops@example.jp",
        reminder_period="daily",
        stale_slip_inline_limit=5,
    )
    smtp = SmtpSettings.of(given)
    assert (smtp.host, smtp.port, smtp.use_ssl, smtp.sender) == ("mail.example", 465, True, "noreply@example.jp")
    assert SmtpSettings.of(Settings()).describe() == "localhost:1025 (plain)"
    assert ReminderSettings.of(given) == ReminderSettings(5, "daily", "ops@example.jp")


def test_the_breaker_thresholds_given(monkeypatch):
    monkeypatch.setenv("KESSAI_CHARGE_BREAKER_CONSECUTIVE", "lots")  # refused, were it read
    assert BreakerSettings.of(Settings(breaker_consecutive=3, breaker_rate_percent=50.0, breaker_window=10)) == (
        BreakerSettings(3, 50.0, 10)
    )
    with pytest.raises(Refusal, match=r"KESSAI_CHARGE_BREAKER_CONSECUTIVE=0 \(>= 1\)"):
        BreakerSettings.of(Settings(breaker_consecutive=0))


def test_the_folders_given(monkeypatch, tmp_path):
    monkeypatch.setenv("KESSAI_ACKNOWLEDGEMENTS_DIR", "/elsewhere")
    monkeypatch.setenv("KESSAI_TRANSFER_RESULTS_DIR", "/elsewhere")
    assert acknowledgements_folder(tmp_path, Settings()) == tmp_path / "acknowledgements"
    assert results_folder(tmp_path, Settings()) == tmp_path / "transfer-results"
    given = Settings(acknowledgements_dir=tmp_path / "acks", transfer_results_dir=tmp_path / "results")
    assert acknowledgements_folder(Path("/home"), given) == tmp_path / "acks"
    assert results_folder(Path("/home"), given) == tmp_path / "results"
    assert results_folder(tmp_path) == Path("/elsewhere")  # no Settings: the environment


def test_the_transfer_settings_given_win_over_the_settings_table(engine, monkeypatch):
    monkeypatch.setenv("KESSAI_TRANSFER_LEAD_DAYS", "9")
    monkeypatch.setenv("KESSAI_TRANSFER_RETURN_FEE", "9")
    monkeypatch.setenv("KESSAI_ZENGIN_NAME", "ﾍﾞﾂ")
    remitter = {
        "remitter_code": "0000012345",
        "name": "ｹｯｻｲ(ｶ",
        "bank_code": "0001",
        "bank_name": "ﾐｽﾞﾎ",
        "branch_code": "001",
        "branch_name": "ﾎﾝﾃﾝ",
        "account_type": "checking",
        "account_number": "7777777",
    }
    with engine.begin() as connection:
        connection.execute(
            insert(settings_table),
            [
                {"key": "zengin.lead_business_days", "value": "1"},
                {"key": "payout.transfer_return_fee", "value": "330"},
                {"key": "zengin.name", "value": "ﾃｰﾌﾞﾙ"},
            ],
        )
        assert lead_business_days(connection, Settings(transfer_lead_days=4)) == 4
        assert lead_business_days(connection, Settings()) == 1  # none given: the table's
        assert return_fee(connection, Settings(transfer_return_fee=440)) == 440
        assert return_fee(connection, Settings()) == 330
        assert load_remitter(connection, Settings(zengin_remitter=remitter)).name == "ｹｯｻｲ(ｶ"
        without_name = {field: value for field, value in remitter.items() if field != "name"}
        assert load_remitter(connection, Settings(zengin_remitter=without_name)).name == "ﾃｰﾌﾞﾙ"
        assert lead_business_days(connection) == 9  # no Settings: the environment's


def test_a_bad_setting_ends_any_command_in_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("KESSAI_DATABASE_URL", f"sqlite:///{tmp_path / 'none.sqlite'}")
    monkeypatch.setenv("KESSAI_MAX_SLIP_AMOUNT", "lots")
    assert main(["calendar", "2027-01"]) == 1
    assert capsys.readouterr().err == (
        "error: KESSAI_MAX_SLIP_AMOUNT='lots' is not a whole number of yen from 1 to 999,999,999,999: "
        "set it so (default 99,999,999) or unset it\n"
    )


def test_a_transmission_holds_back_by_the_limit_handed_in(business, business_database, monkeypatch, tmp_path):
    from kessai.transmission.commands import command_transmit
    from support.transmission_builders import D, add_confirmed, add_merchant, holds

    monkeypatch.setenv("KESSAI_TRANSMISSION_SENDER", "ENV01")  # the environment, not used
    with business.begin() as connection:
        add_merchant(connection)
        add_confirmed(connection, "1", "2026-12-30 10:00", amount=6_000)
        add_confirmed(connection, "2", "2026-12-30 10:00", amount=5_000)
    given = Settings(
        as_of=datetime(2027, 1, 4, 6, tzinfo=JAPAN),
        max_slip_amount=5_000,
        transmission_sender="ASJ01",
        transmission_url=str(tmp_path / "sent"),
    )
    args = Namespace(business_date=D("2027-01-04"), to=None, dry_run=False, settings=given)
    assert command_transmit(args) == 0
    with business.connect() as connection:
        assert holds(connection) == [(D("2027-01-04"), "1", "amount_out_of_range")]
    (written,) = (tmp_path / "sent" / "2027-01-04").glob("*.csv")
    assert written.read_bytes().startswith(b'"H","ASJ01"')
