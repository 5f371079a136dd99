"""A CSV file read as Excel reads it when opened by double-click (the tests' model of it, after
Microsoft's documented import behaviour: "Excel converts data to numbers, dates and formulas"):

- a field is unquoted by the CSV rules (RFC 4180) first;
- one starting with = is a formula: ="..." gives its text (with "" for a quote), any other
  formula is returned as Formula (a file of ours must never have one);
- one that reads as a number (sign, digits with or without thousands commas, decimals, exponent)
  becomes a number: leading zeros are gone and only 15 significant digits are kept, so an 18-digit
  slip number comes back changed (9.00000000007203E+17);
- one that reads as a date (2027-01-31, 2027/1/31) becomes a date;
- anything else is text, as written.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date

NUMBER = re.compile(r"[+-]?([0-9]{1,3}(,[0-9]{3})+|[0-9]+)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
DATE = re.compile(r"([0-9]{4})[-/]([0-9]{1,2})[-/]([0-9]{1,2})")
TEXT_FORMULA = re.compile(r'="((?:[^"]|"")*)"')


@dataclass(frozen=True)
class Formula:
    text: str


def cell(field: str):
    """What Excel holds for one unquoted field."""
    if field.startswith("="):
        text = TEXT_FORMULA.fullmatch(field)
        return text.group(1).replace('""', '"') if text else Formula(field)
    if NUMBER.fullmatch(field):
        value = float(field.replace(",", ""))
        return float(f"{value:.15g}")  # Excel keeps 15 significant digits
    if match := DATE.fullmatch(field):
        return date(*(int(part) for part in match.groups()))
    return field


def read_as_excel(content: bytes, encoding: str = "utf-8-sig") -> list[list]:
    return [[cell(field) for field in row] for row in csv.reader(io.StringIO(content.decode(encoding), newline=""))]
