"""Where the SMTP settings come from: KESSAI_SMTP_URL, Airflow's smtp_default connection, Mailpit."""

from __future__ import annotations

import json

import pytest

from kessai.mail.smtp_client import SmtpSettings
from kessai_tasks import smtp_settings


def test_a_plain_url_names_host_port_and_our_addresses():
    settings = SmtpSettings.from_url(
        "smtp://mailpit:1025?from=%E6%B1%BA%E6%B8%88%20%3Cnoreply%40kessai.example.jp%3E"
        "&reply_to=support%40kessai.example.jp&timeout=5"
    )
    assert (settings.host, settings.port, settings.use_ssl, settings.starttls) == ("mailpit", 1025, False, False)
    assert settings.sender == "決済 <noreply@kessai.example.jp>"
    assert settings.envelope_sender == "noreply@kessai.example.jp"
    assert settings.reply_to == "support@kessai.example.jp"
    assert settings.domain == "kessai.example.jp"  # the Message-ID domain defaults to the sender's
    assert settings.timeout == 5


def test_url_schemes_choose_the_transport_security_and_its_port():
    starttls = SmtpSettings.from_url("smtp+starttls://kessai:p%40ss@relay.example.jp?from=noreply+kessai@example.jp")
    assert (starttls.port, starttls.starttls, starttls.use_ssl) == (587, True, False)
    assert (starttls.username, starttls.password) == ("kessai", "p@ss")
    assert starttls.sender == "noreply+kessai@example.jp"  # a plus in a query is not a space here
    implicit = SmtpSettings.from_url(
        "smtps://relay.example.jp?verify_certificate=false&message_id_domain=mail.example.jp"
    )
    assert (implicit.port, implicit.use_ssl, implicit.verify_certificate) == (465, True, False)
    assert implicit.domain == "mail.example.jp"


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://localhost:1025", "scheme"),
        ("smtp://localhost:1025?form=a%40b.jp", "unknown option"),
        ("smtp://localhost:1025?from=a%40b.jp%0D%0ABcc%3A%20c%40d.jp", "line break"),
        ("smtp://localhost:1025?from=nobody", "no mail address"),
        ("smtp://localhost:99999", "(?i)port"),
    ],
)
def test_a_wrong_url_is_refused_with_the_reason(url, message):
    with pytest.raises(ValueError, match=message):
        SmtpSettings.from_url(url)


def test_without_url_or_connection_the_default_is_mailpit_on_localhost(monkeypatch):
    monkeypatch.delenv("KESSAI_SMTP_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT", raising=False)
    settings = smtp_settings()
    assert (settings.host, settings.port, settings.use_ssl, settings.starttls) == ("localhost", 1025, False, False)


def test_the_airflow_connection_is_read_as_the_smtp_provider_reads_it(monkeypatch):
    monkeypatch.delenv("KESSAI_SMTP_URL", raising=False)
    # docker-compose.yaml's connection to Mailpit
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "mailpit",
                "port": 1025,
                "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "kessai@example.jp"},
            }
        ),
    )
    settings = smtp_settings()
    assert (settings.host, settings.port, settings.use_ssl, settings.starttls) == ("mailpit", 1025, False, False)
    assert settings.sender == "kessai@example.jp"

    # The provider's defaults: TLS from the start unless disable_ssl; then STARTTLS unless disable_tls.
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "relay.example.jp",
                "login": "kessai",
                "password": "secret",
                "extra": {"from_email": "noreply@example.jp", "reply_to": "support@example.jp", "timeout": "10"},
            }
        ),
    )
    settings = smtp_settings()
    assert (settings.host, settings.port, settings.use_ssl, settings.starttls) == ("relay.example.jp", 465, True, False)
    assert (settings.username, settings.password, settings.timeout) == ("kessai", "secret", 10.0)
    assert settings.reply_to == "support@example.jp"

    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT",
        json.dumps({"conn_type": "smtp", "host": "relay.example.jp", "extra": {"disable_ssl": "true"}}),
    )
    settings = smtp_settings()
    assert (settings.port, settings.use_ssl, settings.starttls) == (587, False, True)

    # KESSAI_SMTP_URL wins over the connection.
    monkeypatch.setenv("KESSAI_SMTP_URL", "smtp://127.0.0.1:2525")
    assert (smtp_settings().host, smtp_settings().port) == ("127.0.0.1", 2525)
