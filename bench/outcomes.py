"""What a step produced, as values that compare equal exactly when two steps produced the same
result: the measured run and its floor must."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, Executable


@dataclass(frozen=True)
class SlipSet:
    """A set of slips: how many, their yen total, and a digest of their sorted row ids."""

    count: int
    amount: int
    digest: str

    @property
    def rows(self) -> int:
        return self.count


def slip_set(ids, amounts) -> SlipSet:
    ids = np.sort(np.asarray(ids, dtype=np.int64))
    if np.any(ids[1:] == ids[:-1]):
        raise ValueError("a slip counted twice in a set of slips")
    return SlipSet(len(ids), int(np.asarray(amounts, dtype=np.int64).sum()), hashlib.sha256(ids.tobytes()).hexdigest())


def slip_set_of(connection: Connection, query: Executable, params: dict | None = None) -> SlipSet:
    """The slips a query selects as (row id, amount) pairs, read in chunks."""
    ids, amounts = [], []
    for chunk in connection.execute(query, params or {}).partitions(100_000):
        block = np.array(chunk, dtype=np.int64).reshape(-1, 2)
        ids.append(block[:, 0])
        amounts.append(block[:, 1])
    if not ids:
        return slip_set([], [])
    return slip_set(np.concatenate(ids), np.concatenate(amounts))


@dataclass(frozen=True)
class MerchantTotals:
    """(merchant_id, slip count, gross yen) per merchant, in merchant order."""

    totals: tuple[tuple[str, int, int], ...]

    @property
    def rows(self) -> int:
        return sum(count for _, count, _ in self.totals)


def merchant_totals(rows) -> MerchantTotals:
    return MerchantTotals(tuple(sorted((str(m), int(c), int(a)) for m, c, a in rows)))


@dataclass(frozen=True)
class Charges:
    """Slips paid by the charge and what the gateway executed."""

    count: int
    amount: int

    @property
    def rows(self) -> int:
        return self.count
