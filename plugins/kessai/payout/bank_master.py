"""The 全銀 bank master: the banks and branches that exist, with their names and kana
(docs/zengin-transfer-file.md, "The bank master").

Loaded by `python -m kessai bank-master update` from the `zengin-code` package (the published
master, pinned in requirements.txt) or from a bank-master CSV file, into bank_master_banks and
bank_master_branches. A bank or branch the new source no longer lists is kept, marked with the
version and date it went (merged away or closed), so an account naming it is refused by that
reason. The same source loaded again changes nothing and records nothing.

check_account() is the one-line check of one account (registration); the transfer files check all
their accounts in one query against the same tables (kessai.payout.transfer_files).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from importlib import metadata, resources
from pathlib import Path

from sqlalchemy import Connection, and_, bindparam, insert, select, update

from kessai.db.schema import bank_master_versions, master_banks, master_branches
from kessai.errors import Refusal
from kessai.kinds import Result, optional
from kessai.payout.zengin import ZenginCharacterError, to_zengin_kana

PACKAGE = "zengin-code"
UPDATE_COMMAND = "python -m kessai bank-master update"


class BankMasterProblem(StrEnum):
    """Why an account cannot be paid, as the transfer files record it (payout_withheld_transfers.reason)."""

    UNKNOWN_BANK = "unknown_bank"
    UNKNOWN_BRANCH = "unknown_branch"
    BANK_MERGED_AWAY = "bank_merged_away"
    BRANCH_MERGED_AWAY = "branch_merged_away"


UNKNOWN_BANK = BankMasterProblem.UNKNOWN_BANK
UNKNOWN_BRANCH = BankMasterProblem.UNKNOWN_BRANCH
BANK_MERGED_AWAY = BankMasterProblem.BANK_MERGED_AWAY
BRANCH_MERGED_AWAY = BankMasterProblem.BRANCH_MERGED_AWAY

# The columns of a bank-master CSV file (UTF-8, with or without BOM, or Shift_JIS), one row a branch.
FILE_COLUMNS = ("bank_code", "bank_name", "bank_kana", "branch_code", "branch_name", "branch_kana")


class BankMasterError(Refusal, ValueError):
    """A bank master that cannot be loaded, or an account the bank master refuses."""


@dataclass(frozen=True)
class BankMaster:
    """One version of the master as a source gives it: {code: (name, kana)} and {(bank, branch): (name, kana)}."""

    source: str
    version: str
    published_on: date | None
    banks: dict[str, tuple[str, str]]
    branches: dict[tuple[str, str], tuple[str, str]]

    @property
    def sha256(self) -> str:
        rows = json.dumps([sorted(self.banks.items()), sorted(self.branches.items())], ensure_ascii=False)
        return hashlib.sha256(rows.encode()).hexdigest()


def _kana(text: str, where: str) -> str:
    """The kana as stored: NFKC (half-width kana to full-width, full-width letters and ー-like
    dashes to ASCII), checked to be writable in the Zengin character set."""
    kana = unicodedata.normalize("NFKC", text).strip()
    try:
        to_zengin_kana(kana)
    except ZenginCharacterError as error:
        raise BankMasterError(f"the bank master's {where}: {error}") from None
    if not kana:
        raise BankMasterError(f"the bank master's {where} has no kana")
    return kana


def _check_code(value: str, width: int, where: str) -> str:
    if not (value.isascii() and value.isdigit() and len(value) == width):
        raise BankMasterError(f"the bank master's {where}: code {value!r} is not {width} digits")
    return value


def package_master() -> BankMaster:
    """The master the zengin-code package ships (its JSON: banks.json and branches/<bank>.json)."""
    data = resources.files("zengin_code") / "source-data" / "data"
    updated = (data / "updated_at").read_text().strip()
    banks, branches = {}, {}
    for code, bank in json.loads((data / "banks.json").read_text(encoding="utf-8")).items():
        _check_code(code, 4, f"bank {code}")
        banks[code] = (bank["name"], _kana(bank["kana"], f"bank {code}"))
        for branch_code, branch in json.loads((data / "branches" / f"{code}.json").read_text(encoding="utf-8")).items():
            _check_code(branch_code, 3, f"branch {code}-{branch_code}")
            branches[(code, branch_code)] = (branch["name"], _kana(branch["kana"], f"branch {code}-{branch_code}"))
    return BankMaster(
        PACKAGE,
        metadata.version(PACKAGE),
        date(int(updated[:4]), int(updated[4:6]), int(updated[6:8])),
        banks,
        branches,
    )


def file_master(path: Path, version: str | None = None, published_on: date | None = None) -> BankMaster:
    """A bank-master CSV file: a header naming FILE_COLUMNS, one row a branch. Its version is
    `version`, else the first 12 hex digits of the file's sha256."""
    content = path.read_bytes()
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp932")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in FILE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise BankMasterError(
            f"bank-master file {path}: no column {', '.join(missing)} (expected {','.join(FILE_COLUMNS)})"
        )
    banks: dict[str, tuple[str, str]] = {}
    branches: dict[tuple[str, str], tuple[str, str]] = {}
    for line, row in enumerate(reader, start=2):
        where = f"file {path.name} line {line}"
        bank = _check_code(row["bank_code"].strip(), 4, where)
        branch = _check_code(row["branch_code"].strip(), 3, where)
        entry = (row["bank_name"].strip(), _kana(row["bank_kana"], where))
        if banks.setdefault(bank, entry) != entry:
            raise BankMasterError(
                f"the bank master's {where}: bank {bank} is named {entry} here and {banks[bank]} before"
            )
        if (bank, branch) in branches:
            raise BankMasterError(f"the bank master's {where}: branch {bank}-{branch} is listed twice")
        branches[(bank, branch)] = (row["branch_name"].strip(), _kana(row["branch_kana"], where))
    if not branches:
        raise BankMasterError(f"bank-master file {path} has no rows")
    return BankMaster(
        f"file:{path.name}", version or hashlib.sha256(content).hexdigest()[:12], published_on, banks, branches
    )


def current_version(connection: Connection) -> dict | None:
    row = (
        connection.execute(select(bank_master_versions).order_by(bank_master_versions.c.version_id.desc()).limit(1))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def require_loaded(connection: Connection) -> dict:
    """The version in use; refuses when the bank master was never loaded."""
    version = current_version(connection)
    if version is None:
        raise BankMasterError(f"the bank master is empty (never loaded): run `{UPDATE_COMMAND}`, then this again")
    return version


def _apply(connection: Connection, table, keys: tuple[str, ...], rows: dict, master: BankMaster, day: date) -> dict:
    """Bring `table` to `rows` ({key tuple: (name, kana)}): add, rename, mark removed, bring back."""
    key_columns = [table.c[k] for k in keys]
    existing = {
        tuple(r[: len(keys)]): (r.name, r.kana, r.removed_in)
        for r in connection.execute(select(*key_columns, table.c.name, table.c.kana, table.c.removed_in))
    }
    wanted = rows
    new_keys = list(rows)
    added = [key for key in new_keys if key not in existing]
    changed = [key for key in new_keys if key in existing and (existing[key][:2] != wanted[key] or existing[key][2])]
    removed = [key for key, (_, _, gone) in existing.items() if key not in wanted and not gone]
    if added:
        connection.execute(
            insert(table),
            [{**dict(zip(keys, key, strict=True)), "name": wanted[key][0], "kana": wanted[key][1]} for key in added],
        )
    where = and_(*(table.c[k] == bindparam(f"k_{k}") for k in keys))
    if changed:
        connection.execute(
            update(table)
            .where(where)
            .values(name=bindparam("v_name"), kana=bindparam("v_kana"), removed_in=None, removed_on=None),
            [
                {
                    **{f"k_{k}": v for k, v in zip(keys, key, strict=True)},
                    "v_name": wanted[key][0],
                    "v_kana": wanted[key][1],
                }
                for key in changed
            ],
        )
    if removed:
        connection.execute(
            update(table).where(where).values(removed_in=master.version, removed_on=day),
            [{f"k_{k}": v for k, v in zip(keys, key, strict=True)} for key in removed],
        )
    return {"added": len(added), "changed": len(changed), "removed": len(removed)}


@dataclass(frozen=True, slots=True)
class MasterUpdate(Result):
    """A load of the bank master: what it holds, whether it changed anything, and the banks' and
    branches' changes (added, changed, removed; None when nothing changed)."""

    source: str
    version: str
    banks: int
    branches: int
    changed: bool
    loaded_at: datetime  # of this load, or of the earlier one of the same master
    bank_changes: dict[str, int] | None = optional()
    branch_changes: dict[str, int] | None = optional()


def update_bank_master(connection: Connection, master: BankMaster, loaded_at: datetime, day: date) -> MasterUpdate:
    """Load `master` (day: the business date in Japan of loaded_at, recorded on what it removes).
    The same source and version loaded again changes nothing."""
    latest = current_version(connection)
    summary = MasterUpdate(master.source, master.version, len(master.banks), len(master.branches), False, loaded_at)
    if latest and (latest["source"], latest["version"], latest["sha256"]) == (
        master.source,
        master.version,
        master.sha256,
    ):
        return replace(summary, loaded_at=latest["loaded_at"])
    bank_changes = _apply(
        connection, master_banks, ("bank_code",), {(code,): value for code, value in master.banks.items()}, master, day
    )
    branch_changes = _apply(connection, master_branches, ("bank_code", "branch_code"), master.branches, master, day)
    connection.execute(
        insert(bank_master_versions).values(
            source=master.source,
            version=master.version,
            published_on=master.published_on,
            sha256=master.sha256,
            loaded_at=loaded_at,
            bank_count=len(master.banks),
            branch_count=len(master.branches),
        )
    )
    return replace(summary, changed=True, bank_changes=bank_changes, branch_changes=branch_changes)


def problem(bank_removed_in: str | None, branch_known: bool, branch_removed_in: str | None) -> str | None:
    """The reason the bank master refuses an account (None if it accepts it), from the rows of the
    master the account's codes find (bank_removed_in: None for a current bank, '' for none found)."""
    if bank_removed_in == "":
        return UNKNOWN_BANK
    if bank_removed_in is not None:
        return BANK_MERGED_AWAY
    if not branch_known:
        return UNKNOWN_BRANCH
    if branch_removed_in is not None:
        return BRANCH_MERGED_AWAY
    return None


def describe(reason: str, bank_code: str, branch_code: str, removed_in: str | None = None) -> str:
    """The reason in words (the caller adds what to do)."""
    gone = f" since bank-master version {removed_in}" if removed_in else ""
    words: dict[str, str] = {
        UNKNOWN_BANK: f"bank {bank_code} is not in the bank master",
        UNKNOWN_BRANCH: f"bank {bank_code} has no branch {branch_code} in the bank master",
        BANK_MERGED_AWAY: f"bank {bank_code} is no longer in the bank master{gone} (merged away or closed)",
        BRANCH_MERGED_AWAY: f"branch {branch_code} of bank {bank_code} is no longer in the bank master{gone} "
        "(merged away or closed)",
    }
    return words[reason]


@dataclass(frozen=True)
class CheckedBranch:
    bank_code: str
    bank_name: str
    bank_kana: str
    branch_code: str
    branch_name: str
    branch_kana: str


def check_account(connection: Connection, bank_code: str, branch_code: str) -> CheckedBranch:
    """The bank and branch of an account as the master names them; refuses, in one line, codes
    that are malformed, unknown or merged away."""
    for value, width, what in ((bank_code, 4, "bank code"), (branch_code, 3, "branch code")):
        if not (value.isascii() and value.isdigit() and len(value) == width):
            raise BankMasterError(f"{what} {value!r} must be exactly {width} digits")
    require_loaded(connection)
    bank = connection.execute(select(master_banks).where(master_banks.c.bank_code == bank_code)).mappings().first()
    branch = (
        connection.execute(
            select(master_branches).where(
                master_branches.c.bank_code == bank_code, master_branches.c.branch_code == branch_code
            )
        )
        .mappings()
        .first()
    )
    reason = problem(bank["removed_in"] if bank else "", branch is not None, branch["removed_in"] if branch else None)
    if reason:
        removed_in = (bank["removed_in"] if bank else None) or (branch["removed_in"] if branch else None)
        raise BankMasterError(
            f"{describe(reason, bank_code, branch_code, removed_in)}: check the codes with the merchant "
            "(the bank's current code of the branch after a merger), or `python -m kessai bank-master update`"
        )
    assert bank is not None and branch is not None  # problem() refuses a code the master does not list
    return CheckedBranch(bank_code, bank["name"], bank["kana"], branch_code, branch["name"], branch["kana"])
