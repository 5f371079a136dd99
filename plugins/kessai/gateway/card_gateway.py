"""The card gateway that charges recurring slips: its protocol, its settings, and the simulator.

A gateway charges a card token once per idempotency key: a second charge with the same key
answers the first one's result and charges nothing. `lookup` asks what became of a key, so a
charge whose answer never arrived (a timeout, a crash) is settled before anything is charged again.

Two implementations: the deterministic simulator below (the embedded default, for development
and tests) and the HTTP client of kessai.gateway.http_gateway (production). docs/card-gateway.md.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from kessai.masking import mask_url


class ChargeOutcome(StrEnum):
    """Outcomes of a charge, as charge_attempts.outcome stores them (the gateway answers the first
    four; the run writes the last two)."""

    SUCCEEDED = "succeeded"
    DECLINED = "declined"  # the card issuer refused: final for this billing month
    ERROR = "error"  # the gateway refused the card itself (an invalid or expired card; nothing executed): final
    UNKNOWN = "unknown"  # a fault: no answer or no clear one; settled by lookup before charging again
    PENDING = "pending"  # written before the call: its answer is not recorded yet
    NOT_EXECUTED = "not_executed"  # the gateway confirmed (lookup: not found) it never executed it


SUCCEEDED = ChargeOutcome.SUCCEEDED
DECLINED = ChargeOutcome.DECLINED
ERROR = ChargeOutcome.ERROR
UNKNOWN = ChargeOutcome.UNKNOWN
FINAL_OUTCOMES = (SUCCEEDED, DECLINED, ERROR)


class AnswerKind(StrEnum):
    """The failure taxonomy: every answer of the gateway is of one of these kinds (ChargeResult.kind,
    AuthorizationResult.kind, VoidResult.kind).

    - succeeded: the card was charged;
    - declined: the answer about the card (declined, expired, invalid card): final for the month,
      a card failure, told to the merchant and the customer;
    - fault: the gateway or the network failed (5xx, an unreadable answer, a timeout, refused
      credentials): transient; the request is made again later, and no customer or merchant is told.
      A fault is never the card side's answer.
    - approved: an authorization (与信) holds the amount;
    - voided, refused: a void released the amount, or the card side cannot void it (取消不可).
    """

    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    FAULT = "fault"
    APPROVED = "approved"
    VOIDED = "voided"
    REFUSED = "refused"


KIND_SUCCEEDED = AnswerKind.SUCCEEDED
KIND_DECLINED = AnswerKind.DECLINED
KIND_FAULT = AnswerKind.FAULT
_KIND_OF_OUTCOME = {SUCCEEDED: KIND_SUCCEEDED, DECLINED: KIND_DECLINED, ERROR: KIND_DECLINED, UNKNOWN: KIND_FAULT}

# The reason of a fault that no request can get past: the gateway refused the API key.
CREDENTIALS_REFUSED = "credentials_refused"


class GatewayKind(StrEnum):
    """KESSAI_CARD_GATEWAY: which gateway a deployment charges through."""

    SIMULATOR = "simulator"
    HTTP = "http"


SIMULATOR = GatewayKind.SIMULATOR
HTTP = GatewayKind.HTTP
GATEWAY_KINDS = tuple(kind.value for kind in GatewayKind)  # plain strings: error messages name them

# The simulator's test card tokens: a token with one of these prefixes behaves as named; any other
# token is approved. Synthetic data draws its failing subscriptions from these.
SIMULATED_TOKEN_PREFIXES = {
    "decline": "tok_decline_",  # declined by the issuer (reason card_declined)
    "timeout": "tok_timeout_",  # charged, but the answer is lost: the lookup finds it succeeded
    "error": "tok_error_",  # a server error every time: nothing is charged, the lookup finds nothing
}
# Authorizations (与信) follow the prefixes above (declined, answer lost, server error); these make
# an approved authorization's voids behave as named (charges with them are approved).
SIMULATED_VOID_TOKEN_PREFIXES = {
    "void_refused": "tok_void_refused_",  # the card side refuses every void (取消不可)
    "void_error": "tok_void_error_",  # a void meets a server error every time: nothing is voided
}

# The answers about an authorization (AuthorizationResult.kind) and a void (VoidResult.kind).
APPROVED = AnswerKind.APPROVED
VOIDED = AnswerKind.VOIDED
REFUSED = AnswerKind.REFUSED


@dataclass(frozen=True)
class AuthorizationResult:
    kind: AnswerKind  # APPROVED, DECLINED or FAULT
    reason: str | None = None  # the decline code, or the fault's ("timeout", "server_error_503", ...)
    transaction_id: str | None = None  # the gateway's id of the authorization
    approval_number: str | None = None  # 承認番号


@dataclass(frozen=True)
class VoidResult:
    kind: AnswerKind  # VOIDED, REFUSED or FAULT
    reason: str | None = None  # the refusal code, or the fault's


@dataclass(frozen=True)
class ChargeResult:
    outcome: ChargeOutcome  # SUCCEEDED, DECLINED, ERROR or UNKNOWN
    reason: str | None = None  # a short code: the decline code, "timeout", "server_error_503", ...
    charge_id: str | None = None  # the gateway's id of an executed charge

    @property
    def kind(self) -> AnswerKind:
        """succeeded, declined or fault: the taxonomy above."""
        return _KIND_OF_OUTCOME[self.outcome]

    @property
    def is_final(self) -> bool:
        return self.kind != KIND_FAULT


class CardGateway(Protocol):
    def charge(self, idempotency_key: str, card_token: str, amount: int, *, reference: str) -> ChargeResult:
        """Charge `amount` yen to the card once per key; `reference` is the slip number."""

    def lookup(self, idempotency_key: str) -> ChargeResult | None:
        """The result of the charge made with this key; None if the gateway never executed one.
        A result with outcome UNKNOWN: the gateway cannot tell yet (or cannot be reached)."""

    def authorize(self, idempotency_key: str, card_token: str, amount: int, *, reference: str) -> AuthorizationResult:
        """Hold `amount` yen on the card once per key (与信); a repeated key answers the first result."""

    def void(self, idempotency_key: str, transaction_id: str, amount: int) -> VoidResult:
        """Release `amount` yen of the authorization `transaction_id` (all of it or a part) once per key."""

    def close(self) -> None: ...


class GatewayConfigurationError(RuntimeError):
    """The gateway settings cannot be used (no address, a setting out of range): the run stops
    before any charge. Credentials the gateway refuses are a fault of each call instead
    (CREDENTIALS_REFUSED), which opens the run's circuit breaker at once."""


@dataclass(frozen=True)
class CardGatewaySettings:
    """Which gateway a run uses and how: plain values, read by the task layer from
    KESSAI_CARD_GATEWAY and the Airflow connection `kessai_card_gateway`."""

    kind: GatewayKind = SIMULATOR  # a plain string as read is accepted too
    base_url: str | None = None
    api_key: str | None = None
    timeout: float = 10.0  # seconds per request
    max_retries: int = 2  # repeats of a request that met a server error, with the same key
    backoff: float = 0.5  # seconds before the first repeat, doubled for each next one
    concurrency: int = 32  # charges in flight at once
    simulator_ledger: str | None = None  # the simulator's file of executed charges; None: memory

    def __post_init__(self) -> None:
        if self.kind not in GATEWAY_KINDS:
            raise GatewayConfigurationError(f"unknown card gateway {self.kind!r}: expected one of {GATEWAY_KINDS}")
        if self.kind == HTTP and not self.base_url:
            raise GatewayConfigurationError("the HTTP card gateway needs a base URL (the connection's host)")
        if self.concurrency < 1 or self.max_retries < 0 or self.timeout <= 0:
            raise GatewayConfigurationError(
                f"card gateway settings out of range: concurrency {self.concurrency} (>= 1), "
                f"max_retries {self.max_retries} (>= 0), timeout {self.timeout} (> 0)"
            )

    def __repr__(self) -> str:  # never the API key, nor a password in the URL
        return f"CardGatewaySettings(kind={str(self.kind)!r}, base_url={mask_url(self.base_url)!r}, concurrency={self.concurrency})"

    __str__ = __repr__


def gateway_settings(
    kind: str | None,
    connection: dict | None,
    *,
    simulator_ledger: str | None = None,
    concurrency: str | None = None,
) -> CardGatewaySettings:
    """The settings of a run from plain values: `kind` is KESSAI_CARD_GATEWAY (simulator or http;
    empty: http when the connection exists, else the simulator), `connection` the fields of the
    Airflow connection kessai_card_gateway (host, schema, port, password, extra) or None, and
    `concurrency` KESSAI_CHARGE_CONCURRENCY, which overrides the connection's extra."""
    kind = (kind or "").strip().lower() or (HTTP if connection else SIMULATOR)
    if kind == HTTP and connection is None:
        raise GatewayConfigurationError(
            "KESSAI_CARD_GATEWAY=http needs the Airflow connection kessai_card_gateway "
            "(host: the gateway's base URL, password: its API key)"
        )
    extra = dict((connection or {}).get("extra") or {})
    if concurrency:
        extra["concurrency"] = concurrency
    numbers: dict[str, Any] = {}
    for name, number in (("timeout", float), ("max_retries", int), ("backoff", float), ("concurrency", int)):
        if name in extra:
            try:
                numbers[name] = number(extra[name])
            except (TypeError, ValueError):
                raise GatewayConfigurationError(
                    f"card gateway setting {name}={extra[name]!r} is not a number"
                ) from None
    if kind != HTTP:
        return CardGatewaySettings(kind=GatewayKind(kind), simulator_ledger=simulator_ledger, **numbers)
    assert connection is not None  # refused above for http
    return CardGatewaySettings(kind=HTTP, base_url=_base_url(connection), api_key=connection.get("password"), **numbers)


def _base_url(connection: dict) -> str:
    """The connection's host if it is a URL, else scheme (its schema field, https by default),
    host and port, as Airflow's HTTP connections read."""
    host = (connection.get("host") or "").rstrip("/")
    if not host or "://" in host:
        return host
    port = connection.get("port")
    return f"{connection.get('schema') or 'https'}://{host}" + (f":{port}" if port else "")


def simulated_behaviour(card_token: str) -> str:
    """ "decline", "timeout", "error", "void_refused", "void_error", or "approve" for any other token."""
    for behaviour, prefix in (SIMULATED_TOKEN_PREFIXES | SIMULATED_VOID_TOKEN_PREFIXES).items():
        if card_token.startswith(prefix):
            return behaviour
    return "approve"


class SimulatorGateway:
    """A deterministic gateway: the token's prefix decides the result (SIMULATED_TOKEN_PREFIXES).

    Like a real gateway it remembers every executed charge by key, in a SQLite file when given one
    (so a later run's lookup finds what an earlier process charged), else in memory.
    """

    def __init__(self, ledger_path: str | Path | None = None) -> None:
        if ledger_path is not None:
            Path(ledger_path).parent.mkdir(parents=True, exist_ok=True)
        self._ledger = sqlite3.connect(
            str(ledger_path or ":memory:"), check_same_thread=False, isolation_level=None, timeout=30
        )
        self._ledger.execute(
            "CREATE TABLE IF NOT EXISTS charges (idempotency_key TEXT PRIMARY KEY, outcome TEXT NOT NULL,"
            " reason TEXT, charge_id TEXT, amount INTEGER NOT NULL)"
        )
        self._ledger.execute(
            "CREATE TABLE IF NOT EXISTS authorizations (idempotency_key TEXT PRIMARY KEY, kind TEXT NOT NULL,"
            " reason TEXT, transaction_id TEXT, approval_number TEXT, card_token TEXT NOT NULL, amount INTEGER NOT NULL)"
        )
        self._ledger.execute(
            "CREATE TABLE IF NOT EXISTS voids (idempotency_key TEXT PRIMARY KEY, kind TEXT NOT NULL, reason TEXT,"
            " transaction_id TEXT NOT NULL, amount INTEGER NOT NULL)"
        )
        self._lock = threading.Lock()

    def authorize(self, idempotency_key: str, card_token: str, amount: int, *, reference: str) -> AuthorizationResult:
        behaviour = simulated_behaviour(card_token)
        if behaviour == "error":
            return AuthorizationResult(KIND_FAULT, "server_error_500")
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
        result: tuple[str, str | None, str | None, str | None]
        if behaviour == "decline":
            result = (DECLINED, "card_declined", None, None)
        else:
            result = (APPROVED, None, f"sim_auth_{digest[:20]}", f"{int(digest[:8], 16) % 1_000_000:06d}")
        with self._lock:
            inserted = self._ledger.execute(
                "INSERT OR IGNORE INTO authorizations VALUES (?, ?, ?, ?, ?, ?, ?)",
                (idempotency_key, *result, card_token, amount),
            ).rowcount
            stored = self._ledger.execute(
                "SELECT kind, reason, transaction_id, approval_number FROM authorizations WHERE idempotency_key = ?",
                (idempotency_key,),
            ).fetchone()
        # tok_timeout_: the first answer is lost (a fault); the same key asked again answers it.
        if behaviour == "timeout" and inserted:
            return AuthorizationResult(KIND_FAULT, "timeout")
        return AuthorizationResult(*stored)

    def void(self, idempotency_key: str, transaction_id: str, amount: int) -> VoidResult:
        with self._lock:
            held = self._ledger.execute(
                "SELECT card_token FROM authorizations WHERE transaction_id = ?", (transaction_id,)
            ).fetchone()
            if held is None:
                return VoidResult(KIND_FAULT, "rejected_404_no_such_authorization")
            behaviour = simulated_behaviour(held[0])
            if behaviour == "void_error":
                return VoidResult(KIND_FAULT, "server_error_500")
            kind, reason = (REFUSED, "void_not_permitted") if behaviour == "void_refused" else (VOIDED, None)
            self._ledger.execute(
                "INSERT OR IGNORE INTO voids VALUES (?, ?, ?, ?, ?)",
                (idempotency_key, kind, reason, transaction_id, amount),
            )
            stored = self._ledger.execute(
                "SELECT kind, reason FROM voids WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
        return VoidResult(*stored)

    def executed_authorizations(self) -> list[tuple[str, int]]:
        """(key, amount) of every authorization the simulator approved."""
        with self._lock:
            return self._ledger.execute(
                "SELECT idempotency_key, amount FROM authorizations WHERE kind = ? ORDER BY rowid", (APPROVED,)
            ).fetchall()

    def executed_voids(self) -> list[tuple[str, str, int]]:
        """(key, transaction id, amount) of every void executed: what the card side released."""
        with self._lock:
            return self._ledger.execute(
                "SELECT idempotency_key, transaction_id, amount FROM voids WHERE kind = ? ORDER BY rowid", (VOIDED,)
            ).fetchall()

    def charge(self, idempotency_key: str, card_token: str, amount: int, *, reference: str) -> ChargeResult:
        behaviour = simulated_behaviour(card_token)
        if behaviour == "error":
            return ChargeResult(UNKNOWN, "server_error_500")
        if behaviour == "decline":
            result = ChargeResult(DECLINED, "card_declined")
        else:
            digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]
            result = ChargeResult(SUCCEEDED, None, f"sim_{digest}")
        with self._lock:
            self._ledger.execute(
                "INSERT OR IGNORE INTO charges VALUES (?, ?, ?, ?, ?)",
                (idempotency_key, result.outcome, result.reason, result.charge_id, amount),
            )
            stored = self._stored(idempotency_key)  # a repeated key answers the first result
        assert stored is not None  # inserted just above, or before
        return ChargeResult(UNKNOWN, "timeout") if behaviour == "timeout" else stored

    def lookup(self, idempotency_key: str) -> ChargeResult | None:
        with self._lock:
            return self._stored(idempotency_key)

    def _stored(self, idempotency_key: str) -> ChargeResult | None:
        row = self._ledger.execute(
            "SELECT outcome, reason, charge_id FROM charges WHERE idempotency_key = ?", (idempotency_key,)
        ).fetchone()
        return ChargeResult(ChargeOutcome(row[0]), *row[1:]) if row else None

    def close(self) -> None:
        self._ledger.close()
