"""An outbox row as a MIME message: Japanese text in UTF-8, an optional CSV attachment.

Nothing from a row reaches a header unchecked: a recipient must be exactly one valid address and
no header value may contain a line break, so a row can never add headers or recipients.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

import email_validator

from kessai.calendar.run_dates import JAPAN
from kessai.mail.smtp_client import SmtpSettings, has_line_break

BYTE_ORDER_MARK = "\ufeff"


class BadMail(ValueError):
    """An outbox row that must never be sent as it stands (the reason says why)."""


def envelope_recipient(recipient: str) -> str:
    """The recipient as an ASCII address for RCPT TO and the To header (an international domain
    becomes its xn-- form); raises BadMail unless it is exactly one valid address."""
    if has_line_break(recipient):
        raise BadMail(f"recipient {recipient!r} contains a line break (header injection refused)")
    try:
        # Syntax only: whether the domain receives mail is the SMTP server's answer to give.
        checked = email_validator.validate_email(
            recipient, check_deliverability=False, allow_smtputf8=False, globally_deliverable=False
        )
    except email_validator.EmailNotValidError as error:
        raise BadMail(f"recipient {recipient!r} is not a single valid mail address: {error}") from None
    assert checked.ascii_email is not None  # allow_smtputf8=False: an ASCII address, or refused above
    return checked.ascii_email


def message_id(mail_id: int, created_at: datetime, domain: str) -> str:
    """The same for every attempt at one outbox row, so a resend after a crash is recognisably the
    same mail; the creation time keeps ids apart between databases that reuse mail_ids."""
    return f"<kessai.{mail_id}.{created_at.strftime('%Y%m%d%H%M%S')}@{domain}>"


def _check_header_text(what: str, value: str) -> None:
    if has_line_break(value):
        raise BadMail(f"{what} {value!r} contains a line break (header injection refused)")
    if any(unicodedata.category(character) == "Cc" and character != "\t" for character in value):
        raise BadMail(f"{what} {value!r} contains a control character")


def build_message(row, settings: SmtpSettings, now: datetime) -> tuple[bytes, str]:
    """The message for an outbox row, as the bytes to send, and the address to send it to;
    raises BadMail for a row that must not be sent."""
    recipient = envelope_recipient(row.recipient)
    _check_header_text("subject", row.subject)
    if row.attachment_name is not None:
        _check_header_text("attachment name", row.attachment_name)
        if not row.attachment_name.strip():
            raise BadMail("the attachment name is empty")
        if row.attachment_content is None:
            raise BadMail(f"attachment {row.attachment_name!r} has no content")

    message = EmailMessage(policy=policy.SMTP)
    message["From"] = settings.sender
    message["To"] = recipient
    if settings.reply_to:
        message["Reply-To"] = settings.reply_to
    message["Subject"] = row.subject  # non-ASCII becomes an RFC 2047 encoded-word
    message["Date"] = format_datetime(now.astimezone(JAPAN))
    message["Message-ID"] = message_id(row.mail_id, row.created_at, settings.domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to the batch
    # base64 keeps the UTF-8 body intact through any relay, 8BITMIME or not.
    message.set_content(row.body, charset="utf-8", cte="base64")
    if row.attachment_name is not None:
        message.add_attachment(
            csv_bytes(row.attachment_content),
            maintype="text",
            subtype="csv",
            filename=row.attachment_name,
            params={"charset": "utf-8"},
        )
    return message.as_bytes(), recipient


def csv_bytes(content: str) -> bytes:
    """UTF-8 with a byte order mark: Excel in Japan opens such a file as UTF-8 on a double click
    (without the mark it guesses Shift_JIS and garbles it), and no character is lost to Shift_JIS."""
    return (content if content.startswith(BYTE_ORDER_MARK) else BYTE_ORDER_MARK + content).encode("utf-8")
