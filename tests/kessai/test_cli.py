"""Clean command failures (kessai.cli.main): one line on stderr naming what failed and what to do,
exit 1 (2 for usage), no traceback unless --debug, no password; on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from kessai.calendar.run_dates import japan_date_of
from kessai.cli import main
from kessai.db.database import make_engine
from support.slip_builders import add_merchant, add_slip

PASSWORD = "S3cretPW"


def postgres_url_with_password(database: str) -> str:
    """The test server (trust auth: any password gets in) with a password in the URL."""
    server = os.environ.get("KESSAI_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("KESSAI_TEST_POSTGRES_URL is not set")
    base = server.replace("postgresql://", "postgresql+psycopg://", 1).rsplit("/", 1)[0]
    user, _, host = base.split("://", 1)[1].rpartition("@")
    return f"postgresql+psycopg://{user}:{PASSWORD}@{host}/{database}"


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and PASSWORD not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_help_shows_the_database_url_without_its_password(monkeypatch, capsys):
    monkeypatch.setenv("KESSAI_DATABASE_URL", f"postgresql+psycopg://postgres:{PASSWORD}@db.example:5432/kessai")
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the description
    assert "KESSAI_DATABASE_URL (now: postgresql+psycopg://postgres:***@db.example:5432/kessai)" in out
    assert PASSWORD not in out


def test_a_missing_postgresql_database_is_one_line_without_the_password(monkeypatch, capsys, caplog):
    url = postgres_url_with_password(f"kessai_missing_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("KESSAI_DATABASE_URL", url)
    with caplog.at_level(logging.DEBUG):
        assert main(["transmit", "2027-01-05"]) == 1
    line = one_error_line(capsys)
    assert line.startswith("error: the business database postgresql+psycopg://postgres:***@")
    assert "does not exist" in line and line.endswith(
        "Check KESSAI_DATABASE_URL and that the database exists and its server is up"
    )
    assert PASSWORD not in caplog.text

    with pytest.raises(OperationalError):  # --debug: the traceback, before or after the command
        main(["--debug", "transmit", "2027-01-05"])
    with pytest.raises(OperationalError):
        main(["transmit", "2027-01-05", "--debug"])


def test_an_unreachable_server_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("KESSAI_DATABASE_URL", f"postgresql+psycopg://kessai:{PASSWORD}@127.0.0.1:9/kessai")
    assert main(["calendar", "2027-01"]) == 1
    assert one_error_line(capsys).startswith(
        "error: the business database postgresql+psycopg://kessai:***@127.0.0.1:9/kessai cannot be used: "
    )


def test_a_missing_sqlite_file_is_one_line_and_not_created(monkeypatch, tmp_path, capsys):
    path = tmp_path / "nowhere" / "kessai.sqlite"
    monkeypatch.setenv("KESSAI_DATABASE_URL", f"sqlite:///{path}")
    assert main(["transmit", "2027-01-05"]) == 1
    assert one_error_line(capsys) == (
        f"error: the business database {path} does not exist: set KESSAI_DATABASE_URL to the business "
        "database, or create it with `python -m kessai db upgrade`"
    )
    assert not path.parent.exists()


def test_a_database_behind_the_schema_is_one_line(monkeypatch, tmp_path, capsys):
    from kessai.db.migrations_runner import head_revision, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    upgrade(engine, "0004")
    engine.dispose()
    monkeypatch.setenv("KESSAI_DATABASE_URL", f"sqlite:///{tmp_path / 'old.sqlite'}")
    assert main(["calendar", "2027-01"]) == 1
    assert one_error_line(capsys).endswith(
        f"is at schema revision 0004, not {head_revision()}: run `python -m kessai db upgrade`"
    )


def test_usage_errors_exit_2(business_database, capsys):
    for argv in (["change-amount", "M1"], ["transmit", "2027-01-0x"], ["nonsense"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 2
        assert "usage: python -m kessai" in capsys.readouterr().err


def test_an_amount_no_database_can_hold_is_one_line(business_database, capsys):
    """An unconfirmed slip paid 10 days ago (the command reads the real clock)."""
    paid = japan_date_of(datetime.now(UTC)) - timedelta(days=10)
    engine = make_engine(business_database)
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_slip(connection, "123", paid)
    engine.dispose()

    for amount in ("9223372036854775808", "-9223372036854775809", str(10**30)):
        assert main(["change-amount", "M1", "123", amount]) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert err.startswith(("error: ", "refused ")), err
    assert main(["change-amount", "M1", "123", "4000"]) == 0


def test_an_unexpected_fault_is_one_line_that_points_to_debug(business_database, monkeypatch, capsys):
    import kessai.cli

    def broken(_args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(kessai.cli, "command_calendar", broken)  # the parser is built in main()
    assert main(["calendar", "2027-01"]) == 1
    assert one_error_line(capsys) == (
        "error: unexpected ZeroDivisionError: division by zero. Run the command again with --debug for the traceback"
    )


def test_a_refusal_is_its_own_sentence(business_database, tmp_path, monkeypatch, capsys):
    assert main(["payout-close", "2027-01-16"]) == 1
    line = one_error_line(capsys)
    assert "2027-01-16" in line and "closing" in line
    monkeypatch.setenv("KESSAI_AS_OF", "2031-01-06T06:00:00+09:00")  # the day has begun
    assert main(["transmit", str(date(2031, 1, 6)), "--to", str(tmp_path)]) == 1  # past the reviewed holidays
    assert one_error_line(capsys).endswith("then set KESSAI_HOLIDAYS_REVIEWED_THROUGH=2031.")
