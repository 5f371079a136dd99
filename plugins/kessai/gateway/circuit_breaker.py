"""The circuit breaker of a charge run: it stops calling the card gateway once its faults pass a
threshold, so a gateway outage costs a few requests, not the month (SPEC §4.6).

It opens (and stays open for the rest of the run) on whichever comes first:
- `consecutive` faults in a row (default 20), or
- more than `rate_percent` % of the first `window` calls faulted (default: more than 5 % of the
  first 200, i.e. the 11th fault among them), or
- the gateway refusing the credentials (no call can succeed).

It counts every call a run makes to the gateway, charges and lookups, in the order their answers
arrive; a call is a fault when its answer's kind is `fault` (kessai.gateway.card_gateway). A lookup that
finds nothing executed is an answer, not a fault. Once open, `call` sends nothing and returns
NOT_SENT: the calls already in flight finish and are recorded, no new one starts.

The thresholds are settings, read at the boundary from KESSAI_CHARGE_BREAKER_CONSECUTIVE,
KESSAI_CHARGE_BREAKER_RATE (percent) and KESSAI_CHARGE_BREAKER_WINDOW (kessai.settings;
`BreakerSettings.of(settings)`).
docs/recurring-charge.md.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kessai.gateway.card_gateway import CREDENTIALS_REFUSED, KIND_FAULT, ChargeResult
from kessai.settings import (
    BREAKER_CONSECUTIVE_VARIABLE as CONSECUTIVE_VARIABLE,
)
from kessai.settings import (
    BREAKER_RATE_VARIABLE as RATE_VARIABLE,
)
from kessai.settings import (
    BREAKER_WINDOW_VARIABLE as WINDOW_VARIABLE,
)
from kessai.settings import (
    DEFAULT_BREAKER_CONSECUTIVE,
    DEFAULT_BREAKER_RATE_PERCENT,
    DEFAULT_BREAKER_WINDOW,
    BreakerSettingsError,
    Settings,
    environment_setting,
)


@dataclass(frozen=True)
class BreakerSettings:
    consecutive: int = DEFAULT_BREAKER_CONSECUTIVE  # faults in a row that open the breaker
    rate_percent: float = (
        DEFAULT_BREAKER_RATE_PERCENT  # more than this share of faults among the first `window` calls opens it
    )
    window: int = DEFAULT_BREAKER_WINDOW  # how many first calls the rate is measured over

    def __post_init__(self) -> None:
        if self.consecutive < 1 or self.window < 1 or not 0 <= self.rate_percent <= 100:
            raise BreakerSettingsError(
                f"circuit breaker settings out of range: {CONSECUTIVE_VARIABLE}={self.consecutive} (>= 1), "
                f"{RATE_VARIABLE}={self.rate_percent:g} (0-100), {WINDOW_VARIABLE}={self.window} (>= 1)"
            )

    @classmethod
    def of(cls, settings: Settings) -> BreakerSettings:
        """The thresholds a Settings holds (checked here: they must make a breaker)."""
        return cls(settings.breaker_consecutive, settings.breaker_rate_percent, settings.breaker_window)

    def describe(self) -> str:
        return (
            f"{self.consecutive} faults in a row, or more than {self.rate_percent:g} % of the first {self.window} calls"
        )


def breaker_settings(environ: Mapping[str, str]) -> BreakerSettings:
    """The thresholds an environment gives (unset or blank: the defaults)."""
    names = ("breaker_consecutive", "breaker_rate_percent", "breaker_window")
    return BreakerSettings(*(environment_setting(name, environ) for name in names))


class _NotSent:
    def __repr__(self) -> str:
        return "NOT_SENT"


NOT_SENT = _NotSent()  # what `call` returns when the breaker is open: the call never left


class CircuitBreaker:
    """One run's breaker; thread-safe (the run's calls complete in a pool of threads)."""

    def __init__(self, settings: BreakerSettings = BreakerSettings()) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._in_a_row = 0
        self._calls = 0
        self._faults_in_window = 0
        self.reason: str | None = None  # why it opened; None while closed

    @property
    def is_open(self) -> bool:
        return self.reason is not None

    def call(self, function: Callable, *args, **kwargs):
        """function(*args, **kwargs) unless the breaker is open (then NOT_SENT); records the answer."""
        if self.is_open:
            return NOT_SENT
        answer = function(*args, **kwargs)
        self.record(answer)
        return answer

    def record(self, answer: ChargeResult | None) -> None:
        """Count one answer (None: a lookup found nothing executed, an answer like any other)."""
        fault = answer is not None and answer.kind == KIND_FAULT
        with self._lock:
            self._calls += 1
            if not fault:
                self._in_a_row = 0
                return
            self._in_a_row += 1
            if self._calls <= self.settings.window:
                self._faults_in_window += 1
            if self.reason is not None:
                return
            assert answer is not None  # a fault is an answer
            if answer.reason == CREDENTIALS_REFUSED:
                self.reason = (
                    "the card gateway refused the credentials (check the password of the Airflow "
                    "connection kessai_card_gateway)"
                )
            elif self._in_a_row >= self.settings.consecutive:
                self.reason = f"{self._in_a_row} faults in a row"
            elif self._faults_in_window * 100 > self.settings.rate_percent * self.settings.window:
                self.reason = (
                    f"{self._faults_in_window} faults among the first {self.settings.window} calls "
                    f"(more than {self.settings.rate_percent:g} %)"
                )
