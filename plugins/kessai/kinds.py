"""What the package's result types share: the plain form a task returns as its XCom.

A job returns a frozen dataclass (a transmission summary, a closing summary, ...); the task layer
returns its `as_dict()`, which holds only JSON values: enums as their strings, dates as ISO
strings, nested results as dicts. A field declared with `optional()` is left out of that dict while
it has its default, as a key a summary carries only when it applies ("dry_run", "closed").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

_OMITTED_AT_DEFAULT = "omitted_at_default"


def optional(default: Any = None) -> Any:
    """A field that `as_dict()` leaves out while it holds `default`."""
    return dataclasses.field(default=default, metadata={_OMITTED_AT_DEFAULT: True})


def plain(value: Any) -> Any:
    """A value as JSON holds it: results as dicts, enums as their strings, dates as ISO strings,
    tuples as lists; anything else as it is."""
    if isinstance(value, Result):
        return value.as_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {plain(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


class Result:
    """The base of the result dataclasses: `as_dict()`, the result as its task's XCom."""

    __slots__ = ()

    def as_dict(self) -> dict[str, Any]:
        values = {}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if field.metadata.get(_OMITTED_AT_DEFAULT) and value is field.default:
                continue
            values[field.name] = plain(value)
        return values


@dataclass(frozen=True, slots=True)
class ClosedDay(Result):
    """A run on a day the operators declared closed: nothing done, and why."""

    business_date: date
    closed: str


@dataclass(frozen=True, slots=True)
class FolderImport(Result):
    """A folder's files imported one by one, oldest name first: each file's own result."""

    folder: str
    files: list
    dry_run: bool
