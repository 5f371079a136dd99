"""The one clock of the system (SPEC §4.6): what time it is in Japan, and the earliest moment each
job may act for its date.

The clock is the real one unless KESSAI_AS_OF names the moment the system takes as now (ISO 8601
with an offset: demos, tests, rehearsals; Settings.as_of). It is read once, at the boundary (the
task layer, the command line: `now_given(settings.as_of)`), and passed down as a `datetime`;
nothing below reads it again.

No run acts before its day: work for business day D (transmission, transfer files, reminders)
starts once D has begun in Japan; a closing C once C has ended (C+1 00:00 JST); a recurring charge
once its charge day has begun. An earlier request is refused with `TooEarly`, naming the date and
the earliest moment; a dry run may look ahead.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum

from kessai.calendar.run_dates import JAPAN
from kessai.errors import Refusal
from kessai.settings import AS_OF_VARIABLE, ClockError, environment_setting, parse_as_of  # noqa: F401 (kessai.clock's names)


class TooEarly(Refusal):
    """A run asked to act for a date whose moment has not come yet."""


class Starts(Enum):
    """When a job's date allows it to act."""

    DAY_BEGUN = "day_begun"  # from D 00:00 in Japan: transmission, transfer files, reminders, charge
    DAY_ENDED = "day_ended"  # from D+1 00:00 in Japan: the closing of D


def as_of_setting(environ: Mapping[str, str] | None = None) -> datetime | None:
    """KESSAI_AS_OF when set (and not blank), else None."""
    return environment_setting("as_of", environ)


def now(environ: Mapping[str, str] | None = None) -> datetime:
    """The moment the system takes as now, in Japan: KESSAI_AS_OF when set, else the real clock."""
    return now_given(as_of_setting(environ))


def now_given(as_of: datetime | None) -> datetime:
    """The moment the system takes as now, in Japan: `as_of` (Settings.as_of) when given, else the
    real clock."""
    moment = as_of if as_of is not None else datetime.now(UTC)
    return moment.astimezone(JAPAN)


def describe(moment: datetime, environ: Mapping[str, str] | None = None) -> str:
    """The clock reading as a log line says it."""
    return describe_given(moment, as_of_setting(environ))


def describe_given(moment: datetime, as_of: datetime | None) -> str:
    """The clock reading as a log line says it, naming KESSAI_AS_OF when it set the clock."""
    reading = moment.astimezone(JAPAN).isoformat(timespec="seconds")
    return (
        f"{reading} (Japan; from {AS_OF_VARIABLE}={as_of.isoformat()})" if as_of is not None else f"{reading} (Japan)"
    )


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
