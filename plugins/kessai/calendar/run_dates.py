"""Which business date a run stands for, decided once per run and passed down to every step."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from kessai.errors import Refusal

JAPAN = ZoneInfo("Asia/Tokyo")


class BusinessDateError(Refusal, ValueError):
    """A run cannot tell which business date it is for, or the date is not one it may process."""


def japan_date_of(moment: datetime) -> date:
    if moment.tzinfo is None:
        raise BusinessDateError(f"{moment!r} has no time zone; cannot tell its date in Japan")
    return moment.astimezone(JAPAN).date()


def resolve_business_date(requested: str | date | None, logical_date: datetime | None) -> date:
    """The run's business date: the `business_date` param if given, else the logical date in Japan.

    A manual run may have no logical date; then the param is required.
    """
    if requested:
        if isinstance(requested, date):
            return requested
        try:
            return date.fromisoformat(str(requested).strip())
        except ValueError:
            raise BusinessDateError(f"business_date {requested!r} is not a date: write it as YYYY-MM-DD") from None
    if logical_date is None:
        raise BusinessDateError(
            'this run has no logical date and no business_date param: trigger it with {"business_date": "YYYY-MM-DD"}'
        )
    return japan_date_of(logical_date)
