"""A real HTTP card gateway for the tests: the API of docs/card-gateway.md on a local port.

It is idempotent by key as a production gateway is, and keeps a ledger of every charge it actually
executed per key, so a test can prove that no slip was charged twice. The card token's prefix
picks the behaviour:

    tok_decline_*  declined (decline_code insufficient_funds)
    tok_timeout_*  executed, then the answer is held past the client's timeout
    tok_error_*    HTTP 500 every time, nothing executed
    tok_flaky_*    HTTP 503 the first time a key is seen, executed when repeated
    tok_slow_*     executed, answered after a delay shorter than the client's timeout
    tok_reject_*   HTTP 422 invalid_card_token, nothing executed
    anything else  executed and approved

Authorizations (与信, POST /v1/authorizations) follow the same prefixes: tok_decline_ declined,
tok_timeout_ executed with its answer held past the client's timeout, tok_error_ HTTP 500, any
other token approved. Their voids (POST /v1/authorizations/{id}/void) go by the token of the
authorization:

    tok_void_refused_*  every void answered {"status": "refused", "refusal_code": "void_not_permitted"}
    tok_void_error_*    HTTP 500 for every void, nothing voided
    tok_void_timeout_*  the void executed, its answer held past the client's timeout
    anything else       voided

`outage_after(n)`: after the n-th executed charge the gateway drops every connection without an
answer (that charge's answer included) until `heal()`: a gateway outage in the middle of a run.

Faults of the gateway for every charge whose token starts with `prefix` ("" for every charge),
whatever the token says otherwise, until `heal()`; its lookups keep answering honestly:

    fail_charges(status=500)      that HTTP status for every charge, nothing executed
    unreadable_answers()          200 with a body that is no JSON, nothing executed
    time_out_after_executing()    executed, then the answer held past the client's timeout
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

API_KEY = "test-gateway-key"
CHARGES_PATH = "/v1/charges"
AUTHORIZATIONS_PATH = "/v1/authorizations"


class GatewayState:
    def __init__(self, hold_seconds: float, slow_seconds: float) -> None:
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.hold_seconds = hold_seconds
        self.slow_seconds = slow_seconds
        self.charges: dict[str, dict] = {}  # key -> the stored answer of its charge
        self.executed: Counter[str] = Counter()  # key -> charges actually executed with it
        self.seen: Counter[str] = Counter()  # key -> charge requests received
        self.in_progress: set[str] = set()
        self.lookups: Counter[str] = Counter()
        self.authorizations: dict[str, dict] = {}  # key -> the stored answer of its authorization
        self.authorization_tokens: dict[str, str] = {}  # authorization id -> its card token
        self.authorizations_executed: Counter[str] = Counter()
        self.voids: dict[str, dict] = {}  # key -> the stored answer of its void
        self.voids_executed: Counter[str] = Counter()  # key -> voids actually executed with it
        self.void_requests = 0
        self.unauthorised = 0  # requests refused for their credentials
        self.outage_after_count: int | None = None
        self.down = False
        self.fault: tuple[str, str, int] | None = None  # (kind, token prefix, status) while faulting

    def fail_charges(self, status: int = 500, prefix: str = "") -> None:
        with self.lock:
            self.fault = ("status", prefix, status)

    def unreadable_answers(self, prefix: str = "") -> None:
        with self.lock:
            self.fault = ("unreadable", prefix, 200)

    def time_out_after_executing(self, prefix: str = "") -> None:
        with self.lock:
            self.fault = ("timeout", prefix, 200)

    def fault_for(self, token: str) -> tuple[str, int] | None:
        if self.fault is not None and token.startswith(self.fault[1]):
            return self.fault[0], self.fault[2]
        return None

    def charge_requests(self) -> int:
        return sum(self.seen.values())

    def outage_after(self, count: int) -> None:
        with self.lock:
            self.outage_after_count = count

    def heal(self) -> None:
        with self.lock:
            self.outage_after_count = None
            self.down = False
            self.fault = None

    def go_down(self) -> None:
        with self.lock:
            self.down = True

    def executed_total(self) -> int:
        return sum(self.executed.values())


class GatewayHandler(BaseHTTPRequestHandler):
    server: GatewayServer
    protocol_version = "HTTP/1.1"
    # The headers and the body go out in two writes: with Nagle's algorithm the body would wait for
    # the client's delayed acknowledgement, some 40 ms an answer.
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:  # quiet
        pass

    @property
    def state(self) -> GatewayState:
        return self.server.state

    def _answer(self, status: int, body: dict | bytes) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up waiting (a timeout test)
            pass

    def _drop(self) -> None:
        self.close_connection = True

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {API_KEY}":
            with self.state.lock:
                self.state.unauthorised += 1
            self._answer(401, {"error": "unauthorised"})
            return False
        return True

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if self.state.down:
            return self._drop()
        if not self._authorised():
            return
        if url.path != CHARGES_PATH:
            return self._answer(404, {"error": "no_such_path"})
        key = parse_qs(url.query).get("idempotency_key", [""])[0]
        with self.state.lock:
            self.state.lookups[key] += 1
            stored = self.state.charges.get(key)
        if stored is None:
            return self._answer(404, {"error": "not_found"})
        self._answer(200, stored)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.state.down:
            return self._drop()
        if not self._authorised():
            return
        if self.path == AUTHORIZATIONS_PATH:
            return self._authorize(body)
        if self.path.startswith(AUTHORIZATIONS_PATH + "/") and self.path.endswith("/void"):
            return self._void(self.path[len(AUTHORIZATIONS_PATH) + 1 : -len("/void")], body)
        if self.path != CHARGES_PATH:
            return self._answer(404, {"error": "no_such_path"})
        key = self.headers.get("Idempotency-Key")
        token = str(body.get("card_token", ""))
        if not key or not isinstance(body.get("amount"), int) or body["amount"] <= 0 or body.get("currency") != "JPY":
            return self._answer(400, {"error": "invalid_request"})
        state = self.state
        with state.lock:
            state.seen[key] += 1
            fault = state.fault_for(token)
            if fault is not None and fault[0] == "status":
                return self._answer(fault[1], {"error": "server_error"})
            if fault is not None and fault[0] == "unreadable":
                return self._answer(200, b"<html><body>502 Bad Gateway</body></html>")
            if key in state.charges:
                return self._answer(200, state.charges[key])  # a replay: the first answer
            if key in state.in_progress:
                return self._answer(409, {"error": "idempotency_key_in_use"})
            if token.startswith("tok_error_") or (token.startswith("tok_flaky_") and state.seen[key] == 1):
                return self._answer(500 if token.startswith("tok_error_") else 503, {"error": "server_error"})
            if token.startswith("tok_reject_"):
                return self._answer(422, {"error": "invalid_card_token"})
            state.in_progress.add(key)
        if token.startswith("tok_slow_"):
            state.stopping.wait(state.slow_seconds)
        charge = {"id": f"ch_{len(state.charges) + 1:06d}", "amount": body["amount"], "idempotency_key": key}
        if token.startswith("tok_decline_"):
            charge.update(status="declined", decline_code="insufficient_funds")
        else:
            charge.update(status="succeeded")
        with state.lock:
            state.in_progress.discard(key)
            if state.down:
                return self._drop()  # went down while this one waited: never executed
            state.charges[key] = charge
            state.executed[key] += 1
            if state.outage_after_count is not None and state.executed_total() >= state.outage_after_count:
                state.down = True
        if state.down:
            return self._drop()  # executed, but the answer is lost with the gateway
        if token.startswith("tok_timeout_") or (fault is not None and fault[0] == "timeout"):
            state.stopping.wait(state.hold_seconds)
        self._answer(200, charge)

    def _authorize(self, body: dict) -> None:
        key = self.headers.get("Idempotency-Key")
        token = str(body.get("card_token", ""))
        if not key or not isinstance(body.get("amount"), int) or body["amount"] <= 0 or body.get("currency") != "JPY":
            return self._answer(400, {"error": "invalid_request"})
        state = self.state
        with state.lock:
            if key in state.authorizations:
                return self._answer(200, state.authorizations[key])
            if token.startswith("tok_error_"):
                return self._answer(500, {"error": "server_error"})
            number = len(state.authorizations) + 1
            answer = {"id": f"au_{number:06d}", "amount": body["amount"], "idempotency_key": key}
            if token.startswith("tok_decline_"):
                answer.update(status="declined", decline_code="insufficient_funds")
            else:
                answer.update(status="approved", approval_number=f"{number * 7919 % 1_000_000:06d}")
            state.authorizations[key] = answer
            state.authorization_tokens[answer["id"]] = token
            state.authorizations_executed[key] += 1
        if token.startswith("tok_timeout_"):
            state.stopping.wait(state.hold_seconds)
        self._answer(200, answer)

    def _void(self, authorization_id: str, body: dict) -> None:
        key = self.headers.get("Idempotency-Key")
        if not key or not isinstance(body.get("amount"), int) or body["amount"] <= 0:
            return self._answer(400, {"error": "invalid_request"})
        state = self.state
        with state.lock:
            state.void_requests += 1
            token = state.authorization_tokens.get(authorization_id)
            if token is None:
                return self._answer(404, {"error": "no_such_authorization"})
            if key in state.voids:
                return self._answer(200, state.voids[key])
            if token.startswith("tok_void_error_"):
                return self._answer(500, {"error": "server_error"})
            answer = {"authorization_id": authorization_id, "amount": body["amount"], "idempotency_key": key}
            if token.startswith("tok_void_refused_"):
                answer.update(status="refused", refusal_code="void_not_permitted")
            else:
                answer.update(status="voided")
                state.voids_executed[key] += 1
            state.voids[key] = answer
        if token.startswith("tok_void_timeout_"):
            state.stopping.wait(state.hold_seconds)
        self._answer(200, answer)


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: GatewayState) -> None:
        super().__init__(("127.0.0.1", 0), GatewayHandler)
        self.state = state

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def running_gateway_server(hold_seconds: float = 3.0, slow_seconds: float = 0.2):
    """A gateway on a free local port, serving in a thread; yields its GatewayState and `.url`."""
    state = GatewayState(hold_seconds, slow_seconds)
    server = GatewayServer(state)
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


@pytest.fixture
def gateway_server():
    """The test gateway for one test (import this fixture into the test module)."""
    with running_gateway_server(hold_seconds=2.0, slow_seconds=0.2) as state:
        yield state
