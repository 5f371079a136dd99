"""No secret in output (kessai.masking): the database URL, the SMTP URL and the card gateway's key
never appear in what is printed, logged or raised."""

from __future__ import annotations

import logging

import pytest

from kessai.gateway.card_gateway import HTTP, CardGatewaySettings
from kessai.gateway.http_gateway import HttpCardGateway
from kessai.mail.smtp_client import SmtpSession, SmtpSettings, SmtpUnavailable
from kessai.masking import mask_text, mask_url
from support.gateway_server import API_KEY, gateway_server  # noqa: F401 (a fixture)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql+psycopg://postgres:S3cretPW@db.example:5432/kessai",
            "postgresql+psycopg://postgres:***@db.example:5432/kessai",
        ),
        ("postgresql://kessai:p%40ss%2Fw@kessai-db/kessai", "postgresql://kessai:***@kessai-db/kessai"),
        (
            "smtp+starttls://mailer:S3cretPW@smtp.example:587?from=noreply%40example.jp",
            "smtp+starttls://mailer:***@smtp.example:587?from=noreply%40example.jp",
        ),
        ("https://gateway:S3cretPW@gateway.example/v1", "https://gateway:***@gateway.example/v1"),
        # No password: as it was.
        ("sqlite:////opt/kessai/var/kessai.sqlite", "sqlite:////opt/kessai/var/kessai.sqlite"),
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://postgres@127.0.0.1:5432/test"),
        ("smtp://localhost:1025", "smtp://localhost:1025"),
        ("s3://bucket/transmissions", "s3://bucket/transmissions"),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def test_mask_text_masks_urls_and_given_secrets_and_the_environments(monkeypatch):
    monkeypatch.setenv("KESSAI_DATABASE_URL", "postgresql://kessai:Pw%2Fin%40env@db/kessai")
    text = (
        "could not reach smtp://mailer:S3cretPW@smtp.example:25 with key sk_live_abc; "
        "the database said: password Pw/in@env refused"
    )
    masked = mask_text(text, ["sk_live_abc"])
    assert masked == (
        "could not reach smtp://mailer:***@smtp.example:25 with key ***; the database said: password *** refused"
    )


def test_smtp_settings_never_show_the_password():
    settings = SmtpSettings.from_url("smtp://mailer:S3cretPW@smtp.example:587")
    assert settings.password == "S3cretPW"
    assert "S3cretPW" not in repr(settings) and "S3cretPW" not in settings.describe()
    for url in (
        "smtpx://mailer:S3cretPW@smtp.example",
        "smtp://mailer:S3cretPW@smtp.example:99999",
        "smtp://mailer:S3cretPW@smtp.example?nope=1",
    ):
        with pytest.raises(ValueError) as refused:
            SmtpSettings.from_url(url)
        assert "S3cretPW" not in str(refused.value)
    with pytest.raises(ValueError, match=r"SMTP URL 'smtpx://mailer:\*\*\*@smtp.example': the scheme"):
        SmtpSettings.from_url("smtpx://mailer:S3cretPW@smtp.example")


def test_an_unreachable_smtp_server_is_named_without_the_password(caplog):
    settings = SmtpSettings.from_url("smtp://mailer:S3cretPW@127.0.0.1:9?timeout=1")  # nothing listens on 9
    with caplog.at_level(logging.DEBUG), pytest.raises(SmtpUnavailable) as unavailable:
        with SmtpSession(settings) as session:
            session.send(b"Subject: x\r\n\r\nx", "someone@example.jp")
    assert "127.0.0.1:9" in str(unavailable.value)
    assert "S3cretPW" not in str(unavailable.value) and "S3cretPW" not in caplog.text


def test_the_gateway_key_and_a_password_in_its_url_are_never_shown(gateway_server, caplog):  # noqa: F811
    settings = CardGatewaySettings(kind=HTTP, base_url="https://gw:S3cretPW@gateway.example", api_key="sk_live_secret")
    for shown in (repr(settings), str(settings)):
        assert "sk_live_secret" not in shown and "S3cretPW" not in shown and "gw:***@gateway.example" in shown

    host = gateway_server.url.split("://", 1)[1]
    gateway = HttpCardGateway(
        CardGatewaySettings(
            kind=HTTP, base_url=f"http://gw:S3cretPW@{host}", api_key="sk_wrong", timeout=0.5, max_retries=0
        )
    )
    # Refused credentials are a gateway fault (the slip stays chargeable), logged for the operators.
    with caplog.at_level(logging.ERROR, logger="kessai.gateway.http_gateway"):
        result = gateway.charge("k-masked", "tok_ok_visa", 500, reference="1")
    assert result.reason == "credentials_refused"
    [logged] = [record.getMessage() for record in caplog.records if "refused the credentials" in record.getMessage()]
    assert "gw:***@" in logged
    assert "S3cretPW" not in logged and "sk_wrong" not in logged and API_KEY not in logged
