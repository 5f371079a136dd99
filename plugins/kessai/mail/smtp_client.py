"""Talking to the SMTP server: its settings, and one connection reused for a run of mails.

The settings are a plain value; where they come from (KESSAI_SMTP_URL, or Airflow's `smtp_default`
connection) is decided at the task or command boundary.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.utils import parseaddr

from kessai.mail.smtp_url import DEFAULT_SENDER, parse_smtp_url  # noqa: F401 (kessai.mail.smtp_client's names)
from kessai.settings import DEFAULT_SMTP_URL, SMTP_URL_VARIABLE, Settings, environment_setting  # noqa: F401

log = logging.getLogger(__name__)


class SmtpUnavailable(RuntimeError):
    """The SMTP server cannot be reached or refuses our login: no mail can go out in this run."""


class SendFailure(Exception):
    """The server did not accept one mail. `bounce`: it permanently refused the recipient (5xx on RCPT)."""

    def __init__(self, reason: str, *, bounce: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.bounce = bounce


def has_line_break(value: str) -> bool:
    return len(f"{value}.".splitlines()) > 1


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send: the server, the login, the transport security, our own addresses."""

    host: str = "localhost"
    port: int = 1025
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log or an error
    use_ssl: bool = False  # TLS from the first byte (port 465)
    starttls: bool = False  # upgrade a plain connection (port 587)
    timeout: float = 30.0
    sender: str = DEFAULT_SENDER  # the From header, e.g. "決済サービス <noreply@example.jp>"
    reply_to: str | None = None
    message_id_domain: str | None = None  # default: the sender's domain
    verify_certificate: bool = True

    def __post_init__(self):
        if self.use_ssl and self.starttls:
            raise ValueError("SMTP settings: use either implicit TLS (use_ssl) or STARTTLS, not both")
        if not 0 < self.port < 65536:
            raise ValueError(f"SMTP settings: port {self.port} is not a TCP port")
        for name in ("sender", "reply_to", "message_id_domain"):
            value = getattr(self, name)
            if value is not None and has_line_break(value):
                raise ValueError(f"SMTP settings: {name} {value!r} contains a line break")
        if "@" not in self.envelope_sender:
            raise ValueError(f"SMTP settings: sender {self.sender!r} has no mail address")

    @property
    def envelope_sender(self) -> str:
        """The bare address of the sender, for MAIL FROM (bounces come back to it)."""
        return parseaddr(self.sender)[1]

    @property
    def domain(self) -> str:
        return self.message_id_domain or self.envelope_sender.rpartition("@")[2]

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        """smtp://[user:password@]host[:port][?from=...&reply_to=...&message_id_domain=...&timeout=...]
        (kessai.mail.smtp_url)."""
        return cls(**parse_smtp_url(url))

    @classmethod
    def from_environment(cls) -> SmtpSettings:
        """KESSAI_SMTP_URL, else Mailpit on localhost:1025."""
        return cls.from_url(environment_setting("smtp_url") or DEFAULT_SMTP_URL)

    @classmethod
    def of(cls, settings: Settings) -> SmtpSettings:
        """The server a Settings names (smtp_url), else Mailpit on localhost:1025."""
        return cls.from_url(settings.smtp_url or DEFAULT_SMTP_URL)

    def describe(self) -> str:
        security = "TLS" if self.use_ssl else "STARTTLS" if self.starttls else "plain"
        return f"{self.host}:{self.port} ({security})"


class SmtpSession:
    """One SMTP connection, opened at the first mail, reused for the next ones, re-opened once when
    the server has dropped it, and closed with QUIT at the end."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self._client: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSession:
        return self

    def __exit__(self, *_exc) -> None:
        if self._client is not None:
            try:
                self._client.quit()
            except (smtplib.SMTPException, OSError):
                pass  # the mails are delivered or recorded; a failing goodbye changes nothing
            self._discard()

    def send(self, message: bytes, recipient: str) -> None:
        """Send one mail to one recipient; returns once the server has said 250 to its data.

        Raises SendFailure when the server refuses it or the connection breaks twice, and
        SmtpUnavailable when no connection can be made at all.
        """
        for attempt in (1, 2):
            client = self._connected()
            try:
                client.sendmail(self.settings.envelope_sender, [recipient], message)
                return
            except smtplib.SMTPRecipientsRefused as error:
                code, text = next(iter(error.recipients.values()))
                raise SendFailure(f"{code} {_text(text)} (RCPT TO)", bounce=500 <= code < 600) from None
            except smtplib.SMTPSenderRefused as error:
                raise SendFailure(f"{error.smtp_code} {_text(error.smtp_error)} (MAIL FROM)") from None
            except smtplib.SMTPDataError as error:
                raise SendFailure(f"{error.smtp_code} {_text(error.smtp_error)} (DATA)") from None
            except (smtplib.SMTPServerDisconnected, ConnectionError) as error:
                self._discard()
                if attempt == 2:
                    raise SendFailure(f"connection lost: {error}") from None
                log.info("SMTP %s dropped the connection (%s); reconnecting", self.settings.describe(), error)
            except (smtplib.SMTPException, OSError) as error:  # a timeout, a protocol error
                self._discard()
                raise SendFailure(f"{type(error).__name__}: {error}") from None
            finally:
                if self._client is not None and self._client.sock is None:
                    self._discard()  # smtplib closes the socket itself on a 421

    def _connected(self) -> smtplib.SMTP:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        context = ssl.create_default_context()
        if not settings.verify_certificate:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            client: smtplib.SMTP
            if settings.use_ssl:
                client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
            else:
                client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
            client.ehlo()
            if settings.starttls:
                client.starttls(context=context)
                client.ehlo()
            if settings.username:
                client.login(settings.username, settings.password or "")
        except (smtplib.SMTPException, OSError) as error:
            raise SmtpUnavailable(f"SMTP server {settings.describe()}: {type(error).__name__}: {error}") from error
        return client

    def _discard(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
