"""The card companies' answers (受領結果, docs/transmission-file.md "Acknowledgements"), on SQLite
and PostgreSQL: each answer is recorded once per batch and slip, a line that matches no slip or a
file read twice changes nothing, the operators get the rejections, and the closing pays neither a
rejected slip nor, where the card company requires an answer, one not yet accepted.

The slips are registered Tuesday 2027-01-12 and go out Wednesday 1/13; the answers are read
Thursday 1/14; the merchant is paid monthly, closing Sunday 1/31."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from kessai.cli import main
from kessai.db.schema import card_companies, mail_outbox, payout_held_slips, slips, transmission_acknowledgements
from kessai.payout.closing import run_payout_closing
from kessai.transmission.acknowledgements import (
    AcknowledgementsRefused,
    import_folder,
    parse_acknowledgements,
    resend_rejected,
    run_import,
)
from kessai.transmission.daily import run_transmission
from kessai.transmission.files import Destination
from support.payout_builders import add_bank_account, add_merchant, at, statement
from support.transmission_builders import D, add_confirmed, files_under, marks

SENT_ON = "2027-01-13"
READ_ON = D("2027-01-14")
ANSWERS = (
    "file_name,merchant_id,slip_id,result,code\n"
    "VM_20270113.csv,M1,1,accepted,00\n"
    "VM_20270113.csv,M1,2,rejected,E12\n"
    "JC_20270113.csv,M1,3,accepted,00\n"
    "VM_20270113.csv,M1,99,accepted,00\n"  # no such slip: changes nothing
    "JC_20270113.csv,M1,1,accepted,00\n"  # slip 1 did not go to JCB: changes nothing
)


@pytest.fixture
def transmitted(engine, tmp_path):
    """Slips 1 (1,000 yen) and 2 (2,000) to Visa/Mastercard, 3 (4,000) and 4 (8,000) to JCB, which
    requires acknowledgements; all sent on 1/13."""
    with engine.begin() as connection:
        add_merchant(connection, "M1", "monthly", name_kana="ミセ", name_en="Shop")
        add_bank_account(connection, "M1", at("2026-12-01"))
        connection.execute(
            update(card_companies).where(card_companies.c.card_company == "jcb").values(requires_acknowledgement=True)
        )
        for slip_id, company, amount in (
            ("1", "visa_master", 1000),
            ("2", "visa_master", 2000),
            ("3", "jcb", 4000),
            ("4", "jcb", 8000),
        ):
            add_confirmed(
                connection, slip_id, "2027-01-12 10:00", card_company=company, amount=amount, paid="2027-01-12"
            )
    run_transmission(engine, D(SENT_ON), Destination.from_url(str(tmp_path / "transmissions")))
    return engine


def answers(connection) -> list[tuple]:
    a, s = transmission_acknowledgements.c, slips.c
    return sorted(
        connection.execute(
            select(s.slip_id, a.result, a.code, a.received_on, a.source_file).join_from(
                transmission_acknowledgements, slips, a.slip_row_id == s.id
            )
        ).all()
    )


def operator_mails(connection) -> list[tuple[str, str]]:
    return connection.execute(
        select(mail_outbox.c.subject, mail_outbox.c.body).where(mail_outbox.c.kind == "operator_alert")
    ).all()


def test_answers_are_recorded_once_and_unmatched_lines_change_nothing(transmitted, tmp_path):
    path = tmp_path / "ack_20270114.csv"
    path.write_text(ANSWERS, encoding="utf-8")

    first = run_import(transmitted, path, received_on=READ_ON)
    again = run_import(transmitted, path, received_on=D("2027-01-15"))  # read twice: nothing changes

    assert (first.lines, first.recorded, len(first.rejected)) == (5, 3, 1)
    assert first.unmatched == [
        "line 5: slip 99 of M1 in VM_20270113.csv",
        "line 6: slip 1 of M1 in JC_20270113.csv",
    ]
    assert first.rejected == [
        {
            "merchant_id": "M1",
            "slip_id": "2",
            "card_company": "visa_master",
            "amount": 2000,
            "file_name": "VM_20270113.csv",
            "code": "E12",
        }
    ]
    assert again.recorded == 0 and again.unmatched == first.unmatched
    with transmitted.connect() as connection:
        assert answers(connection) == [
            ("1", "accepted", "00", D("2027-01-14"), path.name),
            ("2", "rejected", "E12", D("2027-01-14"), path.name),
            ("3", "accepted", "00", D("2027-01-14"), path.name),
        ]
        mails = operator_mails(connection)
    assert len(mails) == 1  # the same file again mails nobody again
    subject, body = mails[0]
    assert subject == "[kessai] カード会社の受領結果: 不承認 1 件・照合できない明細 2 件（ack_20270114.csv）"
    assert "店舗 M1  売上票 2  visa_master  2,000 円  VM_20270113.csv  コード E12" in body


def test_the_closing_pays_neither_a_rejected_slip_nor_one_its_company_has_not_accepted(transmitted, tmp_path):
    path = tmp_path / "ack_20270114.csv"
    path.write_text(ANSWERS, encoding="utf-8")
    run_import(transmitted, path, received_on=READ_ON)

    run_payout_closing(transmitted, D("2027-01-31"))

    with transmitted.connect() as connection:
        january = statement(connection, "M1", "2027-01-31")
        held = connection.execute(
            select(slips.c.slip_id, payout_held_slips.c.reason)
            .join_from(payout_held_slips, slips, payout_held_slips.c.slip_row_id == slips.c.id)
            .order_by(slips.c.slip_id)
        ).all()
    # Paid: slip 1 (accepted) and 3 (accepted by JCB), 1,000 + 4,000. Held: slip 2 (rejected) and
    # slip 4 (JCB requires an answer; none came).
    assert (january["slip_count"], january["gross_amount"]) == (2, 5000)
    assert held == [("2", "rejected_by_card_company"), ("4", "awaiting_acknowledgement")]


def test_a_file_that_cannot_be_read_records_nothing_and_stays(transmitted, tmp_path):
    folder = tmp_path / "acknowledgements"
    folder.mkdir()
    (folder / "bad.csv").write_text("file_name,merchant_id,slip_id,result,code\nVM_20270113.csv,M1,1,maybe,00\n")
    with pytest.raises(AcknowledgementsRefused, match=r"bad.csv line 2: .* result of accepted or rejected"):
        import_folder(transmitted, folder, received_on=READ_ON)
    assert (folder / "bad.csv").exists()
    with transmitted.connect() as connection:
        assert answers(connection) == []
    with pytest.raises(AcknowledgementsRefused, match="the first line must be"):
        parse_acknowledgements("x.csv", b"VM_20270113.csv,M1,1,accepted,00\n")


def test_the_folder_is_read_and_each_file_moved_to_done_and_unmatched_lines_refuse_at_the_end(transmitted, tmp_path):
    folder = tmp_path / "acknowledgements"
    folder.mkdir()
    (folder / "ack_20270114.csv").write_text(ANSWERS, encoding="utf-8")
    with pytest.raises(AcknowledgementsRefused, match="2 lines of the acknowledgements match no transmitted slip"):
        import_folder(transmitted, folder, received_on=READ_ON)
    assert not (folder / "ack_20270114.csv").exists() and (folder / "done" / "ack_20270114.csv").exists()
    with transmitted.connect() as connection:
        assert len(answers(connection)) == 3


def test_the_command_records_and_a_clean_file_exits_0(business, tmp_path, capsys, monkeypatch):
    with business.begin() as connection:
        add_merchant(connection, "M1", "monthly", name_kana="ミセ", name_en="Shop")
        add_confirmed(connection, "1", "2027-01-12 10:00", paid="2027-01-12")
    run_transmission(business, D(SENT_ON), Destination.from_url(str(tmp_path / "transmissions")))
    path = tmp_path / "ack.csv"
    path.write_text("file_name,merchant_id,slip_id,result,code\nVM_20270113.csv,M1,1,rejected,E01\n", encoding="utf-8")
    assert main(["import-acknowledgements", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ack.csv: 1 lines, 1 answers recorded (0 accepted so far), 1 rejected, 0 matching no slip" in out
    assert "rejected: slip 1 of M1 (visa_master, 1,000 yen) in VM_20270113.csv, code E01" in out
    path.write_text(ANSWERS, encoding="utf-8")
    assert main(["import-acknowledgements", str(path)]) == 1  # lines matching no slip: listed, exit 1


def test_a_rejected_slip_is_sent_again_once_and_the_first_file_rebuilds_the_same(transmitted, tmp_path):
    destination = Destination.from_url(str(tmp_path / "transmissions"))
    first_files = files_under(destination.fs, destination.root)
    path = tmp_path / "ack_20270114.csv"
    path.write_text(ANSWERS, encoding="utf-8")
    run_import(transmitted, path, received_on=READ_ON)

    with transmitted.begin() as connection:
        with pytest.raises(AcknowledgementsRefused, match="its sending of 2027-01-13 was accepted"):
            resend_rejected(connection, "M1", "1")
        resent = resend_rejected(connection, "M1", "2")
    assert (resent.merchant_id, resent.slip_id, resent.rejected_on, resent.code) == ("M1", "2", D(SENT_ON), "E12")
    run_transmission(transmitted, D("2027-01-14"), destination)  # Thursday: slip 2 goes again, late
    run_transmission(transmitted, D(SENT_ON), destination)  # Wednesday's files rebuilt

    files = files_under(destination.fs, destination.root)
    assert {name: files[name] for name in first_files} == first_files  # the same bytes
    assert [line.split(",")[1] for line in files["2027-01-14/VM_20270114.csv"].decode().splitlines()[1:-1]] == ['"2"']
    with transmitted.connect() as connection:
        assert marks(connection)["2"] == (D("2027-01-14"), D(SENT_ON), "visa_master")
        with pytest.raises(AcknowledgementsRefused, match="was not answered"):
            resend_rejected(connection, "M1", "2")

    # Visa/Mastercard requires no answer: the closing pays slip 2 as sent again, and slip 1.
    run_payout_closing(transmitted, D("2027-01-31"))
    with transmitted.connect() as connection:
        january = statement(connection, "M1", "2027-01-31")
    assert (january["slip_count"], january["gross_amount"]) == (3, 7000)  # 1,000 + 2,000 + 4,000


def test_the_resend_command(business, tmp_path, capsys):
    with business.begin() as connection:
        add_merchant(connection, "M1", "monthly", name_kana="ミセ", name_en="Shop")
        add_confirmed(connection, "1", "2027-01-12 10:00", paid="2027-01-12")
    run_transmission(business, D(SENT_ON), Destination.from_url(str(tmp_path / "transmissions")))
    assert main(["resend", "M1", "1"]) == 1
    assert "cannot be sent again: its sending of 2027-01-13 was not answered" in capsys.readouterr().err
    path = tmp_path / "ack.csv"
    path.write_text("file_name,merchant_id,slip_id,result,code\nVM_20270113.csv,M1,1,rejected,E01\n", encoding="utf-8")
    assert main(["import-acknowledgements", str(path)]) == 0
    capsys.readouterr()
    assert main(["resend", "M1", "1"]) == 0
    assert capsys.readouterr().out == (
        "slip 1 of M1, rejected in the file of 2027-01-13 (code E01): due again, the next transmission day sends it\n"
    )


def test_the_rejections_go_to_the_operators_address_handed_in(transmitted, tmp_path, monkeypatch):
    monkeypatch.setenv("KESSAI_OPERATOR_EMAIL", "environment@example.jp")
    path = tmp_path / "answers.csv"
    path.write_text(ANSWERS)
    run_import(transmitted, path, received_on=READ_ON, alert_recipient="given@example.jp")
    with transmitted.connect() as connection:
        recipients = (
            connection.execute(select(mail_outbox.c.recipient).where(mail_outbox.c.kind == "operator_alert"))
            .scalars()
            .all()
        )
    assert recipients == ["given@example.jp"]
