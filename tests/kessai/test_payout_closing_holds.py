"""Pay only what went out, and where the books start (SPEC §4.6, docs/payout-closing.md), on SQLite
and PostgreSQL, with hand-worked dates: a slip due to go out by its closing date but not
transmitted by then is held back, shown on the statement with its reason, and paid with the first
closing after it went out; the first closing ever is refused while it would strand slips."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import insert, select, update

from kessai.cli import main
from kessai.db.database import make_engine
from kessai.db.schema import payout_held_slips, slips, transmission_holds
from kessai.payout.closing import BooksNotStarted, format_summary, run_payout_closing
from kessai.payout.statement_files import statement_files, write_slip_files
from support.excel_csv import read_as_excel
from support.payout_builders import add_bank_account, add_merchant, add_slip, at, statement

D = date.fromisoformat


def close(engine, *days: str):
    summary = None
    for day in days:
        summary = run_payout_closing(engine, D(day))
    return summary


def row_id(connection, slip_id: str) -> int:
    return connection.execute(select(slips.c.id).where(slips.c.slip_id == slip_id)).scalar_one()


def closing_date_of(engine, slip_id: str) -> date:
    with engine.connect() as connection:
        return connection.execute(select(slips.c.closing_date).where(slips.c.slip_id == slip_id)).scalar_one()


def january(connection, *, held_slip_sent_on: str | None = None) -> dict[str, str]:
    """A monthly merchant's January 2027 (closing Sunday 1/31, paid Thursday 2/25):

    held   10,000 registered Wed 1/20, due to go out Thu 1/21; card company `discover`, held back by
           the transmission runs of 1/21 and Fri 1/29 (unknown card company); sent on
           held_slip_sent_on once corrected (None: not yet)
    missed  7,000 registered Mon 1/25, due Tue 1/26, no run held it and it never went out
    sent    5,000 registered Tue 1/12, sent Wed 1/13
    friday  3,000 registered Fri 1/29, due Mon 2/1 (after the weekend), not yet sent at the closing
    sunday  2,000 registered on the closing date itself, Sun 1/31, due Mon 2/1
    """
    add_merchant(connection, "M1", "monthly")
    add_bank_account(connection, "M1", at("2026-12-01"))
    slip = {
        "held": add_slip(
            connection,
            "M1",
            10_000,
            registered_at=at("2027-01-20"),
            card_company="discover",
            transmitted_on=held_slip_sent_on,
        ),
        "missed": add_slip(connection, "M1", 7_000, registered_at=at("2027-01-25"), transmitted_on=None),
        "sent": add_slip(connection, "M1", 5_000, registered_at=at("2027-01-12")),
        "friday": add_slip(connection, "M1", 3_000, registered_at=at("2027-01-29"), transmitted_on=None),
        "sunday": add_slip(connection, "M1", 2_000, registered_at=at("2027-01-31", "10:00"), transmitted_on=None),
    }
    held = row_id(connection, slip["held"])
    connection.execute(
        insert(transmission_holds),
        [
            {"business_date": D("2027-01-21"), "slip_row_id": held, "reason": "unknown_card_company"},
            {"business_date": D("2027-01-29"), "slip_row_id": held, "reason": "unknown_card_company"},
        ],
    )
    return slip


def test_a_held_back_slip_is_paid_with_the_first_closing_after_it_went_out(engine, tmp_path):
    with engine.begin() as connection:
        slip = january(connection)
    summary = close(engine, "2027-01-31")

    # In January: the slip sent on 1/13 and the two due on Monday 2/1 (confirmed on the closing date
    # itself, or on the Friday before): they go out before any transfer file. 5,000 + 3,000 + 2,000.
    with engine.connect() as connection:
        january_statement = statement(connection, "M1", "2027-01-31")
        assert (
            january_statement["slip_count"],
            january_statement["gross_amount"],
            january_statement["net_amount"],
        ) == (3, 10_000, 10_000)
        assert january_statement["lines"] == [("visa_master", 1, 3, 10_000, 0)]
        held_rows = connection.execute(
            select(slips.c.slip_id, payout_held_slips.c.reason)
            .join_from(payout_held_slips, slips, payout_held_slips.c.slip_row_id == slips.c.id)
            .where(payout_held_slips.c.closing_date == D("2027-01-31"))
            .order_by(slips.c.slip_id)
        ).all()
    assert sorted(held_rows) == sorted([(slip["held"], "unknown_card_company"), (slip["missed"], "not_transmitted")])
    assert summary.held_back == {
        "slips": 2,
        "amount": 17_000,
        "reasons": {
            "not_transmitted": {"slips": 1, "amount": 7_000},
            "unknown_card_company": {"slips": 1, "amount": 10_000},
        },
    }
    assert "2 slips (17,000 yen) held back" in format_summary(summary)
    # Both moved to the merchant's next closing, February's end.
    assert closing_date_of(engine, slip["held"]) == closing_date_of(engine, slip["missed"]) == D("2027-02-28")

    # The card company is corrected and the slip goes out on Wed 2/3; the other never goes out.
    with engine.begin() as connection:
        connection.execute(
            update(slips)
            .where(slips.c.slip_id == slip["held"])
            .values(card_company="visa_master", transmitted_on=D("2027-02-03"))
        )
    summary = close(engine, "2027-02-15", "2027-02-28")
    with engine.connect() as connection:
        february = statement(connection, "M1", "2027-02-28")
    # Paid in February, its line saying 1 slip of 10,000 yen was held back by an earlier closing.
    assert (february["slip_count"], february["gross_amount"], february["net_amount"]) == (1, 10_000, 10_000)
    assert february["lines"] == [("visa_master", 1, 1, 10_000, 0)]
    assert summary.paid_late == {"slips": 1, "amount": 10_000}
    assert summary.held_back["reasons"] == {"not_transmitted": {"slips": 1, "amount": 7_000}}

    # The slip that never goes out is never paid: held back again in March, on a statement of no slips.
    summary = close(engine, "2027-03-15", "2027-03-31")
    with engine.connect() as connection:
        march = statement(connection, "M1", "2027-03-31")
        files = statement_files(connection, D("2027-02-28"))
    assert (march["slip_count"], march["gross_amount"], march["net_amount"], march["transfers"]) == (0, 0, 0, {})
    assert summary.held_back["slips"] == 1 and closing_date_of(engine, slip["missed"]) == D("2027-04-30")
    assert january_statement["gross_amount"] + february["gross_amount"] == 20_000  # all but the 7,000

    # The February statement file: the line with the slip paid late, the slip held back and why.
    rows = files["statement-M1.csv"].decode("utf-8-sig").splitlines()
    assert rows[1].split(",")[18:21] == ["", "1", "10000"]
    assert rows[3].split(",")[0] == "保留" and rows[3].split(",")[11:13] == ["1", "7000"]
    assert rows[3].split(",")[18] == "締め日までにカード会社へ未送信 (not_transmitted)"
    summary_rows = files["closing-summary.csv"].decode("utf-8-sig").splitlines()
    assert summary_rows[1].split(",")[-5:-1] == ["1", "7000", "1", "10000"]
    # Its slip detail: the slip paid late (sent 2/3, ○) and the one held back again, with why.
    with engine.connect() as connection:
        assert write_slip_files(connection, D("2027-02-28"), tmp_path) == 1
    detail = read_as_excel((tmp_path / "slips-M1.csv").read_bytes())
    assert [(row[3], row[4], row[10], row[14], row[15]) for row in detail[1:]] == [
        ("支払", slip["held"], D("2027-02-03"), "○", ""),
        ("保留", slip["missed"], "", "", "締め日までにカード会社へ未送信 (not_transmitted)"),
    ]

    # A re-run of January, after all that, finds its statement as issued.
    rerun = close(engine, "2027-01-31")
    assert rerun.rerun and rerun.held_back["slips"] == 2
    with engine.connect() as connection:
        assert statement(connection, "M1", "2027-01-31") == january_statement


def test_a_backfill_after_the_held_slip_went_out_gives_the_statement_of_the_run_on_the_day(database_url_for, dialect):
    statements = []
    for sent_on in (None, "2027-02-03"):  # closed on 2/1 (not sent yet), or backfilled after it went out
        engine = make_engine(database_url_for(dialect))
        with engine.begin() as connection:
            slip = january(connection, held_slip_sent_on=sent_on)
            # The two slips due on 2/1 went out by the time of the backfill.
            if sent_on:
                connection.execute(
                    update(slips)
                    .where(slips.c.slip_id.in_([slip["friday"], slip["sunday"]]))
                    .values(transmitted_on=D("2027-02-01"))
                )
        summary = close(engine, "2027-01-31")
        with engine.connect() as connection:
            statements.append(
                (statement(connection, "M1", "2027-01-31"), summary.held_back, closing_date_of(engine, slip["held"]))
            )
        engine.dispose()
    assert statements[0] == statements[1]
    assert statements[0][0]["gross_amount"] == 10_000 and statements[0][1]["amount"] == 17_000
    assert statements[0][2] == D("2027-02-28")


def test_the_first_closing_is_refused_while_it_would_strand_slips_until_the_books_start(business_database, capsys):
    engine = make_engine(business_database)
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        add_bank_account(connection, "M1", at("2026-10-01"))
        add_slip(connection, "M1", 5_000, registered_at=at("2026-11-10"))  # closing 2026-11-30
        add_slip(connection, "M1", 3_000, registered_at=at("2026-12-10"))  # closing 2026-12-31
        add_slip(connection, "M1", 4_000, registered_at=at("2026-12-28"))  # closing 2026-12-31
        add_slip(connection, "M1", 10_000, registered_at=at("2027-01-12"))  # closing 2027-01-31

    with pytest.raises(BooksNotStarted) as refused:
        run_payout_closing(engine, D("2027-01-31"))
    assert str(refused.value) == (
        "closing 2027-01-31 would be the first closing ever, but 3 confirmed slips (12,000 yen) belong to earlier "
        "closing dates and would never be paid: 2026-11-30: 1 slips, 5,000 yen; 2026-12-31: 2 slips, 7,000 yen. "
        "If the system before kessai paid them, declare where the books start: python -m kessai books-start "
        "2027-01-31; else run the earliest closing first (2026-11-30)."
    )
    assert main(["books-start", "2027-01-30"]) == 1
    assert "2027-01-30 is not a closing date" in capsys.readouterr().err

    # Declared from December: the November slip is the old system's; December's would be stranded.
    assert main(["books-start", "2026-12-31", "--by", "sato", "--note", "migration"]) == 0
    with pytest.raises(
        BooksNotStarted, match=r"but 2 confirmed slips \(7,000 yen\) .*: 2026-12-31: 2 slips, 7,000 yen"
    ):
        run_payout_closing(engine, D("2027-01-31"))
    # A closing before the start is refused too.
    with pytest.raises(BooksNotStarted, match="closing 2026-11-30 is before the start of the books"):
        run_payout_closing(engine, D("2026-11-30"))

    # Declared again from January (no closing ran yet): January runs and pays January's slip only.
    assert main(["books-start", "2027-01-31", "--by", "sato", "--note", "taken over from the old system"]) == 0
    capsys.readouterr()
    assert main(["payout-close", "2027-01-31"]) == 0
    out = capsys.readouterr().out
    assert "the books start at closing 2027-01-31 (declared by sato on " in out
    assert ": taken over from the old system); earlier slips are not paid by kessai" in out
    with engine.connect() as connection:
        assert statement(connection, "M1", "2027-01-31")["gross_amount"] == 10_000
    # The books have started: the start cannot be moved any more.
    assert main(["books-start", "2026-12-31"]) == 1
    assert "the books started with closing 2027-01-31, which has run" in capsys.readouterr().err
    engine.dispose()
