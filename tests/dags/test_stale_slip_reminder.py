"""The stale_slip_reminder DAG end to end: real Airflow task runs (dag.test), the business
database on SQLite and PostgreSQL, the mails delivered to a real SMTP server."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from sqlalchemy import func, select

from kessai.db.schema import mail_outbox, slip_events, slips, stale_slip_digests
from support.japan_time import D
from support.stale_slip_builders import add_merchant, add_slip

DAG_ID = "stale_slip_reminder"
OPERATORS = "ops@kessai.example"


def run(run_dag, day: str, **params) -> dict:
    """Run the DAG for one business day; returns what each task returned (read at once: the run
    object does not outlive the next run)."""
    dag_run = run_dag(DAG_ID, day, **params)
    assert dag_run.state == "success", f"the run of {day} failed; see its task log"
    return {ti.task_id: ti.xcom_pull(task_ids=ti.task_id) for ti in dag_run.get_task_instances()}


def slip_numbers(text: str) -> list[str]:
    return [
        line.split("　")[0].removeprefix("・伝票番号 ") for line in text.splitlines() if line.startswith("・伝票番号")
    ]


def sections(text: str) -> dict[str, list[str]]:
    """The slip numbers a digest lists by section (its heading up to "の伝票" or "伝票")."""
    listed: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("■ ") and "伝票（" in line:
            current = listed.setdefault(line.removeprefix("■ ").split("伝票（")[0].removesuffix("の"), [])
        elif line.startswith("・伝票番号"):
            current.extend(slip_numbers(line))
    return listed


def test_weekly_digests_expiry_and_a_backfill(run_dag, business, smtp_server):
    registered = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    with business.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        for paid in ["2026-11-25", "2026-11-30", "2026-12-01", "2026-12-02"]:
            add_slip(connection, "M1", paid[5:7] + paid[8:], paid)
        add_slip(connection, "M1", "831", "2026-08-31")  # deadline 2027-02-28 (clipped), a Sunday
        add_slip(connection, "M1", "901", "2026-09-01")  # deadline 2027-03-01, a Monday
        # Never mailed: confirmed, or cancelled, though as old as the others.
        add_slip(
            connection, "M1", "9001", "2026-11-20", confirmed_on=D("2026-12-01"), confirmation_registered_at=registered
        )
        add_slip(connection, "M1", "9002", "2026-11-20", cancelled_at=registered)

    # Monday 3/1, Tuesday 3/2 and the next Monday 3/8.
    runs = {day: run(run_dag, day) for day in ["2027-03-01", "2027-03-02", "2027-03-08"]}

    mails = smtp_server.messages_to("m1@example.jp")
    assert [(m.subject, sections(m.text)) for m in mails] == [
        # 3/1 states the slips stale by then (paid by 12/1); 901's deadline is that day, within 14
        # days; 831's was 2/28, so 3/1 closes it and lists it as expired.
        (
            "【ASJペイメント・重要】決済確定期限が近い売上伝票がございます（2027年3月1日現在・未確定4件）",
            {
                "確定期限まで14日以内": ["901"],
                "そのほかの未確定": ["1125", "1130", "1201"],
                "確定期限を過ぎた": ["831"],
            },
        ),
        # 3/2 closes 901 and mails nothing; the next week's digest lists it as expired.
        (
            "【ASJペイメント】決済確定処理がお済みでない売上伝票のお知らせ（2027年3月8日現在・4件）",
            {"未確定": ["1125", "1130", "1201", "1202"], "確定期限を過ぎた": ["901"]},
        ),
    ]
    first = mails[0].text
    assert "・伝票番号 1130　金額 1,000円　入金日 2026年11月30日　確定期限 2027年5月30日" in first
    assert "ASJ管理画面 > 売上の管理 にて\n　決済確定状況：未確定\n　取消状況：未キャンセル" in first
    assert "入金日から6ヶ月経過した伝票は処理することができません" in first
    assert runs["2027-03-01"]["remind"]["digests"]["open_slips"] == 4
    assert runs["2027-03-02"]["remind"]["mails"] == 0 and runs["2027-03-02"]["remind"]["expired_marked"] == 1
    assert runs["2027-03-08"]["report"] == {"business_date": "2027-03-08", "sent": 1, "waiting": 0, "given_up": []}

    with business.connect() as connection:
        expired = dict(
            connection.execute(select(slips.c.slip_id, slips.c.expired_on).where(slips.c.expired_on.is_not(None))).all()
        )
        events = connection.execute(select(func.count()).select_from(slip_events)).scalar()
    # Expired the day after the deadline.
    assert expired == {"831": D("2027-03-01"), "901": D("2027-03-02")}
    assert events == 2

    # A backfill of Friday 2/26 after the later weeks ran finds nothing new and sends nothing.
    assert run(run_dag, "2027-02-26")["remind"]["mails"] == 0
    assert len(smtp_server.messages) == 2
    with business.connect() as connection:
        assert connection.execute(select(func.count()).select_from(mail_outbox)).scalar() == 2
        assert connection.execute(select(func.count()).select_from(stale_slip_digests)).scalar() == 2


def test_operators_hear_of_a_merchant_without_address_and_of_a_bounce(run_dag, business, smtp_server, monkeypatch):
    monkeypatch.setenv("KESSAI_OPERATOR_EMAIL", OPERATORS)
    monkeypatch.setenv("KESSAI_STALE_SLIP_INLINE_LIMIT", "1")
    smtp_server.refuse_recipient("m3@example.jp", 550)
    with business.begin() as connection:
        add_merchant(connection, "M2", None)
        add_merchant(connection, "M3", "m3@example.jp")
        add_slip(connection, "M2", "21", "2026-10-01")
        add_slip(connection, "M3", "31", "2026-10-02")
        add_slip(connection, "M3", "32", "2026-10-04")

    # Tuesday 2027-01-05: the week's digests state Monday 1/4, stale if paid by 2026-10-04. A dry
    # run writes and sends nothing.
    dry = run(run_dag, "2027-01-05", dry_run=True)
    assert dry["remind"]["merchants_without_email"] == ["M2"] and dry["remind"]["dry_run"]
    assert smtp_server.messages == []
    with business.connect() as connection:
        assert connection.execute(select(func.count()).select_from(mail_outbox)).scalar() == 0
        assert connection.execute(select(func.count()).select_from(stale_slip_digests)).scalar() == 0

    outputs = run(run_dag, "2027-01-05")
    summary = outputs["remind"]
    assert summary["merchants_without_email"] == ["M2"]
    assert (summary["mails"], summary["operator_alerts"]) == (1, 1)

    # Nothing goes to the operators alone: the notices wait for the day's operator digest.
    assert smtp_server.messages_to(OPERATORS) == []
    digest_run = run_dag("operator_digest", "2027-01-05")
    assert digest_run.state == "success"
    (digest,) = smtp_server.messages_to(OPERATORS)
    assert digest.subject == "[kessai] 運用担当者への本日のお知らせ 2027年1月5日（対応待ち2件）"
    # M2 has no address: the operators get the list instead.
    assert (
        "・[kessai] メールアドレス未登録の店舗: M2 M2商店（未確定伝票のお知らせ 2027年1月4日現在 未確定1件・期限切れ0件）\n"
    ) in digest.text
    assert slip_numbers(digest.text) == ["21"]
    # M3's address bounced (550 at RCPT): the delivery wrote a notice for the digest, and this
    # run's report names the merchant. Its two slips went as a CSV (more than the limit of 1).
    assert "■ 送信できなかったメール（1件）" in digest.text
    assert "m3@example.jp" in digest.text and "stale_slip_digest" in digest.text
    (given_up,) = outputs["report"]["given_up"]
    assert {key: given_up[key] for key in ("merchant_id", "period", "recipient", "slips")} == {
        "merchant_id": "M3",
        "period": "2027-W01",
        "recipient": "m3@example.jp",
        "slips": 2,
    }
    with business.connect() as connection:
        attachment = connection.execute(
            select(mail_outbox.c.attachment_content).where(mail_outbox.c.mail_id == given_up["mail_id"])
        ).scalar_one()
    assert [row[1] for row in csv.reader(io.StringIO(attachment))] == ["伝票番号", '="31"', '="32"']
    assert smtp_server.messages_to("m3@example.jp") == []


def test_expiry_voids_the_expired_slips_authorizations_through_the_gateway(run_dag, business, smtp_server, monkeypatch):
    """The simulator of KESSAI_HOME (the DAG's gateway): 831 expires on 3/1 with its authorization
    voided; 832's void is refused by the card side, mailed to the merchant and the operators once."""
    from kessai.db.database import kessai_home
    from kessai.db.schema import slip_authorizations
    from kessai.gateway.card_gateway import SimulatorGateway
    from kessai.slips.authorizations import VOID_REFUSED_SENTENCE, authorize_slip

    monkeypatch.setenv("KESSAI_CARD_GATEWAY", "simulator")
    monkeypatch.setenv("KESSAI_OPERATOR_EMAIL", OPERATORS)
    with business.begin() as connection:
        add_merchant(connection, "M1", "m1@example.jp")
        add_slip(connection, "M1", "831", "2026-08-31")
        add_slip(connection, "M1", "832", "2026-08-31")
    gateway = SimulatorGateway(kessai_home() / "card-gateway-simulator.sqlite")
    at = datetime(2026, 8, 31, 3, 0, tzinfo=UTC)
    authorize_slip(business, gateway, "M1", "831", "tok_ok_1", at)
    authorize_slip(business, gateway, "M1", "832", "tok_void_refused_1", at)

    first = run(run_dag, "2027-03-01")
    assert first["remind"]["expiry_voids_planned"] == 2
    assert {k: first["release_holds"][k] for k in ("voided", "refused", "merchant_mails", "operator_mails")} == {
        "voided": 1,
        "refused": 1,
        "merchant_mails": 1,
        "operator_mails": 1,
    }
    again = run(run_dag, "2027-03-01")
    assert again["release_holds"]["voided"] == 0 and again["release_holds"]["merchant_mails"] == 0
    assert [amount for *_, amount in gateway.executed_voids()] == [1000]
    with business.connect() as connection:
        states = (
            connection.execute(select(slip_authorizations.c.state).order_by(slip_authorizations.c.slip_row_id))
            .scalars()
            .all()
        )
    assert states == ["expired", "void_refused"]
    [merchant_mail] = [m for m in smtp_server.messages_to("m1@example.jp") if "与信" in m.subject]
    assert VOID_REFUSED_SENTENCE in merchant_mail.text and "伝票番号 832" in merchant_mail.text
    assert len(smtp_server.messages_to(OPERATORS)) == 1
    gateway.close()
