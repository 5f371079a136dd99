"""The customer's re-payment request carries a signed, expiring link built from the merchant's
template, or the merchant's own instructions; the token verifies with nothing but the secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from kessai.db.schema import merchants
from kessai.gateway.card_gateway import SimulatorGateway
from kessai.recurring.charge import ChargeOptions, charge_cycle
from kessai.recurring.cycle import ChargeCycle
from kessai.recurring.failures import notify_failures
from kessai.recurring.repayment_links import BadLinkTemplate, LinkSecretMissing, check_template, repayment_link, verify
from kessai.recurring.slips import create_recurring_slips
from support.recurring_charge_data import add_merchant, add_subscription, clock, japan_time, outbox_rows

D = date.fromisoformat
FEBRUARY = ChargeCycle(D("2027-02-01"), D("2027-03-01"))
SECRET = b"test-secret-0123456789-abcdefghij"  # 33 characters
TEMPLATE = "https://shop-m1.example/repay?slip={slip_id}&token={token}"


def independent_token(secret: bytes, message: str) -> str:
    """The signature as the online side computes it, written out here without the package."""
    mac = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def test_a_link_token_is_the_expiry_and_an_hmac_the_online_side_can_check():
    link = repayment_link(TEMPLATE, SECRET, "M1", "900000000002202702", D("2027-03-01"))
    # Written 2027-03-01: valid through 30 days later, 2027-03-31.
    assert link.expires_on == D("2027-03-31")
    query = parse_qs(urlsplit(link.url).query)
    assert urlsplit(link.url)[:3] == ("https", "shop-m1.example", "/repay")
    assert query["slip"] == ["900000000002202702"]
    token = query["token"][0]
    assert token == "20270331." + independent_token(SECRET, "M1:900000000002202702:20270331")
    assert verify(SECRET, "M1", "900000000002202702", token, D("2027-03-31"))
    assert not verify(SECRET, "M1", "900000000002202702", token, D("2027-04-01"))  # expired
    assert not verify(SECRET, "M1", "900000000003202702", token, D("2027-03-02"))  # another slip
    assert not verify(SECRET, "M2", "900000000002202702", token, D("2027-03-02"))  # another merchant
    assert not verify(b"another-secret-0123456789-abcdefgh", "M1", "900000000002202702", token, D("2027-03-02"))
    forged = "20270430." + token.split(".")[1]  # a later expiry with the old signature
    assert not verify(SECRET, "M1", "900000000002202702", forged, D("2027-03-02"))


@pytest.mark.parametrize(
    "template, message",
    [
        ("http://shop.example/repay?slip={slip_id}&token={token}", "must start with https://"),
        ("https://shop.example/repay?slip={slip_id}", "lacks token"),
        ("https://shop.example/repay?slip={slip_id}&token={token}&amount={amount}", "unknown field"),
        ("https://shop.example/repay?slip={slip_id&token={token}", "malformed"),
    ],
)
def test_a_template_that_can_make_no_link_is_named(template, message):
    with pytest.raises(BadLinkTemplate, match=message):
        check_template(template)


def test_no_secret_or_a_short_one_refuses_to_build_a_link():
    with pytest.raises(
        LinkSecretMissing,
        match=r"^merchant M1 has a re-payment link template but KESSAI_REPAYMENT_LINK_SECRET is not set",
    ):
        repayment_link(TEMPLATE, None, "M1", "900000000002202702", D("2027-03-01"))
    with pytest.raises(LinkSecretMissing, match="shorter than 32 characters"):
        repayment_link(TEMPLATE, b"short", "M1", "900000000002202702", D("2027-03-01"))


def seed_and_charge(engine, **merchant_values) -> None:
    """M1 (re-payment mails on) with one declined subscription; M2 likewise, with instructions."""
    with engine.begin() as connection:
        add_merchant(connection, "M1", repayment_mail=True)
        add_merchant(connection, "M2", repayment_mail=True)
        connection.execute(update(merchants).where(merchants.c.merchant_id == "M1").values(**merchant_values))
        connection.execute(
            update(merchants)
            .where(merchants.c.merchant_id == "M2")
            .values(
                repayment_instructions="マイページ（https://shop-m2.example/mypage）の「お支払い方法の変更」から\nカードを登録し直してください。"
            )
        )
        add_subscription(
            connection, "S-M1", "M1", token="tok_decline_1", amount=3300, created_at=japan_time(2027, 1, 2)
        )
        add_subscription(connection, "S-M2", "M2", token="tok_decline_2", amount=500, created_at=japan_time(2027, 1, 3))
        create_recurring_slips(connection, FEBRUARY)
    with engine.connect() as connection:
        charge_cycle(connection, FEBRUARY, SimulatorGateway(), clock=clock, options=ChargeOptions(concurrency=2))


def requests_by_recipient(engine) -> dict[str, dict]:
    with engine.connect() as connection:
        return {m["recipient"]: m for m in outbox_rows(connection) if m["kind"] == "recurring_repayment_request"}


def test_the_request_carries_the_merchant_s_link_or_its_instructions(engine):
    seed_and_charge(engine, repayment_url_template=TEMPLATE)
    with engine.begin() as connection:
        summary = notify_failures(connection, FEBRUARY, clock=clock, repayment_link_secret=SECRET)
    assert summary.repayment_requests == 2 and summary.bad_link_templates == []
    requests = requests_by_recipient(engine)
    m1 = requests["s-m1@customer.example"]["body"]
    token = "20270331." + independent_token(SECRET, "M1:900000000001202702:20270331")
    assert (
        "お手数ですが、カードの有効期限やご利用可能額をご確認のうえ、\n"
        "次のページから再決済のお手続きをお願いいたします。\n\n"
        f"  https://shop-m1.example/repay?slip=900000000001202702&token={token}\n\n"
        "このページは2027年3月31日までご利用いただけます。\n"
    ) in m1
    assert "お問い合わせ先: テスト商店M1（m1@merchant.example）" in m1
    assert SECRET.decode() not in m1
    m2 = requests["s-m2@customer.example"]["body"]
    assert (
        "テスト商店M2からの次のご案内に沿って、再決済のお手続きをお願いいたします。\n\n"
        "  マイページ（https://shop-m2.example/mypage）の「お支払い方法の変更」から\n"
        "  カードを登録し直してください。\n"
    ) in m2
    assert "repay?" not in m2


def test_a_template_without_the_secret_refuses_and_sends_nothing(engine):
    seed_and_charge(engine, repayment_url_template=TEMPLATE)
    with engine.connect() as connection:
        with pytest.raises(LinkSecretMissing, match="run notify_failures again"):
            notify_failures(connection, FEBRUARY, clock=clock, repayment_link_secret=None)
        connection.rollback()
        assert outbox_rows(connection) == []


def test_a_bad_template_falls_back_to_the_instructions_and_is_named(engine):
    seed_and_charge(
        engine,
        repayment_url_template="http://shop-m1.example/repay?slip={slip_id}&token={token}",
        repayment_instructions="お電話（03-0000-0000）でお申し付けください。",
    )
    with engine.begin() as connection:
        summary = notify_failures(connection, FEBRUARY, clock=clock, repayment_link_secret=SECRET)
    assert summary.bad_link_templates == ["M1"]
    m1 = requests_by_recipient(engine)["s-m1@customer.example"]["body"]
    assert "  お電話（03-0000-0000）でお申し付けください。\n" in m1
    assert "http://shop-m1.example" not in m1
