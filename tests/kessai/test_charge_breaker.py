"""The recurring charge's circuit breaker: its thresholds from the environment, and when it opens."""

from __future__ import annotations

import pytest

from kessai.errors import Refusal
from kessai.gateway.card_gateway import CREDENTIALS_REFUSED, DECLINED, SUCCEEDED, UNKNOWN, ChargeResult
from kessai.gateway.circuit_breaker import (
    NOT_SENT,
    BreakerSettings,
    BreakerSettingsError,
    CircuitBreaker,
    breaker_settings,
)

FAULT = ChargeResult(UNKNOWN, "server_error_500")
PAID = ChargeResult(SUCCEEDED, None, "ch_1")


def test_settings_from_the_environment():
    assert breaker_settings({}) == BreakerSettings(consecutive=20, rate_percent=5.0, window=200)
    assert breaker_settings(
        {
            "KESSAI_CHARGE_BREAKER_CONSECUTIVE": " 50 ",
            "KESSAI_CHARGE_BREAKER_RATE": "2.5",
            "KESSAI_CHARGE_BREAKER_WINDOW": "1000",
            "KESSAI_OTHER": "x",
        }
    ) == BreakerSettings(50, 2.5, 1000)
    assert breaker_settings({"KESSAI_CHARGE_BREAKER_RATE": ""}).rate_percent == 5.0
    with pytest.raises(BreakerSettingsError, match=r"^KESSAI_CHARGE_BREAKER_RATE='5%' is not a number$"):
        breaker_settings({"KESSAI_CHARGE_BREAKER_RATE": "5%"})
    with pytest.raises(BreakerSettingsError, match=r"KESSAI_CHARGE_BREAKER_CONSECUTIVE=0 \(>= 1\)"):
        breaker_settings({"KESSAI_CHARGE_BREAKER_CONSECUTIVE": "0"})
    with pytest.raises(Refusal, match=r"KESSAI_CHARGE_BREAKER_RATE=101 \(0-100\)"):
        BreakerSettings(rate_percent=101)


def test_faults_in_a_row_open_it_and_any_answer_restarts_the_count():
    breaker = CircuitBreaker(BreakerSettings(consecutive=3, rate_percent=100, window=10))
    for answer in (FAULT, FAULT, PAID, FAULT, FAULT, None, FAULT, FAULT, ChargeResult(DECLINED, "card_declined")):
        breaker.record(answer)  # None: a lookup found nothing executed, an honest answer
    assert not breaker.is_open
    breaker.record(FAULT)
    breaker.record(FAULT)
    assert not breaker.is_open
    breaker.record(FAULT)
    assert breaker.reason == "3 faults in a row"
    calls = []
    assert breaker.call(calls.append, "never") is NOT_SENT and calls == []


def test_more_than_the_rate_of_the_first_calls_opens_it_and_later_calls_do_not_count():
    # 5 % of the first 100: the 6th fault among them opens it, scattered or not.
    breaker = CircuitBreaker(BreakerSettings(consecutive=20, rate_percent=5, window=100))
    for n in range(100):
        breaker.record(FAULT if n % 20 == 0 else PAID)  # 5 faults in the first 100: exactly 5 %
    assert not breaker.is_open
    for n in range(1000):
        breaker.record(FAULT if n % 10 == 0 else PAID)  # after the window only faults in a row count
    assert not breaker.is_open

    early = CircuitBreaker(BreakerSettings(consecutive=20, rate_percent=5, window=100))
    for answer in [FAULT, PAID] * 5 + [FAULT]:
        early.record(answer)
    assert early.reason == "6 faults among the first 100 calls (more than 5 %)"


def test_refused_credentials_open_it_at_once():
    breaker = CircuitBreaker()
    assert breaker.call(lambda: ChargeResult(UNKNOWN, CREDENTIALS_REFUSED)).reason == CREDENTIALS_REFUSED
    assert breaker.is_open and "refused the credentials" in breaker.reason
