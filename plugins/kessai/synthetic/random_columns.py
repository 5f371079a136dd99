"""The random columns synthetic data is drawn from: seeded generators, exact shares, and moments
in Japan (docs/synthetic-data.md). Everything works on numpy arrays, never row by row."""

from __future__ import annotations

import numpy as np

# Each kind of row draws from its own generators, seeded [seed, stream] or [seed, stream, block]:
# changing how many rows of one kind a plan asks for leaves the others' draws alone.
MERCHANT_STREAM, BANK_ACCOUNT_STREAM, SUBSCRIPTION_STREAM, SLIP_STREAM = range(4)

DAY = 86_400
JAPAN_OFFSET = 9 * 3600  # Japan keeps no daylight saving time

# When operators and merchants register things (hours in Japan, share): office hours, the
# evening, and the night before 09:00, whose UTC timestamp falls on the previous calendar day.
WORKING_HOURS = ((9, 19, 0.75), (19, 24, 0.15), (0, 9, 0.10))


def seeded(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


def labels(rng: np.random.Generator, n: int, shares) -> np.ndarray:
    """Labels 1..len(shares), each on round(share * n) of n rows (exactly), 0 on the rest, shuffled."""
    counts: list[int] = []
    for share in shares:
        counts.append(min(round(share * n), n - sum(counts)))
    return rng.permutation(np.repeat(np.arange(len(shares) + 1), [n - sum(counts), *counts]))


def midnight(days: np.ndarray) -> np.ndarray:
    """Seconds since the epoch (UTC) at 00:00 in Japan of each day."""
    return days.astype(np.int64) * DAY - JAPAN_OFFSET


def moments(rng: np.random.Generator, days: np.ndarray, time_of_day: np.ndarray, earliest, latest) -> np.ndarray:
    """A moment (epoch seconds) on each day in Japan: at the time of day asked where that lies in
    [earliest, latest], else a uniform one in that part of the day (which must not be empty)."""
    start = midnight(days)
    low = np.maximum(start, earliest)
    high = np.minimum(start + DAY - 1, latest)
    wanted = start + time_of_day
    fallback = low + (rng.random(len(days)) * (high - low + 1)).astype(np.int64)
    return np.where((wanted >= low) & (wanted <= high), wanted, fallback)


def working_times(rng: np.random.Generator, n: int) -> np.ndarray:
    """Times of day (seconds after 00:00 in Japan) by WORKING_HOURS."""
    band = rng.choice(len(WORKING_HOURS), n, p=[share for _, _, share in WORKING_HOURS])
    first_hour = np.array([first for first, _, _ in WORKING_HOURS])[band]
    hours = np.array([last - first for first, last, _ in WORKING_HOURS])[band]
    return first_hour * 3600 + (rng.random(n) * hours * 3600).astype(np.int64)


def any_times(rng: np.random.Generator, n: int) -> np.ndarray:
    """Times of day, uniform around the clock (online shops never close)."""
    return rng.integers(0, DAY, n)


def add_months_to_days(days: np.ndarray, months: int) -> np.ndarray:
    """kessai.calendar.rules.add_months over an array of datetime64[D]: clipped to the month's end."""
    month = days.astype("datetime64[M]")
    day_in_month = days - month.astype("datetime64[D]")
    target = month + months
    return np.minimum(target.astype("datetime64[D]") + day_in_month, (target + 1).astype("datetime64[D]") - 1)


def timestamps(seconds: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Epoch seconds as datetime64 (UTC), NaT where not present."""
    values = seconds.astype("datetime64[s]")
    if present is not None:
        values[~present] = np.datetime64("NaT")
    return values


def dates(days: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Days as datetime64[D], NaT where not present."""
    values = days.astype("datetime64[D]")
    if present is not None:
        values[~present] = np.datetime64("NaT")
    return values
