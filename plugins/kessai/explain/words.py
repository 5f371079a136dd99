"""The words of `python -m kessai explain` in English and Japanese: dates, amounts, and why the
days a rule skipped were no business days (the weekend, a national holiday by its jpholiday name,
the 12/31-1/3 bank holidays, a declared closure with its reason)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum

from kessai.calendar.business_calendar import BusinessCalendar, bank_holiday_name, national_holiday_name
from kessai.calendar.run_dates import JAPAN

LANGUAGES = ("en", "ja")

WEEKDAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "ja": ("月", "火", "水", "木", "金", "土", "日"),
}


def check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}: expected one of {', '.join(LANGUAGES)}")
    return lang


def day(d: date | None, lang: str) -> str:
    """2027-01-04 (Mon) / 2027-01-04(月)."""
    if d is None:
        return "-"
    weekday = WEEKDAYS[lang][d.weekday()]
    return f"{d.isoformat()} ({weekday})" if lang == "en" else f"{d.isoformat()}({weekday})"


def moment(value: datetime | None, lang: str) -> str:
    """A timestamp as its time in Japan: 2026-12-30 14:05 JST / 2026-12-30 14:05（日本時間）."""
    if value is None:
        return "-"
    text = value.astimezone(JAPAN).strftime("%Y-%m-%d %H:%M")
    return f"{text} JST" if lang == "en" else f"{text}（日本時間）"


def yen(amount: int, lang: str) -> str:
    return f"{int(amount):,} yen" if lang == "en" else f"{int(amount):,}円"


def count(n: int, noun: str, lang: str) -> str:
    """3 slips / 1 slip / 3件."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}" if lang == "en" else f"{n:,}件"


def short(d: date) -> str:
    return f"{d.month}/{d.day}"


def pick(lang: str, en: str, ja: str) -> str:
    return en if lang == "en" else ja


# -- why a day was no business day ------------------------------------------------------------


class ClosedKind(StrEnum):
    """Why a day is no business day."""

    CLOSURE = "closure"  # declared closed by the operators (calendar_overrides)
    WEEKEND = "weekend"
    NATIONAL = "national"  # a national holiday
    BANK = "bank"  # a bank holiday (12/31-1/3)


def closed_reasons(calendar: BusinessCalendar, d: date, declared: dict[date, str]) -> list[tuple[ClosedKind, str]]:
    """Every reason d is closed, as (kind, name): weekend, national, bank, closure. A declared
    closure names the operator's reason (calendar_overrides), when it gave one."""
    reasons = []
    if d in calendar.extra_closures:
        reasons.append((ClosedKind.CLOSURE, declared.get(d, "")))
    if d.weekday() >= 5:
        reasons.append((ClosedKind.WEEKEND, ""))
    if name := national_holiday_name(d):
        reasons.append((ClosedKind.NATIONAL, name))
    if bank_holiday_name(d):
        reasons.append((ClosedKind.BANK, ""))
    return reasons


def _ranges(days: list[date]) -> list[str]:
    """Consecutive days as ranges: [12/31, 1/1, 1/2, 1/3] -> ["12/31-1/3"]."""
    found: list[list[date]] = []
    for d in days:
        if found and found[-1][-1] + timedelta(days=1) == d:
            found[-1].append(d)
        else:
            found.append([d])
    return [short(r[0]) if len(r) == 1 else f"{short(r[0])}-{short(r[-1])}" for r in found]


def _reason_phrase(kind: ClosedKind, name: str, span: str, plural: bool, lang: str) -> str:
    if kind == ClosedKind.WEEKEND:
        return pick(lang, f"{span} the weekend", f"{span} 土日")
    if kind == ClosedKind.NATIONAL:
        return pick(lang, f"{span} {name} (national holiday)", f"{span} {name}(祝日)")
    if kind == ClosedKind.BANK:
        return pick(lang, f"{span} bank holiday{'s' if plural else ''}", f"{span} 銀行休業日")
    reason = f": {name}" if name else ""
    return pick(lang, f"{span} declared closed{reason}", f"{span} 臨時休業日{('：' + name) if name else ''}")


def describe_closed_days(calendar: BusinessCalendar, days: list[date], declared: dict[date, str], lang: str) -> str:
    """Why each of `days` was no business day, a reason at a time in the order they first occur:
    "12/31-1/3 bank holidays (12/31-1/3); 1/1 元日 (national holiday); 1/2-1/3 the weekend"."""
    grouped: dict[tuple[str, str], list[date]] = {}
    for d in sorted(days):
        for reason in closed_reasons(calendar, d, declared):
            grouped.setdefault(reason, []).append(d)
    phrases = [
        _reason_phrase(ClosedKind(kind), name, ", ".join(_ranges(group)), len(group) > 1, lang)
        for (kind, name), group in grouped.items()
    ]
    return pick(lang, "; ", "、").join(phrases)


def days_between(start: date, end: date) -> list[date]:
    """The days strictly between start and end."""
    return [start + timedelta(days=n) for n in range(1, (end - start).days)]
