"""Daily roll-ups for the dashboard's group list, maintained at ingest (migration 0005).

The hourly roll-ups (``group_rollups``) hold about one row per report once there are more
groups than reports per hour, so summing them over 30 days, or scanning reports for
distinct installations, is what made the group list slow (bench/dashboard.py). These are
written in the same transaction as the reports they count (``Storage.store_reports``):

- ``group_daily_rollups``: reports per group x day x release x OS family, and a sketch
  of the distinct install pseudonyms behind them (filtered group lists).
- ``group_day_installs``: the same sketch per group x day, all releases and OS families
  (the unfiltered group list reads 1 sketch per group and day instead of up to ~10).
- ``project_filter_values``: the releases and OS families a project has seen, with the
  last day each was seen (the filter choices).

**Distinct installations** are counted with a HyperLogLog sketch (:class:`InstallSketch`:
512 one-byte registers, a 64-bit BLAKE2b hash of the pseudonym; union = register-wise
max). The estimate's relative standard error is about 4.6 % for large counts; small
counts use linear counting (exact below ~10 in practice, within a few units below ~50).
The k-threshold stays honest:
every distinct pseudonym sets at most one register, so the number of non-zero registers
is a guaranteed *lower bound* of the true count; :meth:`InstallSketch.honest_count`
returns that lower bound whenever it is below ``k`` (the dashboard then shows "fewer
than k"), so a count is only ever shown when at least ``k`` installations are certain.
The sketch holds no pseudonym: 512 small numbers derived from hashes.

Days are received days of the report's hour (``reports.hour[:10]``), the same clock as
the hourly roll-ups.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

from crashveil.server.db.tables import metadata, reports

__all__ = ["group_daily_rollups", "group_day_installs", "project_filter_values", "InstallSketch",
           "SKETCH_BYTES", "FILTER_RELEASE", "FILTER_OS", "rebuild_install_sketches"]

FILTER_RELEASE = "release"
FILTER_OS = "os_family"

group_daily_rollups = sa.Table(
    "group_daily_rollups", metadata,
    sa.Column("group_id", sa.Integer(), sa.ForeignKey("crash_groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("release", sa.String(128), primary_key=True),
    sa.Column("os_family", sa.String(32), primary_key=True),
    sa.Column("project_id", sa.String(63), nullable=False),
    sa.Column("count", sa.Integer(), nullable=False),
    sa.Column("counts_only", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("installs", sa.LargeBinary(), nullable=True),  # InstallSketch; NULL: no pseudonym yet
    sa.Index(None, "project_id", "day", "group_id", "count"),
    # The group list filtered by release, as an index-only scan.
    sa.Index(None, "project_id", "release", "day", "group_id", "count"),
)

group_day_installs = sa.Table(
    "group_day_installs", metadata,
    sa.Column("group_id", sa.Integer(), sa.ForeignKey("crash_groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("project_id", sa.String(63), nullable=False),
    sa.Column("installs", sa.LargeBinary(), nullable=False),
    sa.Index(None, "project_id", "day"),
    postgresql_with={"fillfactor": 70},  # room for HOT updates (migration 0020)
)

project_filter_values = sa.Table(
    "project_filter_values", metadata,
    sa.Column("project_id", sa.String(63), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # release | os_family
    sa.Column("value", sa.String(128), primary_key=True),
    sa.Column("last_seen", sa.String(10), nullable=False),  # day
)

# --- the sketch ---------------------------------------------------------------------------------

_P = 9
SKETCH_BYTES = 1 << _P  # registers
_M = SKETCH_BYTES
_ALPHA = 0.7213 / (1 + 1.079 / _M)
_INV = [2.0 ** -r for r in range(256)]
_HIGH = int.from_bytes(b"\x80" * _M, "big")
_FULL = (1 << (8 * _M)) - 1


def _register(install_id: str) -> tuple[int, int]:
    h = int.from_bytes(hashlib.blake2b(install_id.encode("utf-8"), digest_size=8,
                                       person=b"cv-installs").digest(), "big")
    index = h & (_M - 1)
    rest = h >> _P  # 55 bits
    rho = 56 - rest.bit_length()  # leading zeros in 55 bits, + 1
    return index, rho


class InstallSketch:
    """A HyperLogLog sketch of install pseudonyms (see the module docstring)."""

    __slots__ = ("registers",)

    def __init__(self, data: bytes | None = None) -> None:
        if data is not None and len(data) != _M:
            raise ValueError("not an install sketch")
        self.registers = bytearray(data) if data is not None else bytearray(_M)

    def add(self, install_id: str) -> None:
        index, rho = _register(install_id)
        if self.registers[index] < rho:
            self.registers[index] = rho

    def update(self, other: bytes | bytearray | None) -> None:
        if other:
            self.registers = bytearray(union([bytes(self.registers), other]))

    def to_bytes(self) -> bytes:
        return bytes(self.registers)

    def estimate(self) -> float:
        return estimate(self.registers)

    def honest_count(self, min_k: int) -> int:
        return honest_count(self.registers, min_k)


def union(sketches: Iterable[bytes | bytearray | None]) -> bytes:
    """The register-wise maximum of ``sketches`` (SWAR over one big integer; None skipped)."""
    acc = 0
    for blob in sketches:
        if not blob:
            continue
        b = int.from_bytes(blob, "big")
        if not acc:
            acc = b
            continue
        # Lanes hold values < 128: (acc | 0x80) - b keeps bit 7 iff acc >= b, without borrows.
        ge = (((acc | _HIGH) - b) & _HIGH) >> 7
        mask = (ge << 8) - ge
        acc = b ^ ((acc ^ b) & mask)
    return acc.to_bytes(_M, "big")


def estimate(registers: bytes | bytearray) -> float:
    """The HyperLogLog estimate (linear counting below 2.5 m)."""
    import math

    zeros = registers.count(0)
    raw = _ALPHA * _M * _M / sum(map(_INV.__getitem__, registers))
    if raw <= 2.5 * _M and zeros:
        return _M * math.log(_M / zeros)
    return raw


def honest_count(registers: bytes | bytearray | None, min_k: int) -> int:
    """A count to display: the estimate if at least ``min_k`` installs are certain, else a
    lower bound below ``min_k`` (so ``k_visible`` hides it)."""
    if not registers:
        return 0
    certain = _M - registers.count(0)
    if certain < min_k:
        return certain
    return max(certain, round(estimate(registers)))


# --- after an erasure ---------------------------------------------------------------------------

def rebuild_install_sketches(conn: sa.Connection, group_days: Iterable[tuple[int, str]]) -> int:
    """Recompute the install sketches of ``group_days`` ((group id, day) pairs) from the
    reports still stored, in ``conn``'s transaction; returns how many pairs were rebuilt.

    A sketch cannot forget one pseudonym, so an erasure that deletes an installation's
    reports leaves its register in every sketch of the days it was seen, and the dashboard
    would keep counting it. Call this in the deletion's transaction with the (group, day of
    ``reports.hour``) pairs of the deleted reports. Report counts are not touched here
    (``storage.erasure_groups`` subtracts them); a
    pair with no pseudonym left loses its ``group_day_installs`` row (and its daily roll-ups'
    sketches become NULL), as if those reports had come without one.
    """
    pairs = sorted(set(group_days))
    for group_id, day in pairs:
        end = (datetime.strptime(day, "%Y-%m-%d") + timedelta(days=1)).strftime("%Y-%m-%d")
        fine: dict[tuple[str, str], InstallSketch] = {}
        coarse = InstallSketch()
        project_id = None
        for pid, release, os_family, install in conn.execute(
                sa.select(reports.c.project_id, reports.c.release, reports.c.os_family, reports.c.install_id).where(
                    reports.c.group_id == group_id, reports.c.hour >= f"{day}T00:00Z", reports.c.hour < f"{end}T00:00Z",
                    reports.c.install_id.is_not(None))):
            project_id = pid
            fine.setdefault((release or "", os_family or ""), InstallSketch()).add(install)
            coarse.add(install)
        cols = group_daily_rollups.c
        conn.execute(
            group_daily_rollups.update().where(cols.group_id == group_id, cols.day == day).values(installs=None)
        )
        for (release, os_family), sketch in fine.items():
            conn.execute(group_daily_rollups.update().where(
                cols.group_id == group_id, cols.day == day, cols.release == release, cols.os_family == os_family)
                .values(installs=sketch.to_bytes()))
        where = (group_day_installs.c.group_id == group_id, group_day_installs.c.day == day)
        if project_id is None:
            conn.execute(group_day_installs.delete().where(*where))
        elif conn.execute(group_day_installs.update().where(*where).values(installs=coarse.to_bytes())).rowcount == 0:
            conn.execute(group_day_installs.insert().values(group_id=group_id, day=day, project_id=project_id,
                                                            installs=coarse.to_bytes()))
    return len(pairs)
