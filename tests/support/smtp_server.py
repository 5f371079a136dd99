"""A real SMTP server for tests (aiosmtpd in a thread on a free localhost port).

It keeps every mail it accepted, parsed, and can be told to misbehave the way real servers do:
refuse a recipient, answer the next mails with a temporary (or permanent) error, drop the
connection half-way, or hold a mail until the test lets it through.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import deque
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ReceivedMail(EmailMessage):
    """A mail as the server received it, with its envelope and decoded parts."""

    envelope_from: str = ""
    envelope_to: list[str] = []
    raw: bytes = b""  # the message as it came over the wire

    @property
    def subject(self) -> str:
        return str(self["Subject"])  # RFC 2047 decoded

    @property
    def text(self) -> str:
        """The plain-text body, decoded, with \\n line ends."""
        return self.get_body(("plain",)).get_content().replace("\r\n", "\n")

    def attachments(self) -> dict[str, bytes]:
        """File name -> the attachment's bytes, exactly as sent."""
        return {part.get_filename(): part.get_payload(decode=True) for part in self.iter_attachments()}


class Hold:
    """A mail the server keeps waiting for its final reply until release()."""

    def __init__(self):
        self.reached = threading.Event()  # the mail's data is in, the reply is held
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()


class SmtpTestServer:
    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.port = free_port()
        self.messages: list[ReceivedMail] = []
        self._lock = threading.Lock()
        self._refused: dict[str, int] = {}
        self._failures: deque[int] = deque()
        self._drops: deque[str] = deque()
        self._holds: deque[Hold] = deque()
        self._every_hold: list[Hold] = []  # released at stop(), so no test leaves a mail hanging
        self._controller = Controller(_Handler(self), hostname=host, port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        for hold in self._every_hold:
            hold.release()
        self._controller.stop()

    # -- misbehaviour, for the next mails ------------------------------------------------------

    def refuse_recipient(self, address: str, code: int = 550) -> None:
        """Answer RCPT TO for this address with `code` (550: user unknown, 450: mailbox busy)."""
        self._refused[address.lower()] = code

    def fail_next(self, n: int, code: int = 451) -> None:
        """Answer the end of the next n mails' data with `code` instead of 250."""
        self._failures.extend([code] * n)

    def drop_next(self, n: int, after: str = "DATA") -> None:
        """Close the connection in the next n transactions, after MAIL FROM ("MAIL") or after the
        data but before the reply ("DATA")."""
        if after not in ("MAIL", "DATA"):
            raise ValueError(after)
        self._drops.extend([after] * n)

    def hold_next(self) -> Hold:
        """Keep the next mail waiting for its 250 (the mail is stored once released)."""
        hold = Hold()
        self._holds.append(hold)
        self._every_hold.append(hold)
        return hold

    # -- what arrived --------------------------------------------------------------------------

    def messages_to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.messages if address.lower() in (a.lower() for a in m.envelope_to)]

    def by_message_id(self) -> dict[str, list[ReceivedMail]]:
        grouped: dict[str, list[ReceivedMail]] = {}
        for message in self.messages:
            grouped.setdefault(message["Message-ID"], []).append(message)
        return grouped

    def _take(self, queue: deque, matches=lambda item: True):
        with self._lock:
            if queue and matches(queue[0]):
                return queue.popleft()
            return None

    def _store(self, envelope) -> None:
        mail = BytesParser(_class=ReceivedMail, policy=policy.default).parsebytes(envelope.original_content)
        mail.envelope_from = envelope.mail_from
        mail.envelope_to = list(envelope.rcpt_tos)
        mail.raw = envelope.original_content
        with self._lock:
            self.messages.append(mail)


class _Handler:
    def __init__(self, server: SmtpTestServer):
        self.server = server

    async def handle_MAIL(self, smtp, session, envelope, address, mail_options):
        if self.server._take(self.server._drops, lambda stage: stage == "MAIL"):
            smtp.transport.close()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
        code = self.server._refused.get(address.lower())
        if code:
            detail = "5.1.1 User unknown" if code >= 500 else "4.2.1 Mailbox temporarily unavailable"
            return f"{code} {detail}: <{address}>"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp, session, envelope):
        if self.server._take(self.server._drops, lambda stage: stage == "DATA"):
            smtp.transport.close()
            return "421 closing"  # never reaches the client: the connection is gone
        hold = self.server._take(self.server._holds)
        if hold:
            hold.reached.set()
            await asyncio.get_running_loop().run_in_executor(None, hold._released.wait)
        code = self.server._take(self.server._failures)
        if code:
            return f"{code} 4.3.0 Try again later" if code < 500 else f"{code} 5.3.0 Message refused"
        self.server._store(envelope)
        return "250 OK: queued"
