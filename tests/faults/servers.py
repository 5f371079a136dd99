"""The real test servers (tests/support/smtp_server.py, tests/support/gateway_server.py) with the faults this suite
needs besides theirs:

- SMTP: `lose_reply_next(n)`: the server takes the mail (it is delivered) and then drops the
  connection before its 250 reaches the client, the classic way an SMTP client sends a mail twice;
  `closed_url()`: an address where no server listens (SMTP down).
- Card gateway: `state.fault = "error_500"` (every request answered 500, nothing executed),
  `"unreadable"` (charges executed, every answer an HTML error page with status 200), `"hold"`
  (charges executed, every answer held past the client's timeout); None heals it.
  `closed_url()`: an address where no gateway listens (gateway down).
"""

from __future__ import annotations

import threading
from collections import deque
from contextlib import contextmanager
from http.server import ThreadingHTTPServer

from aiosmtpd.controller import Controller

from support.gateway_server import GatewayHandler, GatewayServer, GatewayState
from support.smtp_server import SmtpTestServer, _Handler, free_port


def closed_url(scheme: str) -> str:
    """A URL on a local port where nothing listens."""
    return f"{scheme}://127.0.0.1:{free_port()}"


# -- SMTP -------------------------------------------------------------------------------------


class FaultySmtpServer(SmtpTestServer):
    def __init__(self, host: str = "127.0.0.1"):
        super().__init__(host)
        self._lost_replies: deque[bool] = deque()
        self._controller = Controller(_FaultyHandler(self), hostname=host, port=self.port)

    def lose_reply_next(self, n: int) -> None:
        """Accept the next n mails, then drop the connection before answering their data."""
        self._lost_replies.extend([True] * n)


class _FaultyHandler(_Handler):
    async def handle_DATA(self, smtp, session, envelope):
        if self.server._take(self.server._lost_replies):
            self.server._store(envelope)
            smtp.transport.close()
            return "250 OK: queued"  # never reaches the client
        return await super().handle_DATA(smtp, session, envelope)


def received(server: SmtpTestServer) -> list[tuple]:
    """What the server delivered, one entry per Message-ID (a copy sent again with the same
    Message-ID is the same mail): (recipients, subject, text, attachments), sorted."""
    first_copies = [copies[0] for copies in server.by_message_id().values()]
    return sorted(
        (tuple(sorted(m.envelope_to)), m.subject, m.text, tuple(sorted(m.attachments().items()))) for m in first_copies
    )


def copies_by_message_id(server: SmtpTestServer) -> dict[str, int]:
    return {message_id: len(mails) for message_id, mails in server.by_message_id().items()}


# -- card gateway -----------------------------------------------------------------------------

UNREADABLE = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


class FaultyGatewayHandler(GatewayHandler):
    def _answer(self, status: int, body: dict) -> None:
        if self._fault == "hold":
            self.state.stopping.wait(self.state.hold_seconds)
        if self._fault == "unreadable":
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(UNREADABLE)))
                self.end_headers()
                self.wfile.write(UNREADABLE)
            except OSError:
                pass
            return
        super()._answer(status, body)

    def do_GET(self) -> None:
        self._fault = self.state.fault
        if self._fault == "error_500":
            return super()._answer(500, {"error": "server_error"})
        super().do_GET()

    def do_POST(self) -> None:
        self._fault = self.state.fault
        if self._fault == "error_500":
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with self.state.lock:
                self.state.refused += 1
            return super()._answer(500, {"error": "server_error"})
        super().do_POST()


class FaultyGatewayServer(GatewayServer):
    def __init__(self, state: GatewayState) -> None:
        ThreadingHTTPServer.__init__(self, ("127.0.0.1", 0), FaultyGatewayHandler)
        self.state = state


@contextmanager
def faulty_gateway(hold_seconds: float = 1.5):
    """The test gateway (idempotent by key, with its ledger of executed charges) on a free port,
    with `state.fault` to set."""
    state = GatewayState(hold_seconds, slow_seconds=0.2)
    state.fault = None
    state.refused = 0
    server = FaultyGatewayServer(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = server.url
    try:
        yield state
    finally:
        state.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()
