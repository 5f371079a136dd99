"""`python -m kessai cancel` and `change-amount` act on the slip's authorization through the card
gateway the environment names (KESSAI_CARD_GATEWAY_URL: the real HTTP test gateway), on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from kessai.cli import main
from kessai.db.database import make_engine
from kessai.slips.authorizations import VOID_REFUSED_SENTENCE, authorize_slip
from kessai.slips.commands import command_gateway
from support.gateway_server import API_KEY, running_gateway_server
from support.slip_builders import add_merchant, add_slip, jst, slip


@pytest.fixture
def gateway_env(business_database, monkeypatch):
    with running_gateway_server(hold_seconds=2.0) as server:
        monkeypatch.setenv("KESSAI_CARD_GATEWAY", "http")
        monkeypatch.setenv("KESSAI_CARD_GATEWAY_URL", server.url)
        monkeypatch.setenv("KESSAI_CARD_GATEWAY_API_KEY", API_KEY)
        engine = make_engine(business_database)
        with engine.begin() as connection:
            add_merchant(connection, "M1")
            add_slip(connection, "1", date(2026, 8, 31), amount=3000)
            add_slip(connection, "2", date(2026, 8, 31), amount=3000)
        gateway = command_gateway()
        authorize_slip(engine, gateway, "M1", "1", "tok_void_refused_1", jst("2026-08-31"))
        gateway.close()
        yield server, engine
        engine.dispose()


def test_cancel_says_the_faq_sentence_when_the_card_side_refuses_the_void(gateway_env, capsys):
    server, engine = gateway_env
    assert main(["cancel", "M1", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "slip 1 of merchant M1 cancelled"
    assert out[1].startswith(
        VOID_REFUSED_SENTENCE + ": slip 1 of merchant M1: the card company refused the void of 3,000 yen"
    )
    with engine.connect() as connection:
        assert slip(connection, "1").cancelled_at is not None
    assert server.void_requests == 1


def test_change_amount_without_authorization_proceeds_with_a_note(gateway_env, capsys):
    server, engine = gateway_env
    assert main(["change-amount", "M1", "2", "300000"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "slip 2 of merchant M1: amount is now 300,000 yen",
        "slip 2 of merchant M1: no authorization on record; nothing to void at the card company",
    ]
    assert server.authorizations_executed.total() == 1  # slip 1's, at the sale


def test_a_declined_increase_is_one_line_and_changes_nothing(gateway_env, capsys):
    server, engine = gateway_env
    with engine.begin() as connection:
        from kessai.slips.authorizations import record_authorization

        record_authorization(
            connection,
            slip(connection, "2").id,
            3000,
            card_token="tok_decline_2",
            approval_number="000002",
            transaction_id="elsewhere-2",
            authorized_at=jst("2026-08-31"),
        )
    assert main(["change-amount", "M1", "2", "300000"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "refused (authorization_declined): slip 2 of merchant M1: the card company declined the "
        "authorization of 297,000 yen (insufficient_funds); the amount stays 3,000 yen"
    ]
    with engine.connect() as connection:
        assert slip(connection, "2").amount == 3000


def test_an_http_gateway_without_its_url_is_a_one_line_error(business_database, monkeypatch, capsys):
    monkeypatch.setenv("KESSAI_CARD_GATEWAY", "http")
    monkeypatch.delenv("KESSAI_CARD_GATEWAY_URL", raising=False)
    assert main(["cancel", "M1", "1"]) == 1
    assert capsys.readouterr().err.startswith("error: KESSAI_CARD_GATEWAY=http needs KESSAI_CARD_GATEWAY_URL")
