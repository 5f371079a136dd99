"""Every setting of the package, in one place: its environment variable, its default, what it
controls (docs/configuration.md lists the same table), and how its value is read.

This module is the one reader of the environment: `Settings.from_environment()` for a boundary
(the task layer, the command line, the console), which builds a `Settings` once and passes it, or
the values a function needs, down; `environment_setting(name)` for a function called without
one. A bad value is refused at once, in one line naming the variable and the value (a URL's
password masked).

Some settings are overrides: unset, the kessai_settings row of the business database decides
(the Zengin remitter, the transfer lead days, the return fee, the invoice settings).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

from kessai.errors import Refusal
from kessai.mail.smtp_url import parse_smtp_url
from kessai.url_masking import mask_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# -- the variables -------------------------------------------------------------------------------

DATABASE_URL_VARIABLE = "KESSAI_DATABASE_URL"
HOME_VARIABLE = "KESSAI_HOME"
SQL_DIR_VARIABLE = "KESSAI_SQL_DIR"
AS_OF_VARIABLE = "KESSAI_AS_OF"
HOLIDAYS_REVIEWED_THROUGH_VARIABLE = "KESSAI_HOLIDAYS_REVIEWED_THROUGH"
SMTP_URL_VARIABLE = "KESSAI_SMTP_URL"
OPERATOR_EMAIL_VARIABLE = "KESSAI_OPERATOR_EMAIL"
FILE_MODE_VARIABLE = "KESSAI_FILE_MODE"
DIR_MODE_VARIABLE = "KESSAI_DIR_MODE"
CSV_ENCODING_VARIABLE = "KESSAI_CSV_ENCODING"
MAX_SLIP_AMOUNT_VARIABLE = "KESSAI_MAX_SLIP_AMOUNT"
IMPORT_MAX_BYTES_VARIABLE = "KESSAI_IMPORT_MAX_BYTES"
TRANSMISSION_URL_VARIABLE = "KESSAI_TRANSMISSION_URL"
TRANSMISSION_SENDER_VARIABLE = "KESSAI_TRANSMISSION_SENDER"
ACKNOWLEDGEMENTS_DIR_VARIABLE = "KESSAI_ACKNOWLEDGEMENTS_DIR"
TRANSFER_LEAD_DAYS_VARIABLE = "KESSAI_TRANSFER_LEAD_DAYS"
TRANSFER_RETURN_FEE_VARIABLE = "KESSAI_TRANSFER_RETURN_FEE"
TRANSFER_RESULTS_DIR_VARIABLE = "KESSAI_TRANSFER_RESULTS_DIR"
ZENGIN_VARIABLE_PREFIX = "KESSAI_ZENGIN_"
INVOICE_VARIABLES = {
    "invoice_registration_number": "KESSAI_INVOICE_REGISTRATION_NUMBER",
    "merchant_fee_tax_class": "KESSAI_MERCHANT_FEE_TAX_CLASS",
    "transfer_fee_tax_class": "KESSAI_TRANSFER_FEE_TAX_CLASS",
}
REMINDER_PERIOD_VARIABLE = "KESSAI_REMINDER_PERIOD"
STALE_SLIP_INLINE_LIMIT_VARIABLE = "KESSAI_STALE_SLIP_INLINE_LIMIT"
CARD_GATEWAY_VARIABLE = "KESSAI_CARD_GATEWAY"
CARD_GATEWAY_URL_VARIABLE = "KESSAI_CARD_GATEWAY_URL"
CARD_GATEWAY_API_KEY_VARIABLE = "KESSAI_CARD_GATEWAY_API_KEY"
CHARGE_CONCURRENCY_VARIABLE = "KESSAI_CHARGE_CONCURRENCY"
BREAKER_CONSECUTIVE_VARIABLE = "KESSAI_CHARGE_BREAKER_CONSECUTIVE"
BREAKER_RATE_VARIABLE = "KESSAI_CHARGE_BREAKER_RATE"
BREAKER_WINDOW_VARIABLE = "KESSAI_CHARGE_BREAKER_WINDOW"
REPAYMENT_LINK_SECRET_VARIABLE = "KESSAI_REPAYMENT_LINK_SECRET"

# The Zengin remitter's fields (振込依頼人), each KESSAI_ZENGIN_<FIELD> (upper case).
REMITTER_FIELDS = (
    "remitter_code",
    "name",
    "bank_code",
    "bank_name",
    "branch_code",
    "branch_name",
    "account_type",
    "account_number",
)
# Settings whose values are URLs that may carry a password (masked in every message).
SECRET_URL_VARIABLES = (DATABASE_URL_VARIABLE, SMTP_URL_VARIABLE, TRANSMISSION_URL_VARIABLE)
# Settings whose values are secrets as a whole.
SECRET_VARIABLES = (CARD_GATEWAY_API_KEY_VARIABLE, REPAYMENT_LINK_SECRET_VARIABLE)

# -- the defaults --------------------------------------------------------------------------------

DEFAULT_HOME = (PROJECT_ROOT / "var").resolve()
DEFAULT_SQL_DIR = PROJECT_ROOT / "sql"
# The last year whose national holidays an operator has checked against the Cabinet Office's
# announcement (published in the February of the year before) and found jpholiday to agree with.
# Raise it only after that review: a holiday law change has moved days before (2019-2021).
HOLIDAYS_REVIEWED_THROUGH = 2028
# Mailpit's SMTP port on this machine: what a developer runs (docker-compose runs it too).
DEFAULT_SMTP_URL = "smtp://localhost:1025"
# A reserved domain (RFC 2606): every deployment names its operators in KESSAI_OPERATOR_EMAIL;
# until then the alerts still go to the SMTP server (Mailpit, the demo's mailbox) to be read there.
DEFAULT_OPERATOR_EMAIL = "operators@kessai.example"
DEFAULT_FILE_MODE = 0o640
DEFAULT_DIR_MODE = 0o750
CSV_ENCODINGS = {
    "utf-8-sig": "utf-8-sig",
    "utf-8": "utf-8-sig",
    "cp932": "cp932",
    "shift_jis": "cp932",
    "sjis": "cp932",
}
DEFAULT_CSV_ENCODING = "utf-8-sig"
DEFAULT_MAX_SLIP_AMOUNT = 99_999_999
# The largest max the setting takes: a day's batch total (BIGINT) of slips at that max stays
# in range up to 9.2 million slips a card company, so no setting makes the day's sum overflow.
LARGEST_MAX_SLIP_AMOUNT = 999_999_999_999
DEFAULT_IMPORT_MAX_BYTES = 500_000_000
DEFAULT_TRANSMISSION_SENDER = "KESSAI"
REMINDER_PERIODS = ("daily", "weekly", "monthly")
DEFAULT_REMINDER_PERIOD = "weekly"
DEFAULT_STALE_SLIP_INLINE_LIMIT = 50
DEFAULT_BREAKER_CONSECUTIVE = 20
DEFAULT_BREAKER_RATE_PERCENT = 5.0
DEFAULT_BREAKER_WINDOW = 200


# -- the refusals ----------------------------------------------------------------------------------


class SettingError(Refusal, ValueError):
    """A setting whose value cannot be used."""


class ClockError(Refusal):
    """KESSAI_AS_OF cannot be read as a moment."""


class ModeSettingError(Refusal, ValueError):
    """KESSAI_FILE_MODE or KESSAI_DIR_MODE is not an octal file mode."""


class AmountSettingError(Refusal):
    """KESSAI_MAX_SLIP_AMOUNT is not a whole number of yen the database can hold."""


class ImportSettingError(Refusal):
    """KESSAI_IMPORT_MAX_BYTES is not a number of bytes."""


class BreakerSettingsError(Refusal):
    """A circuit breaker setting that is not a number or is out of range."""


# -- the readers of one value ------------------------------------------------------------------------


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


def parse_mode(variable: str, value: str, default: int) -> int:
    """An octal file mode (0640, 640 or 0o640); blank: the default."""
    value = value.strip()
    if not value:
        return default
    try:
        mode = int(value.removeprefix("0o"), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777:
        raise ModeSettingError(f"{variable}={value!r} is not a file mode: give octal digits such as {default:04o}")
    return mode


def parse_csv_encoding(value: str) -> str:
    value = value.strip().lower()
    if not value:
        return DEFAULT_CSV_ENCODING
    if value not in CSV_ENCODINGS:
        raise SettingError(
            f"{CSV_ENCODING_VARIABLE}={value!r}: expected utf-8-sig (UTF-8 with BOM, the default) or cp932 (Shift_JIS)"
        )
    return CSV_ENCODINGS[value]


def parse_max_slip_amount(value: str) -> int:
    """Yen in 1..999,999,999,999 (commas and underscores allowed); blank: the default."""
    value = value.strip()
    if not value:
        return DEFAULT_MAX_SLIP_AMOUNT
    try:
        limit = int(value.replace(",", "").replace("_", ""))
    except ValueError:
        limit = 0
    if not 1 <= limit <= LARGEST_MAX_SLIP_AMOUNT:
        raise AmountSettingError(
            f"{MAX_SLIP_AMOUNT_VARIABLE}={value!r} is not a whole number of yen from 1 to {LARGEST_MAX_SLIP_AMOUNT:,}: "
            f"set it so (default {DEFAULT_MAX_SLIP_AMOUNT:,}) or unset it"
        )
    return limit


def parse_import_max_bytes(value: str) -> int:
    value = value.strip()
    if not value:
        return DEFAULT_IMPORT_MAX_BYTES
    try:
        limit = int(value.replace(",", "").replace("_", ""))
    except ValueError:
        limit = 0
    if limit < 1:
        raise ImportSettingError(
            f"{IMPORT_MAX_BYTES_VARIABLE}={value!r} is not a number of bytes: "
            f"set it so (default {DEFAULT_IMPORT_MAX_BYTES:,}) or unset it"
        )
    return limit


def _text(environ: Mapping[str, str], variable: str) -> str | None:
    """The variable's value, stripped; None when unset or blank."""
    value = (environ.get(variable) or "").strip()
    return value or None


def _whole_number(environ: Mapping[str, str], variable: str, default: int, *, least: int) -> int:
    value = _text(environ, variable)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingError(f"{variable}={value!r}: expected a whole number >= {least}") from None
    if number < least:
        raise SettingError(f"{variable}={value!r}: expected a whole number >= {least}")
    return number


def _breaker_number(variable: str, default: float, number: type):
    """A breaker threshold as a number; its range is BreakerSettings' to check (kessai.gateway.circuit_breaker)."""

    def read(environ: Mapping[str, str]):
        value = _text(environ, variable)
        if value is None:
            return default
        try:
            return number(value)
        except ValueError:
            raise BreakerSettingsError(f"{variable}={value!r} is not a number") from None

    return read


def _smtp_url(environ: Mapping[str, str]) -> str | None:
    url = _text(environ, SMTP_URL_VARIABLE)
    if url is not None:
        try:
            parse_smtp_url(url)
        except ValueError as error:
            raise SettingError(f"{SMTP_URL_VARIABLE}={mask_url(url)!r}: {error}") from None
    return url


def _reminder_period(environ: Mapping[str, str]) -> str:
    value = _text(environ, REMINDER_PERIOD_VARIABLE) or DEFAULT_REMINDER_PERIOD
    if value not in REMINDER_PERIODS:
        raise SettingError(f"{REMINDER_PERIOD_VARIABLE}={value!r}: expected one of {', '.join(REMINDER_PERIODS)}")
    return value


# -- the settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What a deployment configures. Every field has its default; docs/configuration.md says what
    each one controls. Construct one directly (tests, a second caller) or from the environment."""

    database_url: str | None = field(
        default=None, repr=False
    )  # KESSAI_DATABASE_URL; None: Airflow's kessai_db, else SQLite in home
    home: Path = DEFAULT_HOME  # KESSAI_HOME
    sql_dir: Path = DEFAULT_SQL_DIR  # KESSAI_SQL_DIR
    as_of: datetime | None = None  # KESSAI_AS_OF; None: the real clock
    holidays_reviewed_through: int = HOLIDAYS_REVIEWED_THROUGH  # KESSAI_HOLIDAYS_REVIEWED_THROUGH
    smtp_url: str | None = field(
        default=None, repr=False
    )  # KESSAI_SMTP_URL; None: Airflow's smtp_default, else Mailpit
    operator_email: str = DEFAULT_OPERATOR_EMAIL  # KESSAI_OPERATOR_EMAIL
    file_mode: int = DEFAULT_FILE_MODE  # KESSAI_FILE_MODE
    dir_mode: int = DEFAULT_DIR_MODE  # KESSAI_DIR_MODE
    csv_encoding: str = DEFAULT_CSV_ENCODING  # KESSAI_CSV_ENCODING
    max_slip_amount: int = DEFAULT_MAX_SLIP_AMOUNT  # KESSAI_MAX_SLIP_AMOUNT
    import_max_bytes: int = DEFAULT_IMPORT_MAX_BYTES  # KESSAI_IMPORT_MAX_BYTES
    transmission_url: str | None = field(default=None, repr=False)  # KESSAI_TRANSMISSION_URL; None: home/transmissions
    transmission_sender: str = DEFAULT_TRANSMISSION_SENDER  # KESSAI_TRANSMISSION_SENDER
    acknowledgements_dir: Path | None = None  # KESSAI_ACKNOWLEDGEMENTS_DIR; None: home/acknowledgements
    transfer_lead_days: int | None = None  # KESSAI_TRANSFER_LEAD_DAYS; None: the kessai_settings row, else 2
    transfer_return_fee: int | None = None  # KESSAI_TRANSFER_RETURN_FEE; None: the kessai_settings row, else 0
    transfer_results_dir: Path | None = None  # KESSAI_TRANSFER_RESULTS_DIR; None: home/transfer-results
    zengin_remitter: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # KESSAI_ZENGIN_<FIELD>
    invoice: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # INVOICE_VARIABLES
    reminder_period: str = DEFAULT_REMINDER_PERIOD  # KESSAI_REMINDER_PERIOD
    stale_slip_inline_limit: int = DEFAULT_STALE_SLIP_INLINE_LIMIT  # KESSAI_STALE_SLIP_INLINE_LIMIT
    card_gateway: str | None = None  # KESSAI_CARD_GATEWAY: simulator or http
    card_gateway_url: str | None = None  # KESSAI_CARD_GATEWAY_URL (the commands' HTTP gateway)
    card_gateway_api_key: str | None = field(default=None, repr=False)  # KESSAI_CARD_GATEWAY_API_KEY
    charge_concurrency: str | None = None  # KESSAI_CHARGE_CONCURRENCY; checked with the gateway's settings
    breaker_consecutive: int = DEFAULT_BREAKER_CONSECUTIVE  # KESSAI_CHARGE_BREAKER_CONSECUTIVE
    breaker_rate_percent: float = DEFAULT_BREAKER_RATE_PERCENT  # KESSAI_CHARGE_BREAKER_RATE
    breaker_window: int = DEFAULT_BREAKER_WINDOW  # KESSAI_CHARGE_BREAKER_WINDOW
    repayment_link_secret: str | None = field(default=None, repr=False)  # KESSAI_REPAYMENT_LINK_SECRET

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """The settings the environment gives (unset or blank: the default); with
        `environment_setting`, the one place the package reads the environment."""
        return cls(**{name: read(environ) for name, read in _READERS.items()})


def environment_setting(name: str, environ: Mapping[str, str] | None = None):
    """One setting as the environment gives it (the field `name` of Settings.from_environment),
    read alone: for a caller that was handed no Settings."""
    return _READERS[name](os.environ if environ is None else environ)


def _path(environ: Mapping[str, str], variable: str) -> Path | None:
    value = _text(environ, variable)
    return Path(value) if value else None


def _present(environ: Mapping[str, str], variables: Mapping[str, str]) -> Mapping[str, str]:
    """{name: value} of the variables that are set (a set value may be blank: it still overrides)."""
    return MappingProxyType({name: environ[variable] for name, variable in variables.items() if variable in environ})


def url_setting_values(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The URL settings as written, unchecked: masking reads them to hide their passwords in any
    text, including the message that refuses a bad setting."""
    return [environ[variable] for variable in SECRET_URL_VARIABLES if environ.get(variable)]


def secret_setting_values(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The secret settings' values as written (the card gateway's API key, the link secret)."""
    return [environ[variable].strip() for variable in SECRET_VARIABLES if (environ.get(variable) or "").strip()]


def _optional_whole_number(variable: str, least: int):
    def read(environ: Mapping[str, str]) -> int | None:
        return _whole_number(environ, variable, 0, least=least) if _text(environ, variable) else None

    return read


def _as_of(environ: Mapping[str, str]) -> datetime | None:
    value = _text(environ, AS_OF_VARIABLE)
    return parse_as_of(value) if value else None


# How each field of Settings is read from the environment.
_READERS = {
    "database_url": lambda environ: _text(environ, DATABASE_URL_VARIABLE),
    "home": lambda environ: Path(_text(environ, HOME_VARIABLE) or DEFAULT_HOME).resolve(),
    "sql_dir": lambda environ: Path(_text(environ, SQL_DIR_VARIABLE) or DEFAULT_SQL_DIR),
    "as_of": _as_of,
    "holidays_reviewed_through": lambda environ: _whole_number(
        environ, HOLIDAYS_REVIEWED_THROUGH_VARIABLE, HOLIDAYS_REVIEWED_THROUGH, least=2020
    ),
    "smtp_url": _smtp_url,
    "operator_email": lambda environ: _text(environ, OPERATOR_EMAIL_VARIABLE) or DEFAULT_OPERATOR_EMAIL,
    "file_mode": lambda environ: parse_mode(FILE_MODE_VARIABLE, environ.get(FILE_MODE_VARIABLE, ""), DEFAULT_FILE_MODE),
    "dir_mode": lambda environ: parse_mode(DIR_MODE_VARIABLE, environ.get(DIR_MODE_VARIABLE, ""), DEFAULT_DIR_MODE),
    "csv_encoding": lambda environ: parse_csv_encoding(environ.get(CSV_ENCODING_VARIABLE, "")),
    "max_slip_amount": lambda environ: parse_max_slip_amount(environ.get(MAX_SLIP_AMOUNT_VARIABLE) or ""),
    "import_max_bytes": lambda environ: parse_import_max_bytes(environ.get(IMPORT_MAX_BYTES_VARIABLE) or ""),
    "transmission_url": lambda environ: _text(environ, TRANSMISSION_URL_VARIABLE),
    "transmission_sender": lambda environ: _text(environ, TRANSMISSION_SENDER_VARIABLE) or DEFAULT_TRANSMISSION_SENDER,
    "acknowledgements_dir": lambda environ: _path(environ, ACKNOWLEDGEMENTS_DIR_VARIABLE),
    "transfer_lead_days": _optional_whole_number(TRANSFER_LEAD_DAYS_VARIABLE, least=1),
    "transfer_return_fee": _optional_whole_number(TRANSFER_RETURN_FEE_VARIABLE, least=0),
    "transfer_results_dir": lambda environ: _path(environ, TRANSFER_RESULTS_DIR_VARIABLE),
    "zengin_remitter": lambda environ: _present(
        environ, {name: ZENGIN_VARIABLE_PREFIX + name.upper() for name in REMITTER_FIELDS}
    ),
    "invoice": lambda environ: _present(environ, INVOICE_VARIABLES),
    "reminder_period": _reminder_period,
    "stale_slip_inline_limit": lambda environ: _whole_number(
        environ, STALE_SLIP_INLINE_LIMIT_VARIABLE, DEFAULT_STALE_SLIP_INLINE_LIMIT, least=0
    ),
    "card_gateway": lambda environ: _text(environ, CARD_GATEWAY_VARIABLE),
    "card_gateway_url": lambda environ: _text(environ, CARD_GATEWAY_URL_VARIABLE),
    "card_gateway_api_key": lambda environ: _text(environ, CARD_GATEWAY_API_KEY_VARIABLE),
    "charge_concurrency": lambda environ: _text(environ, CHARGE_CONCURRENCY_VARIABLE),
    "breaker_consecutive": _breaker_number(BREAKER_CONSECUTIVE_VARIABLE, DEFAULT_BREAKER_CONSECUTIVE, int),
    "breaker_rate_percent": _breaker_number(BREAKER_RATE_VARIABLE, DEFAULT_BREAKER_RATE_PERCENT, float),
    "breaker_window": _breaker_number(BREAKER_WINDOW_VARIABLE, DEFAULT_BREAKER_WINDOW, int),
    "repayment_link_secret": lambda environ: _text(environ, REPAYMENT_LINK_SECRET_VARIABLE),
}
