"""The production card gateway: JSON over HTTPS (the API is in docs/card-gateway.md).

Every request carries the slip's idempotency key in the Idempotency-Key header, so repeating it
after a server error or a lost connection never charges twice. A read timeout is not repeated:
the charge may be under way, and the run settles it later by lookup. Nothing here logs a card
token or a request body.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from urllib.parse import quote, urlsplit

import urllib3
from urllib3.exceptions import ConnectTimeoutError, EmptyPoolError, HTTPError, ReadTimeoutError

from kessai.gateway.card_gateway import (
    APPROVED,
    CREDENTIALS_REFUSED,
    DECLINED,
    ERROR,
    KIND_DECLINED,
    KIND_FAULT,
    REFUSED,
    SUCCEEDED,
    UNKNOWN,
    VOIDED,
    AuthorizationResult,
    CardGatewaySettings,
    ChargeResult,
    VoidResult,
)
from kessai.masking import mask_url

log = logging.getLogger(__name__)

CHARGES_PATH = "/v1/charges"
AUTHORIZATIONS_PATH = "/v1/authorizations"
REPEATED_STATUSES = frozenset({429, 500, 502, 503, 504})  # the gateway asks to try again
# The same key is still being processed by the gateway: its result is not known yet.
IN_PROGRESS_STATUS = 409
NOT_FOUND_STATUS = 404
CREDENTIAL_STATUSES = frozenset({401, 403})
# A refusal about the card: 402, or another 4xx whose error code names the card. Any other 4xx
# is a request the gateway could not take (ours or its fault), never told to a customer.
CARD_REFUSAL_STATUS = 402
CARD_ERROR_CODES = frozenset({"invalid_card_token", "invalid_card", "expired_card", "card_declined"})


def reason_code(value: object) -> str:
    """A gateway's code as a short, safe token for the database and the logs."""
    return re.sub(r"[^a-z0-9_]+", "_", str(value).lower()).strip("_")[:40] or "unspecified"


class HttpCardGateway:
    def __init__(self, settings: CardGatewaySettings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        headers = {"Accept": "application/json", "User-Agent": "kessai-recurring-charge"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        # urllib3's thread-safe pool of keep-alive connections, one per charge in flight: it costs a
        # third of the CPU time per request httpx did, which capped the charges a second
        # (docs/performance.md). Repeats are ours (_request), never the pool's.
        assert settings.base_url  # CardGatewaySettings refuses an http gateway without one
        self._pool = urllib3.connection_from_url(
            settings.base_url,
            maxsize=settings.concurrency,
            block=True,
            timeout=urllib3.Timeout(connect=settings.timeout, read=settings.timeout),
            retries=False,
        )
        self._path_prefix = urlsplit(settings.base_url).path.rstrip("/")
        self._headers = headers
        self._settings = settings
        self._sleep = sleep

    def charge(self, idempotency_key: str, card_token: str, amount: int, *, reference: str) -> ChargeResult:
        answer = self._request(
            "POST",
            CHARGES_PATH,
            headers={"Idempotency-Key": idempotency_key},
            json={"amount": amount, "currency": "JPY", "card_token": card_token, "reference": reference},
        )
        if isinstance(answer, ChargeResult):
            return answer
        if answer.status in (200, 201):
            return self._charge_of(answer)
        if answer.status == IN_PROGRESS_STATUS:
            return ChargeResult(UNKNOWN, "in_progress")
        # Any other answer: the gateway refused the request and executed nothing. About the card,
        # that is final; otherwise a fault, settled by lookup and charged again on a later run.
        code = self._error_code(answer)
        reason = f"rejected_{answer.status}_{code}"
        if answer.status == CARD_REFUSAL_STATUS or (400 <= answer.status < 500 and code in CARD_ERROR_CODES):
            return ChargeResult(ERROR, reason)
        return ChargeResult(UNKNOWN, reason)

    def lookup(self, idempotency_key: str) -> ChargeResult | None:
        answer = self._request("GET", CHARGES_PATH, fields={"idempotency_key": idempotency_key})
        if isinstance(answer, ChargeResult):
            return answer
        if answer.status == NOT_FOUND_STATUS:
            return None
        if answer.status == 200:
            return self._charge_of(answer)
        return ChargeResult(UNKNOWN, f"lookup_{answer.status}_{self._error_code(answer)}")

    def authorize(self, idempotency_key: str, card_token: str, amount: int, *, reference: str) -> AuthorizationResult:
        answer = self._request(
            "POST",
            AUTHORIZATIONS_PATH,
            headers={"Idempotency-Key": idempotency_key},
            json={"amount": amount, "currency": "JPY", "card_token": card_token, "reference": reference},
        )
        if isinstance(answer, ChargeResult):
            return AuthorizationResult(KIND_FAULT, answer.reason)
        if answer.status in (200, 201):
            body = self._body(answer)
            if body.get("status") == "approved" and body.get("id"):
                return AuthorizationResult(
                    APPROVED, None, str(body["id"]), str(body.get("approval_number") or "")[:16] or None
                )
            if body.get("status") == "declined":
                return AuthorizationResult(KIND_DECLINED, reason_code(body.get("decline_code") or "card_declined"))
            return AuthorizationResult(KIND_FAULT, "unreadable_answer")
        if answer.status == IN_PROGRESS_STATUS:
            return AuthorizationResult(KIND_FAULT, "in_progress")
        code = self._error_code(answer)
        reason = f"rejected_{answer.status}_{code}"
        if answer.status == CARD_REFUSAL_STATUS or (400 <= answer.status < 500 and code in CARD_ERROR_CODES):
            return AuthorizationResult(KIND_DECLINED, reason)
        return AuthorizationResult(KIND_FAULT, reason)

    def void(self, idempotency_key: str, transaction_id: str, amount: int) -> VoidResult:
        """A void refused by the card side is an answer (200, status refused); any error is a fault."""
        answer = self._request(
            "POST",
            f"{AUTHORIZATIONS_PATH}/{quote(transaction_id, safe='')}/void",
            headers={"Idempotency-Key": idempotency_key},
            json={"amount": amount, "currency": "JPY"},
        )
        if isinstance(answer, ChargeResult):
            return VoidResult(KIND_FAULT, answer.reason)
        if answer.status in (200, 201):
            body = self._body(answer)
            if body.get("status") == "voided":
                return VoidResult(VOIDED)
            if body.get("status") == "refused":
                return VoidResult(REFUSED, reason_code(body.get("refusal_code") or "void_refused"))
            return VoidResult(KIND_FAULT, "unreadable_answer")
        if answer.status == IN_PROGRESS_STATUS:
            return VoidResult(KIND_FAULT, "in_progress")
        return VoidResult(KIND_FAULT, f"rejected_{answer.status}_{self._error_code(answer)}")

    def close(self) -> None:
        self._pool.close()

    @staticmethod
    def _body(response: urllib3.BaseHTTPResponse) -> dict:
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    # -- one request, repeated while the gateway asks for it -----------------------------------

    def _request(
        self, method: str, path: str, *, headers: dict | None = None, **kwargs
    ) -> urllib3.BaseHTTPResponse | ChargeResult:
        """The gateway's answer, or an UNKNOWN result when none came (after the repeats)."""
        reason = "no_answer"
        for repeat in range(self._settings.max_retries + 1):
            if repeat:
                self._sleep(self._settings.backoff * 2 ** (repeat - 1))
            try:
                response = self._pool.request(
                    method,
                    self._path_prefix + path,
                    headers={**self._headers, **(headers or {})},
                    pool_timeout=self._settings.timeout,
                    **kwargs,
                )
            except (ConnectTimeoutError, EmptyPoolError):  # refused, unresolved, or no connection in time
                reason = "connect_error"  # the request never reached the gateway
                continue
            except ReadTimeoutError:
                return ChargeResult(UNKNOWN, "timeout")
            except HTTPError as error:
                reason = reason_code(type(error).__name__)  # the connection broke; the key makes a repeat safe
                continue
            if response.status in CREDENTIAL_STATUSES:
                log.error(
                    "the card gateway at %s refused the credentials (HTTP %d): check the password of the "
                    "Airflow connection kessai_card_gateway",
                    mask_url(self._settings.base_url),
                    response.status,
                )
                return ChargeResult(UNKNOWN, CREDENTIALS_REFUSED)
            if response.status in REPEATED_STATUSES:
                reason = f"server_error_{response.status}"
                continue
            return response
        log.warning("card gateway %s %s: no answer after %d tries (%s)", method, path, repeat + 1, reason)
        return ChargeResult(UNKNOWN, reason)

    @staticmethod
    def _charge_of(response: urllib3.BaseHTTPResponse) -> ChargeResult:
        try:
            body = response.json()
            status = body["status"]
        except (ValueError, KeyError, TypeError):
            return ChargeResult(UNKNOWN, "unreadable_answer")
        charge_id = body.get("id")
        if status == "succeeded":
            return ChargeResult(SUCCEEDED, None, charge_id)
        if status == "declined":
            return ChargeResult(DECLINED, reason_code(body.get("decline_code") or "card_declined"), charge_id)
        return ChargeResult(UNKNOWN, reason_code(status))  # "processing": not settled yet

    @staticmethod
    def _error_code(response: urllib3.BaseHTTPResponse) -> str:
        try:
            return reason_code(response.json()["error"])
        except (ValueError, KeyError, TypeError):
            return "unspecified"
