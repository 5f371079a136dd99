"""The bulk confirmation import (SPEC §4.1), on SQLite and PostgreSQL.

Every upload here is registered at 2027-01-31 23:30 in Japan (14:30 UTC): registration date 1/31.
Slips paid on 2026-08-31 may be confirmed until 2027-02-28 (8/31 + 6 months, clipped).
"""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import date

import pytest
from sqlalchemy import func, insert, select

from kessai.calendar.rules import closing_date_for
from kessai.cli import main
from kessai.db.database import make_engine
from kessai.db.schema import merchants, slip_events, slips
from kessai.slips.confirmation_import import ConfirmationFileError, import_confirmations
from kessai.slips.operations import SlipOperationError, cancel_slip, confirm_slip
from support.slip_builders import add_merchant, add_slip, add_subscription, all_slips, event_count, jst, slip

UPLOADED_AT = jst("2027-01-31", "23:30")
PAID = date(2026, 8, 31)

# Line numbers are the file's own: the header is line 1, line 14 is blank, and the quoted note
# on line 23 runs over two lines, so the last row is line 25.
UPLOAD_ROWS = [
    "merchant_id,slip_id,confirmed_on,note",
    "M1,1001,2027-01-31,月末締め分",
    "M1,1002,2026-09-10,過去日付で確定",
    "M2,1003,2027-02-10,未来日付（月2回入金）",
    "M1,1013,2027/1/31,スラッシュ区切り",
    "M1,1004,2027-01-31,取消済み",
    "M1,1005,2027-01-31,別の日付で確定済み",
    "M1,1006,2027-01-20,同じ日付で確定済み",
    "M1,1007,2027-01-30,期限切れ",
    "M1,1008,2027-03-01,期限後の日付",
    "M1,1009,2026-09-14,入金日より前",
    "M1,1010,2027-01-31,未決済の継続課金",
    "M1,9999,2027-01-31,存在しない伝票",
    "",
    "M1,1011,2027-02-30,存在しない日付",
    "M1,1011,31/01/2027,日付の書式",
    "M1,12345678901234567890,2027-01-31,桁数超過",
    "M1,A-1,2027-01-31,英字",
    "M1,1001,2027-01-31,重複",
    "M1,,2027-01-31,伝票番号なし",
    "M1,1011",
    "M1,1012,2027-01-31,メモ,余分",
    '"M1","1014","2027-01-31","改行を含む{newline}メモ"',
    "M1,1015,2027-01-31,最後の行",
]

APPLIED = {
    # slip: (line, closing date). Monthly M1 closes 1/31; 1002 is backdated but registered 1/31;
    # 1003 of twice-monthly M2 is dated 2/10, so it counts from 2/10 -> the 2/15 closing.
    "1001": (2, date(2027, 1, 31)),
    "1002": (3, date(2027, 1, 31)),
    "1003": (4, date(2027, 2, 15)),
    "1013": (5, date(2027, 1, 31)),
    "1014": (23, date(2027, 1, 31)),
    "1015": (25, date(2027, 1, 31)),
}

REJECTED = [
    (6, "cancelled"),
    (7, "already_confirmed"),  # confirmed on 2027-01-05, the file says 2027-01-31
    (9, "past_deadline"),  # paid 2026-07-30: deadline 2027-01-30, registered 1/31
    (10, "past_deadline"),  # 2027-03-01 is after 2027-02-28
    (11, "before_payment_date"),  # paid 2026-09-15
    (12, "not_paid"),
    (13, "unknown_slip"),
    (15, "malformed_date"),
    (16, "malformed_date"),
    (17, "malformed_slip_id"),
    (18, "malformed_slip_id"),
    (19, "duplicate_row"),
    (20, "missing_column"),
    (21, "missing_column"),
    (22, "malformed_row"),
]


def upload(encoding: str, newline: str = "\n") -> bytes:
    text = newline.join(UPLOAD_ROWS).replace("{newline}", newline) + newline
    return text.encode(encoding)


@pytest.fixture
def shop(engine):
    """The slips the upload names, in the states its notes describe."""
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        add_merchant(connection, "M2", "twice_monthly")
        for number in ("1001", "1002", "1004", "1005", "1006", "1008", "1011", "1012", "1013", "1014", "1015"):
            add_slip(connection, number, PAID)
        add_slip(connection, "1003", date(2026, 12, 1), "M2")
        add_slip(connection, "1007", date(2026, 7, 30))
        add_slip(connection, "1009", date(2026, 9, 15))
        add_subscription(connection, "S1")
        add_slip(connection, "1010", None, subscription_id="S1", billing_month=date(2027, 1, 1))
        cancel_slip(connection, "M1", "1004", jst("2026-09-01"))
        confirm_slip(connection, "M1", "1005", date(2027, 1, 5), jst("2027-01-05"))
        confirm_slip(connection, "M1", "1006", date(2027, 1, 20), jst("2027-01-20"))
    return engine


def run_import(engine, content, **options):
    with engine.begin() as connection:
        return import_confirmations(connection, content, UPLOADED_AT, **options)


@pytest.mark.parametrize(
    "encoding, newline",
    [("utf-8", "\n"), ("utf-8-sig", "\r\n"), ("cp932", "\r\n")],
    ids=["utf-8", "utf-8-bom", "shift_jis"],
)
def test_upload_applies_good_rows_and_reports_every_bad_one(shop, tmp_path, encoding, newline):
    rejects_path = tmp_path / "rejects.csv"
    result = run_import(shop, upload(encoding, newline), rejects_path=rejects_path)

    assert result.encoding == encoding
    assert result.registered_on == date(2027, 1, 31)
    assert result.rows == 22
    assert result.applied == len(APPLIED) == 6
    assert result.already_confirmed == 1  # line 8: 1006 is confirmed on 2027-01-20, as asked
    assert [(row.line_number, row.reason) for row in result.rejected] == REJECTED
    assert result.rejected_count == len(REJECTED)
    with shop.connect() as connection:
        for number, (_, closing) in APPLIED.items():
            merchant_id = "M2" if number == "1003" else "M1"
            row = slip(connection, number, merchant_id)
            assert row.confirmation_registered_at == UPLOADED_AT
            assert row.closing_date == closing
        assert slip(connection, "1002").confirmed_on == date(2026, 9, 10)
        assert slip(connection, "1013").confirmed_on == date(2027, 1, 31)  # written 2027/1/31
        for number in ("1004", "1007", "1008", "1009", "1010", "1011", "1012"):
            assert slip(connection, number).confirmed_on is None, number
        assert slip(connection, "1005").confirmed_on == date(2027, 1, 5)
        lines = (
            connection.execute(select(slip_events.c.detail).where(slip_events.c.occurred_at == UPLOADED_AT))
            .scalars()
            .all()
        )
    assert sorted(lines) == sorted(
        f'{{"confirmed_on": "{slip_date}", "closing_date": "{closing}", "source": "import", "line": {line}}}'
        for slip_date, (line, closing) in zip(
            ["2027-01-31", "2026-09-10", "2027-02-10", "2027-01-31", "2027-01-31", "2027-01-31"],
            APPLIED.values(),
            strict=True,
        )
    )

    rejects = list(csv.reader(io.StringIO(rejects_path.read_bytes().decode(encoding), newline="")))
    assert rejects[0] == ["line_number", "reason", "message", "merchant_id", "slip_id", "confirmed_on", "note"]
    assert [(int(line), reason) for line, reason, *_ in rejects[1:]] == REJECTED
    by_line = {int(row[0]): row for row in rejects[1:]}
    assert by_line[6][3:] == ["M1", '="1004"', "2027-01-31", "取消済み"]  # the row as uploaded, its number text
    # The rejects file uploaded again as it is reads its slip numbers back: 1004 is still cancelled
    # (not a malformed slip number).
    again = run_import(shop, rejects_path.read_bytes())
    assert (again.rejected[0].line_number, again.rejected[0].reason) == (2, "cancelled")
    assert by_line[21][3:] == ["M1", '="1011"']
    assert by_line[22][3:] == ["M1", '="1012"', "2027-01-31", "メモ", "余分"]
    assert "2027-01-30" in by_line[9][2] and "has passed" in by_line[9][2]
    assert "deadline 2027-02-28" in by_line[10][2]
    assert "line 2" in by_line[19][2]
    assert "already confirmed on 2027-01-05" in by_line[7][2]


def test_importing_the_same_file_again_changes_nothing(shop):
    content = upload("cp932", "\r\n")
    first = run_import(shop, content)
    with shop.connect() as connection:
        before = (all_slips(connection), event_count(connection))

    again = run_import(shop, content)

    assert again.applied == 0
    # The six applied the first time and line 8 are all already confirmed with their date.
    assert again.already_confirmed == first.applied + first.already_confirmed == 7
    assert [(row.line_number, row.reason, row.message) for row in again.rejected] == [
        (row.line_number, row.reason, row.message) for row in first.rejected
    ]
    with shop.connect() as connection:
        assert (all_slips(connection), event_count(connection)) == before


def test_japanese_column_names_of_the_admin_screen(shop):
    content = "店舗ID,伝票番号,決済確定日,備考\r\nM1,1001,2027-01-31,一括確定\r\n".encode("cp932")
    result = run_import(shop, content)
    assert (result.applied, result.rejected) == (1, [])


def test_a_file_with_only_the_header_imports_nothing(shop):
    result = run_import(shop, b"merchant_id,slip_id,confirmed_on\r\n")
    assert (result.rows, result.applied, result.already_confirmed, result.rejected) == (0, 0, 0, [])


@pytest.mark.parametrize(
    "content, complaint",
    [
        ("merchant_id,slip_id,confirmed_on\nM1,1001,2027-01-31\n".encode("utf-16"), "UTF-16"),
        (b"merchant_id,slip_id,confirmed_on,note\nM1,1001,2027-01-31,caf\xe9\n", "neither UTF-8 nor Shift_JIS"),
        (b"", "no header row"),
        (b"\r\nM1,1001,2027-01-31\r\n", "no header row"),
        (b"merchant_id,slip_id,date\nM1,1001,2027-01-31\n", "no confirmed_on column"),
        (b"merchant_id,slip_id,confirmed_on,slip_id\nM1,1001,2027-01-31,1002\n", "names slip_id 2 times"),
    ],
    ids=["utf-16", "latin-1", "empty", "blank_first_line", "missing_column", "column_twice"],
)
def test_an_unusable_file_is_rejected_as_a_whole(shop, content, complaint):
    with pytest.raises(ConfirmationFileError, match=complaint):
        run_import(shop, content)
    with shop.connect() as connection:
        assert slip(connection, "1001").confirmed_on is None


# -- one rule book: a single confirmation and an import decide alike ------------------------

AGREEMENT_CASES = [
    # (slip, payment date, prior state, confirmed_on, outcome)
    ("1", PAID, None, date(2027, 1, 31), "applied"),
    ("2", PAID, None, date(2026, 9, 10), "applied"),  # backdated
    ("3", PAID, None, date(2027, 2, 28), "applied"),  # future, on the deadline
    ("4", PAID, None, date(2027, 3, 1), "past_deadline"),
    ("5", date(2026, 7, 31), None, date(2027, 1, 31), "applied"),  # 7/31 + 6 months = 1/31: the last day
    ("6", date(2026, 7, 30), None, date(2027, 1, 30), "past_deadline"),  # deadline 1/30, registered 1/31
    ("7", date(2026, 9, 15), None, date(2026, 9, 14), "before_payment_date"),
    ("8", None, None, date(2027, 1, 31), "not_paid"),
    ("9", PAID, "cancelled", date(2027, 1, 31), "cancelled"),
    ("10", PAID, "confirmed 2027-01-31", date(2027, 1, 31), "already_confirmed"),
    ("11", PAID, "confirmed 2027-01-10", date(2027, 1, 31), "already_confirmed"),
    ("12", "missing", None, date(2027, 1, 31), "unknown_slip"),
]


def _agreement_slips(connection, merchant_id: str, cycle: str) -> None:
    add_merchant(connection, merchant_id, cycle)
    add_subscription(connection, f"S-{merchant_id}", merchant_id)
    for number, paid, state, _, _ in AGREEMENT_CASES:
        if paid == "missing":
            continue
        recurring = {"subscription_id": f"S-{merchant_id}", "billing_month": date(2027, 1, 1)} if paid is None else {}
        add_slip(connection, number, paid, merchant_id, **recurring)
        if state == "cancelled":
            cancel_slip(connection, merchant_id, number, jst("2026-09-01"))
        elif state:
            confirmed_on = date.fromisoformat(state.split()[1])
            confirm_slip(connection, merchant_id, number, confirmed_on, jst(state.split()[1]))


@pytest.mark.parametrize("cycle", ["monthly", "twice_monthly"])
def test_single_confirmation_and_import_agree(engine, cycle):
    with engine.begin() as connection:
        _agreement_slips(connection, "SINGLE", cycle)
        _agreement_slips(connection, "BULK", cycle)

    single = {}
    for number, _, _, confirmed_on, _ in AGREEMENT_CASES:
        try:
            with engine.begin() as connection:
                confirm_slip(connection, "SINGLE", number, confirmed_on, UPLOADED_AT)
            single[number] = "applied"
        except SlipOperationError as error:
            single[number] = error.reason

    content = "\n".join(
        ["merchant_id,slip_id,confirmed_on"] + [f"BULK,{n},{d}" for n, _, _, d, _ in AGREEMENT_CASES]
    ).encode()
    result = run_import(engine, content)
    bulk = {number: "applied" for number, *_ in AGREEMENT_CASES}
    for row in result.rejected:
        bulk[AGREEMENT_CASES[row.line_number - 2][0]] = row.reason
    bulk["10"] = "already_confirmed" if result.already_confirmed == 1 else "not counted as a repeat"

    expected = {number: outcome for number, *_, outcome in AGREEMENT_CASES}
    assert single == bulk == expected
    with engine.connect() as connection:
        for number, _, _, confirmed_on, outcome in AGREEMENT_CASES:
            if outcome == "applied":
                closing = closing_date_for(cycle, date(2027, 1, 31), confirmed_on)
                assert (
                    slip(connection, number, "SINGLE").closing_date
                    == closing
                    == slip(connection, number, "BULK").closing_date
                )


# -- volume ---------------------------------------------------------------------------------


def test_a_hundred_thousand_rows_import_in_one_go(engine):
    rows = 100_000
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        add_merchant(connection, "M2", "twice_monthly")
        connection.execute(
            insert(slips),
            [
                {
                    "slip_id": str(n),
                    "merchant_id": f"M{n % 2 + 1}",
                    "card_company": "jcb",
                    "amount": 1000 + n,
                    "payment_date": PAID,
                }
                for n in range(rows)
            ],
        )
    # Every row is dated 2027-01-01 .. 2027-01-28 and registered 1/31: all go to the closings of 1/31.
    lines = ["merchant_id,slip_id,confirmed_on,note"] + [
        f"M{n % 2 + 1},{n},2027-01-{n % 28 + 1:02d},一括" for n in range(rows)
    ]
    content = ("\r\n".join(lines) + "\r\n").encode("cp932")

    result = run_import(engine, content)

    assert (result.rows, result.applied, result.rejected) == (rows, rows, [])
    with engine.connect() as connection:
        closings = dict(
            connection.execute(select(slips.c.closing_date, func.count()).group_by(slips.c.closing_date)).all()
        )
        assert closings == {date(2027, 1, 31): rows}
        assert event_count(connection) == rows
    again = run_import(engine, content)
    assert (again.applied, again.already_confirmed, again.rejected) == (0, rows, [])


# -- the command line -----------------------------------------------------------------------


@pytest.fixture
def recent_slips(business_database, monkeypatch):
    """Slips 1 and 2 of M1, paid on 2027-01-31, ten days before the moment the command line
    registers at (the one clock, KESSAI_AS_OF: 2027-02-10 10:00 in Japan)."""
    monkeypatch.setenv("KESSAI_AS_OF", "2027-02-10T10:00:00+09:00")
    paid = date(2027, 1, 31)
    engine = make_engine(business_database)
    with engine.begin() as connection:
        add_merchant(connection, "M1")
        add_slip(connection, "1", paid)
        add_slip(connection, "2", paid)
    yield engine, paid
    engine.dispose()


def test_cli_import_prints_a_summary_and_writes_the_rejects_beside_the_file(recent_slips, tmp_path, capsys):
    engine, paid = recent_slips
    path = tmp_path / "upload.csv"
    path.write_bytes(
        f"merchant_id,slip_id,confirmed_on,備考\r\nM1,1,{paid},確定\r\nM1,3,{paid},不明\r\n".encode("cp932")
    )

    assert main(["import-confirmations", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 rows (Shift_JIS (cp932))" in out
    assert "applied            1" in out
    assert "unknown_slip" in out and "line 3: unknown_slip: slip 3 of merchant M1: no such slip" in out
    rejects = (tmp_path / "upload.rejects.csv").read_bytes().decode("cp932").splitlines()
    assert rejects[1].startswith("3,unknown_slip,")

    elsewhere = tmp_path / "elsewhere.csv"
    assert main(["import-confirmations", str(path), "--rejects", str(elsewhere)]) == 0
    out = capsys.readouterr().out
    assert "applied            0" in out and "already confirmed  1" in out
    assert elsewhere.exists()
    with engine.connect() as connection:
        assert slip(connection, "1").confirmed_on == paid


def test_cli_import_exits_2_only_for_an_unusable_file(recent_slips, tmp_path, capsys):
    path = tmp_path / "upload.csv"
    path.write_bytes("merchant_id,slip_id,confirmed_on\nM1,1,2027-01-31\n".encode("utf-16"))
    assert main(["import-confirmations", str(path)]) == 2
    assert "not imported" in capsys.readouterr().err
    assert main(["import-confirmations", str(tmp_path / "missing.csv")]) == 2
    assert not (tmp_path / "upload.rejects.csv").exists()


def test_cli_confirm_and_cancel(recent_slips, capsys):
    engine, paid = recent_slips
    assert main(["confirm", "M1", "1", "--on", str(paid)]) == 0
    assert f"slip 1 of merchant M1 confirmed on {paid}" in capsys.readouterr().out

    assert main(["cancel", "M1", "1"]) == 1
    assert "決済確定後は金額変更や決済取消は行えません。" in capsys.readouterr().err
    assert main(["cancel", "M1", "2"]) == 0
    assert main(["confirm", "M1", "2", "--on", str(paid)]) == 1
    assert "refused (cancelled)" in capsys.readouterr().err
    with engine.connect() as connection:
        assert slip(connection, "1").cancelled_at is None
        assert slip(connection, "2").cancelled_at is not None


# -- streaming: batches, encodings, memory, the size limit ----------------------------------


@pytest.mark.parametrize("batch_rows", [1, 4])
def test_the_rows_staged_in_small_batches_give_the_same_result(shop, tmp_path, batch_rows):
    rejects_path = tmp_path / "rejects.csv"
    result = run_import(shop, upload("cp932", "\r\n"), rejects_path=rejects_path, batch_rows=batch_rows)

    assert (result.rows, result.applied, result.already_confirmed) == (22, 6, 1)
    assert [(row.line_number, row.reason) for row in result.rejected] == REJECTED
    rejects = list(csv.reader(io.StringIO(rejects_path.read_bytes().decode("cp932"), newline="")))
    assert [(int(line), reason) for line, reason, *_ in rejects[1:]] == REJECTED


def _many_slips(engine, rows: int) -> None:
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly")
        connection.execute(
            insert(slips),
            [
                {
                    "slip_id": str(n),
                    "merchant_id": "M1",
                    "card_company": "jcb",
                    "amount": 1000 + n,
                    "payment_date": PAID,
                }
                for n in range(rows)
            ],
        )


def _large_upload(rows: int, note=lambda n: "一括確定", bad: dict | None = None) -> list[str]:
    """Slip n on line n + 2, dated 2027-01-01 .. 2027-01-28; `bad` replaces the lines of some slips."""
    lines = ["merchant_id,slip_id,confirmed_on,note"]
    for n in range(rows):
        lines.append((bad or {}).get(n, f"M1,{n},2027-01-{n % 28 + 1:02d},{note(n)}"))
    return lines


LARGE_ROWS = 30_000
# Three rows in the middle of the file are wrong; every other row applies.
BAD_LINES = {
    15_000: "M1,15000,2027-13-01,月が13",  # line 15002
    15_001: "M1,99999999,2027-01-02,存在しない伝票",  # line 15003
    20_000: "M1,1,2027-01-02,重複",  # line 20002: slip 1 is on line 3
}


@pytest.mark.parametrize(
    "encoding, late",
    [("utf-8-sig", False), ("cp932", False), ("cp932", True), ("utf-8", True)],
    ids=["utf-8-bom", "shift_jis", "shift_jis_after_the_first_bytes", "utf-8_after_the_first_bytes"],
)
def test_a_large_file_streams_and_a_bad_row_in_the_middle_is_rejected_alone(engine, tmp_path, encoding, late):
    """`late`: the first 5,000 lines (over 64 KB) are ASCII, so the first bytes do not tell the
    encoding: a Shift_JIS file is taken for UTF-8 at first and read again as cp932 where it fails."""
    _many_slips(engine, LARGE_ROWS)
    note = (lambda n: "bulk" if n < 5_000 else "一括確定") if late else (lambda n: "一括確定")
    lines = _large_upload(LARGE_ROWS, note, BAD_LINES)
    content = ("\r\n".join(lines) + "\r\n").encode(encoding)
    path = tmp_path / "upload.csv"
    path.write_bytes(content)
    rejects_path = tmp_path / "upload.rejects.csv"

    result = run_import(engine, path, rejects_path=rejects_path, batch_rows=4_000)

    assert (result.encoding, result.rows) == (encoding, LARGE_ROWS)
    assert (result.applied, result.already_confirmed) == (LARGE_ROWS - 3, 0)
    expected = [(15_002, "malformed_date"), (15_003, "unknown_slip"), (20_002, "duplicate_row")]
    assert [(row.line_number, row.reason) for row in result.rejected] == expected
    assert result.rejected_by_reason() == {"duplicate_row": 1, "malformed_date": 1, "unknown_slip": 1}
    written = rejects_path.read_bytes()
    assert written.count(b"\xef\xbb\xbf") == (1 if encoding == "utf-8-sig" else 0)
    rejects = list(csv.reader(io.StringIO(written.decode(encoding), newline="")))
    assert [(int(row[0]), row[1], row[3:]) for row in rejects[1:]] == [
        # The merchant and slip numbers are written as text codes (="..."): Excel keeps their zeros.
        (15_002, "malformed_date", ["M1", '="15000"', "2027-13-01", "月が13"]),
        (15_003, "unknown_slip", ["M1", '="99999999"', "2027-01-02", "存在しない伝票"]),
        (20_002, "duplicate_row", ["M1", '="1"', "2027-01-02", "重複"]),
    ]
    with engine.connect() as connection:
        confirmed = dict(
            connection.execute(
                select(slips.c.confirmed_on.is_not(None), func.count()).group_by(slips.c.confirmed_on.is_not(None))
            ).all()
        )
        assert confirmed == {True: LARGE_ROWS - 3, False: 3}  # 15000, 15001 and 20000: no good row names them
        assert slip(connection, "14999").confirmed_on == date(2027, 1, 14999 % 28 + 1)
        assert slip(connection, "29999").confirmed_on == date(2027, 1, 29999 % 28 + 1)
        assert event_count(connection) == LARGE_ROWS - 3


def _import_peak(engine, tmp_path, rows: int) -> int:
    """The highest memory Python allocated while importing a file of `rows` rows, one in a hundred
    rejected (so the rejects are written too)."""
    _many_slips(engine, rows)
    bad = {n: f"M1,{n},2027-02-30,存在しない日付" for n in range(0, rows, 100)}
    path = tmp_path / f"upload-{rows}.csv"
    path.write_bytes(("\r\n".join(_large_upload(rows, bad=bad)) + "\r\n").encode("cp932"))
    tracemalloc.start()
    try:
        result = run_import(engine, path, rejects_path=tmp_path / f"upload-{rows}.rejects.csv", batch_rows=1_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.applied, result.rejected_count) == (rows - rows // 100, rows // 100)
    return peak


def test_the_memory_an_import_takes_does_not_grow_with_the_file(engine, tmp_path):
    small = _import_peak(engine, tmp_path, 5_000)
    with engine.begin() as connection:
        connection.execute(slip_events.delete())
        connection.execute(slips.delete())
        connection.execute(merchants.delete())
    large = _import_peak(engine, tmp_path, 30_000)  # six times the rows, the same batches
    assert large < 1.5 * small, (small, large)


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(shop):
    content = upload("utf-8")
    with pytest.raises(
        ConfirmationFileError, match=f"the file is {len(content):,} bytes, more than the 100 an import reads"
    ):
        run_import(shop, content, max_bytes=100)
    with shop.connect() as connection:
        assert slip(connection, "1001").confirmed_on is None
    assert run_import(shop, content, max_bytes=len(content)).applied == 6  # the limit itself is allowed


def test_cli_import_refuses_a_file_over_kessai_import_max_bytes(recent_slips, tmp_path, capsys, monkeypatch):
    engine, paid = recent_slips
    path = tmp_path / "upload.csv"
    path.write_bytes(f"merchant_id,slip_id,confirmed_on\r\nM1,1,{paid}\r\n".encode())  # 51 bytes
    monkeypatch.setenv("KESSAI_IMPORT_MAX_BYTES", "40")
    assert main(["import-confirmations", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"{path}: not imported: the file is 51 bytes, more than the 40 an import reads "
        "(KESSAI_IMPORT_MAX_BYTES, default 500,000,000): split it into smaller files or raise the limit\n"
    )
    assert not (tmp_path / "upload.rejects.csv").exists()
    with engine.connect() as connection:
        assert slip(connection, "1").confirmed_on is None

    monkeypatch.setenv("KESSAI_IMPORT_MAX_BYTES", "a lot")
    assert main(["import-confirmations", str(path)]) == 1
    assert "KESSAI_IMPORT_MAX_BYTES='a lot' is not a number of bytes" in capsys.readouterr().err

    monkeypatch.setenv("KESSAI_IMPORT_MAX_BYTES", "51")
    assert main(["import-confirmations", str(path)]) == 0
    with engine.connect() as connection:
        assert slip(connection, "1").confirmed_on == paid
