"""The operators' dated commands act only once their date's moment has come (SPEC §4.6), as the
DAGs do: the one clock is KESSAI_AS_OF here. Worked by hand: 2026-12-05 is a Saturday; the
transmission and transfer files of Thursday 12/10 may run from 12/10 00:00 in Japan, the closing
of 12/15 from 12/16 00:00."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from kessai.calendar.run_dates import JAPAN
from kessai.cli import main
from kessai.db.database import make_engine
from kessai.db.schema import payout_closings, slips, transmission_batches
from support.transmission_builders import add_merchant, add_unconfirmed


def count(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar()


def test_dated_commands_refuse_a_date_whose_moment_has_not_come(business_database, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KESSAI_DATABASE_URL", business_database)
    monkeypatch.setenv("KESSAI_HOME", str(tmp_path))
    monkeypatch.setenv("KESSAI_AS_OF", "2026-12-05T10:00:00+09:00")
    engine = make_engine(business_database)

    assert main(["transmit", "2026-12-10", "--to", str(tmp_path / "out")]) == 1
    out, err = capsys.readouterr()
    assert "clock: 2026-12-05T10:00:00+09:00 (Japan; from KESSAI_AS_OF=2026-12-05T10:00:00+09:00)" in out
    assert "the transmission for 2026-12-10 cannot run yet: it is 2026-12-05 10:00 in Japan" in err
    assert "Traceback" not in err

    assert main(["transfer-files", "2026-12-10"]) == 1
    assert "the transfer files for 2026-12-10 cannot run yet" in capsys.readouterr().err

    monkeypatch.setenv("KESSAI_AS_OF", "2026-12-15T23:59:00+09:00")
    assert main(["payout-close", "2026-12-15"]) == 1
    assert "the earliest moment is 2026-12-16 00:00 (Japan)" in capsys.readouterr().err
    assert count(engine, payout_closings) == 0 and count(engine, transmission_batches) == 0

    # A dry run looks ahead; from the moment the date has ended the closing runs.
    assert main(["payout-close", "2026-12-15", "--dry-run"]) == 0
    monkeypatch.setenv("KESSAI_AS_OF", "2026-12-16T00:00:00+09:00")
    assert main(["payout-close", "2026-12-15"]) == 0
    assert count(engine, payout_closings) == 1
    engine.dispose()


def test_a_confirmation_is_registered_at_the_clocks_moment(business_database, monkeypatch, capsys):
    monkeypatch.setenv("KESSAI_DATABASE_URL", business_database)
    engine = make_engine(business_database)
    with engine.begin() as connection:
        add_merchant(connection)
        add_unconfirmed(connection, "1")  # paid 2026-12-01 (the builder's): confirmable until 2027-06-01
    # 2027-01-31 23:30 in Japan is 14:30 UTC: registered on 1/31 whatever UTC says (SPEC §3).
    monkeypatch.setenv("KESSAI_AS_OF", "2027-01-31T14:30:00+00:00")
    assert main(["confirm", "M1", "1", "--on", "2027-01-31"]) == 0, capsys.readouterr().err
    assert "registered 2027-01-31" in capsys.readouterr().out
    with engine.connect() as connection:
        registered = connection.execute(select(slips.c.confirmation_registered_at)).scalar()
    assert registered.astimezone(JAPAN) == datetime(2027, 1, 31, 23, 30, tzinfo=JAPAN)
    engine.dispose()
