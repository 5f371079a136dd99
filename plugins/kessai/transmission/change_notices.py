"""Store-change notices (加盟店情報変更, docs/transmission-file.md "Store-change notices"): when a
merchant's name, kana or English name changes, the next transmission day tells each card company
it has sent the merchant's slips to, once per change, with the day the change takes effect.

The claim of day D records the notices (sql/transmission/change_notices.sql: the names now against
those the merchant's last batch to that company carried, set-based); the files step writes one
file per card company with notices on D, `<file_code>_MC_<YYYYMMDD>.csv`, beside the day's
transmission files, from the recorded notices only: a re-run writes the same bytes.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, Date, bindparam, func, select

from kessai.db.database import sql_text
from kessai.db.schema import card_companies, merchant_change_notices
from kessai.transmission.files import (
    ENCODING,
    FILE_CODE,
    HEADER,
    TRAILER,
    Destination,
    WrittenFile,
    _HashingWriter,
    _replace,
    csv_bytes,
)

NOTICE = "M"
NOTICE_FILE_KIND = "MC"


def record_change_notices(connection: Connection, business_date: date) -> int:
    """Record the store-change notices of business_date in the claim's transaction; how many."""
    statement = sql_text("transmission/change_notices", connection.dialect.name).bindparams(
        bindparam("business_date", type_=Date)
    )
    return connection.execute(statement, {"business_date": business_date, "cr": "\r", "lf": "\n"}).rowcount


def notice_count(connection: Connection, business_date: date) -> int:
    c = merchant_change_notices.c
    return connection.execute(select(func.count()).where(c.effective_on == business_date)).scalar_one()


def notice_file_name(file_code: str, business_date: date) -> str:
    return f"{file_code}_{NOTICE_FILE_KIND}_{business_date:%Y%m%d}.csv"


def write_change_notice_files(connection: Connection, business_date: date, destination: Destination) -> list[dict]:
    """(Re)write the notice file of each card company with notices effective on business_date."""
    c, k = merchant_change_notices.c, card_companies.c
    rows = connection.execute(
        select(k.file_code, c.merchant_id, c.merchant_number, c.name, c.name_kana, c.name_en, c.effective_on)
        .join_from(merchant_change_notices, card_companies, c.card_company == k.card_company)
        .where(c.effective_on == business_date)
    ).all()
    by_file: dict[str, list] = {}
    for row in rows:
        if FILE_CODE.fullmatch(row.file_code or ""):  # else the company's slips are held back too
            by_file.setdefault(row.file_code, []).append(row)
    written = []
    for file_code in sorted(by_file):
        notices = sorted(by_file[file_code], key=lambda row: row.merchant_id.encode(ENCODING))
        records = [
            (NOTICE, r.merchant_id, r.merchant_number, r.name, r.name_kana, r.name_en, r.effective_on.isoformat())
            for r in notices
        ]
        file = _write(destination, notice_file_name(file_code, business_date), file_code, business_date, records)
        written.append({"file": destination.url(file.path), "sha256": file.sha256, "size": file.size})
    return written


def _write(destination: Destination, file_name: str, file_code: str, business_date: date, records: list) -> WrittenFile:
    path = destination.path(business_date, file_name)
    destination.make_folder(business_date)
    writer: _HashingWriter | None = None

    def write(out) -> None:
        nonlocal writer
        writer = _HashingWriter(out)
        writer.write(csv_bytes([(HEADER, file_code, business_date.isoformat(), NOTICE_FILE_KIND)]))
        writer.write(csv_bytes(records))
        writer.write(csv_bytes([(TRAILER, len(records))]))

    _replace(destination.fs, path, write)
    assert writer is not None  # _replace has called write
    sha256 = writer.digest.hexdigest()
    sidecar = f"{sha256}  {file_name}\n".encode(ENCODING)
    _replace(destination.fs, f"{path}.sha256", lambda out: out.write(sidecar))
    return WrittenFile(path=path, sha256=sha256, size=writer.size)
