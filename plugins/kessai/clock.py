"""The one clock of the system (SPEC §4.6): what time it is in Japan, and the earliest moment each
job may act for its date.

The clock is the real one unless KESSAI_AS_OF names the moment the system takes as now (ISO 8601
with an offset: demos, tests, rehearsals). It is read once, at the boundary (the task layer, the
command line), and passed down as a `datetime`; nothing below reads it again.

No run acts before its day: work for business day D (transmission, transfer files, reminders)
starts once D has begun in Japan; a closing C once C has ended (C+1 00:00 JST); a recurring charge
once its charge day has begun. An earlier request is refused with `TooEarly`, naming the date and
the earliest moment; a dry run may look ahead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum

from kessai.errors import Refusal
from kessai.run_dates import JAPAN

AS_OF_VARIABLE = "KESSAI_AS_OF"


class ClockError(Refusal):
    """KESSAI_AS_OF cannot be read as a moment."""


class TooEarly(Refusal):
    """A run asked to act for a date whose moment has not come yet."""


class Starts(Enum):
    """When a job's date allows it to act."""

    DAY_BEGUN = "day_begun"  # from D 00:00 in Japan: transmission, transfer files, reminders, charge
    DAY_ENDED = "day_ended"  # from D+1 00:00 in Japan: the closing of D


def parse_as_of(value: str) -> datetime:
    """KESSAI_AS_OF as an aware datetime; refuses a value without a time-zone offset."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ClockError(
            f"{AS_OF_VARIABLE}={value!r} is not a moment: write it in ISO 8601 with an offset, "
            "e.g. 2027-01-05T06:00:00+09:00"
        ) from None
    if moment.tzinfo is None:
        raise ClockError(
            f"{AS_OF_VARIABLE}={value!r} has no time-zone offset: write e.g. {value.strip()}+09:00 for Japan time"
        )
    return moment


def as_of_setting(environ: Mapping[str, str] | None = None) -> str | None:
    """KESSAI_AS_OF when set (and not blank), else None."""
    value = (os.environ if environ is None else environ).get(AS_OF_VARIABLE, "")
    return value if value.strip() else None


def now(environ: Mapping[str, str] | None = None) -> datetime:
    """The moment the system takes as now, in Japan: KESSAI_AS_OF when set, else the real clock."""
    setting = as_of_setting(environ)
    moment = parse_as_of(setting) if setting else datetime.now(UTC)
    return moment.astimezone(JAPAN)


def describe(moment: datetime, environ: Mapping[str, str] | None = None) -> str:
    """The clock reading as a log line says it."""
    setting = as_of_setting(environ)
    reading = moment.astimezone(JAPAN).isoformat(timespec="seconds")
    return f"{reading} (Japan; from {AS_OF_VARIABLE}={setting})" if setting else f"{reading} (Japan)"


def earliest_moment(day: date, starts: Starts) -> datetime:
    """The first moment at which a job may act for `day`, in Japan."""
    start_day = day + timedelta(days=1) if starts is Starts.DAY_ENDED else day
    return datetime.combine(start_day, time.min, tzinfo=JAPAN)


def check_not_before(day: date, starts: Starts, moment: datetime, *, what: str) -> None:
    """Refuse work for `day` before its moment has come: TooEarly names both moments."""
    earliest = earliest_moment(day, starts)
    if moment < earliest:
        raise TooEarly(
            f"{what} for {day.isoformat()} cannot run yet: it is {moment.astimezone(JAPAN):%Y-%m-%d %H:%M} "
            f"in Japan, and the earliest moment is {earliest:%Y-%m-%d %H:%M} (Japan). "
            "Nothing was done; it runs then (a dry run may look ahead)"
        )
