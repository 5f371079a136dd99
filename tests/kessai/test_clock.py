"""The one clock (SPEC §4.6): KESSAI_AS_OF or the real clock, and the earliest moment of a date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from kessai import clock
from kessai.calendar.run_dates import JAPAN
from kessai.clock import ClockError, Starts, TooEarly, check_not_before, earliest_moment
from kessai.errors import Refusal


def test_as_of_is_the_moment_the_system_takes_as_now_in_japan():
    # 2027-01-31 15:30 UTC is 2027-02-01 00:30 in Japan.
    moment = clock.now({"KESSAI_AS_OF": "2027-01-31T15:30:00+00:00"})
    assert moment == datetime(2027, 2, 1, 0, 30, tzinfo=JAPAN)
    assert moment.utcoffset() == timedelta(hours=9)
    assert clock.describe(moment, {"KESSAI_AS_OF": "2027-01-31T15:30:00+00:00"}) == (
        "2027-02-01T00:30:00+09:00 (Japan; from KESSAI_AS_OF=2027-01-31T15:30:00+00:00)"
    )


def test_without_as_of_the_clock_is_the_real_one():
    before = datetime.now(UTC)
    moment = clock.now({})
    assert before <= moment <= datetime.now(UTC)
    assert clock.now({"KESSAI_AS_OF": "  "}) >= before  # blank is unset


@pytest.mark.parametrize("value", ["2027-01-05T06:00:00", "2027-01-05", "tomorrow"])
def test_as_of_without_an_offset_or_not_a_moment_is_refused(value):
    with pytest.raises(ClockError, match="KESSAI_AS_OF=.*(offset|not a moment)"):
        clock.now({"KESSAI_AS_OF": value})


def test_a_business_day_job_starts_when_its_day_begins_in_japan():
    assert earliest_moment(date(2027, 1, 5), Starts.DAY_BEGUN) == datetime(2027, 1, 5, tzinfo=JAPAN)
    # 2027-01-04 15:00 UTC is 2027-01-05 00:00 in Japan: the day has begun.
    check_not_before(date(2027, 1, 5), Starts.DAY_BEGUN, datetime(2027, 1, 4, 15, 0, tzinfo=UTC), what="x")
    with pytest.raises(TooEarly) as refused:
        check_not_before(
            date(2027, 1, 5), Starts.DAY_BEGUN, datetime(2027, 1, 4, 23, 59, 59, tzinfo=JAPAN), what="the transmission"
        )
    assert str(refused.value) == (
        "the transmission for 2027-01-05 cannot run yet: it is 2027-01-04 23:59 in Japan, and the earliest "
        "moment is 2027-01-05 00:00 (Japan). Nothing was done; it runs then (a dry run may look ahead)"
    )
    assert isinstance(refused.value, Refusal)


def test_a_closing_starts_when_its_date_has_ended_in_japan():
    assert earliest_moment(date(2027, 1, 31), Starts.DAY_ENDED) == datetime(2027, 2, 1, tzinfo=JAPAN)
    # 23:30 on the closing date itself is too early, whatever UTC says (14:30 UTC).
    with pytest.raises(TooEarly, match="earliest moment is 2027-02-01 00:00"):
        check_not_before(date(2027, 1, 31), Starts.DAY_ENDED, datetime(2027, 1, 31, 14, 30, tzinfo=UTC), what="c")
    check_not_before(date(2027, 1, 31), Starts.DAY_ENDED, datetime(2027, 2, 1, 0, 0, tzinfo=JAPAN), what="c")
