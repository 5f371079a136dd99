"""Dates and moments in Japan as the tests write them."""

from __future__ import annotations

from datetime import date, datetime

from kessai.calendar.run_dates import JAPAN

D = date.fromisoformat


def jst(moment: str, clock: str | None = None) -> datetime:
    """A moment in Japan: jst("2026-12-30 10:00"), jst("2027-01-31", "23:30"); a day alone is its
    noon, jst("2027-01-31")."""
    if clock is not None:
        moment = f"{moment}T{clock}"
    elif len(moment) == len("2027-01-31"):
        moment = f"{moment}T12:00"
    return datetime.fromisoformat(moment).replace(tzinfo=JAPAN)


def japan_time(y: int, m: int, d: int, hour: int = 12, minute: int = 0) -> datetime:
    """A moment in Japan from its numbers: japan_time(2026, 11, 5) is noon that day."""
    return datetime(y, m, d, hour, minute, tzinfo=JAPAN)
