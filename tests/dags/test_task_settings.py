"""The task layer's settings (plugins/kessai_tasks.py): a Settings handed to its helpers is what
they use, whatever the workers' environment says; without one they read the environment."""

from __future__ import annotations

from datetime import datetime

from kessai.calendar.run_dates import JAPAN
from kessai.settings import Settings
from kessai_tasks import business_engine, card_gateway_settings, clock_now, smtp_settings


def test_the_clock_and_the_database_handed_in(monkeypatch, tmp_path):
    monkeypatch.setenv("KESSAI_AS_OF", "2031-01-01T00:00:00+09:00")
    monkeypatch.setenv("KESSAI_DATABASE_URL", f"sqlite:///{tmp_path / 'environment.sqlite'}")
    given = Settings(as_of=datetime(2027, 1, 5, 6, tzinfo=JAPAN), database_url=f"sqlite:///{tmp_path / 'given.sqlite'}")
    assert clock_now(given) == datetime(2027, 1, 5, 6, tzinfo=JAPAN)
    assert clock_now() == datetime(2031, 1, 1, tzinfo=JAPAN)
    with business_engine(given) as engine:
        assert engine.url.database == str(tmp_path / "given.sqlite")
    with business_engine() as engine:
        assert engine.url.database == str(tmp_path / "environment.sqlite")


def test_the_smtp_server_and_card_gateway_handed_in(monkeypatch, tmp_path):
    monkeypatch.setenv("KESSAI_SMTP_URL", "smtp://environment.example:25")
    monkeypatch.setenv("KESSAI_CARD_GATEWAY", "http")  # without a connection: refused, were it read
    monkeypatch.setenv("KESSAI_CHARGE_CONCURRENCY", "many")
    smtp = smtp_settings(Settings(smtp_url="smtps://given.example?from=noreply@example.jp"))
    assert (smtp.host, smtp.port, smtp.sender) == ("given.example", 465, "noreply@example.jp")
    assert smtp_settings().host == "environment.example"
    gateway = card_gateway_settings(Settings(card_gateway="simulator", home=tmp_path, charge_concurrency="3"))
    assert (gateway.kind, gateway.concurrency) == ("simulator", 3)
    assert gateway.simulator_ledger == str(tmp_path / "card-gateway-simulator.sqlite")
