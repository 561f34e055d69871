"""The write path stores the same state on SQLite and PostgreSQL.

PostgreSQL writes a batch as one statement per table over arrays (``db.pg_arrays``) where
SQLite runs executemany on its cursor; reads probe one key at a time. The same reports,
in the same batches, must leave the same rows in every table the write path touches
(ids, receipts and encrypted blobs aside: they are random or sequence-made).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crashveil.server.db import engine as db
from crashveil.server.db.pg_arrays import ArrayWrite
from crashveil.server.db.tables import crash_groups, metadata
from crashveil.server.keys.kek import FileKeyProvider
from crashveil.server.storage.records import PendingReport
from crashveil.server.storage.statements import pipelined
from crashveil.server.storage.store import Storage

from ..conftest import build_report, make_settings

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
#: Tables the write path writes, and the columns left out of the comparison.
_TABLES = {
    "crash_groups": ("id",),
    "reports": ("id", "receipt", "detail", "data_key_id"),
    "group_rollups": (),
    "group_daily_rollups": (),
    "group_day_installs": (),
    "project_filter_values": (),
    "group_facets": (),
    "group_credential_hours": (),
    "redaction_counters": (),
}


#: Each table's rows, comparable across engines.
State = dict[str, list[tuple[Any, ...]]]


def _batches() -> list[list[PendingReport]]:
    """Batches over a few hours and days: repeats in and across batches, several groups,
    releases, OS families, installs, credentials, redaction hits and dropped fields, and
    enough reports of one group in one hour to pass the counts-only threshold."""
    batches: list[list[PendingReport]] = []
    retry: list[PendingReport] = []
    for step in range(6):
        at = NOW + timedelta(hours=7 * step, minutes=step)
        batch = []
        for i in range(40):
            storm = i >= 28  # one credential's flood of one group: its own counts-only mode
            report = build_report(crash_type="Storm" if storm else f"E{(i * 7 + step) % 9}",
                                  function="storm" if storm else f"f{i % 3}",
                                  release=None if i % 11 == 0 else f"1.{i % 3}", os_family=("linux", "macos")[i % 2],
                                  install_id=None if i % 13 == 0 else f"{(i * step) % 17:032x}",
                                  message="boom" if i % 4 == 0 else None)
            hits = {("message", "email"): 1 + i % 2} if i % 5 == 0 else {}
            dropped = ("extra.field",) if i % 9 == 0 else ()
            credential = "cert:storm" if storm else None if i % 3 == 0 else f"cert:{i % 4:024x}"
            batch.append(PendingReport("demo", report, "crashveil-sdk", at + timedelta(seconds=i), hits, dropped,
                                       credential))
        batch += batch[:2] + retry  # repeats in the batch, and retries of the last batch
        retry = batch[5:8]
        batches.append(batch)
    return batches


def _state(storage: Storage) -> State:
    with storage.engine.connect() as conn:
        fingerprints = dict(conn.execute(sa.select(crash_groups.c.id, crash_groups.c.fingerprint)).all())
        state = {}
        for name, skipped in _TABLES.items():
            table = metadata.tables[name]
            columns: list[Any] = [c for c in table.c if c.name not in skipped]
            if name == "reports":
                columns.append(table.c.detail.is_(None).label("counts_only"))
            rows = []
            for row in conn.execute(sa.select(*columns)):
                values = dict(row._mapping)
                if "group_id" in values:
                    values["group_id"] = fingerprints[values["group_id"]]
                rows.append(tuple(sorted((k, _plain(v)) for k, v in values.items())))
            state[name] = sorted(rows, key=repr)
    return state


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview | bytearray) else value


def _stored(tmp_path: Path, url: str, batches: list[list[PendingReport]]
            ) -> tuple[State, list[list[tuple[bool, bool]]]]:
    settings = make_settings(tmp_path, url, mass_failure_per_hour=5, mass_failure_per_credential=2)
    FileKeyProvider.create(settings.kek_path, now=NOW)
    storage = Storage.open(settings, clock=lambda: NOW)
    try:
        storage.create_project("demo", now=NOW)
        answers = [[(r.created, r.counts_only) for r in storage.store_reports(batch)] for batch in batches]
        return _state(storage), answers
    finally:
        storage.close()


def test_sqlite_and_postgresql_store_the_same_state(tmp_path: Path, pg_url: str) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'lite' / 'crashveil.db'}"
    (tmp_path / "lite").mkdir()
    engine = db.create_engine(sqlite_url)
    db.migrate(engine)
    engine.dispose()
    (tmp_path / "pg").mkdir()
    batches = _batches()
    lite, lite_answers = _stored(tmp_path / "lite", sqlite_url, batches)
    pg, pg_answers = _stored(tmp_path / "pg", pg_url, batches)
    assert lite_answers == pg_answers
    assert any(counts_only for batch in lite_answers for _, counts_only in batch)  # the mode was reached
    for name in _TABLES:
        assert lite[name] == pg[name], name
        assert lite[name], name


def test_array_writes_fail_as_row_writes_do(pg_url: str) -> None:
    """A duplicate key is an IntegrityError; a string too long for its column fails (the
    arrays are TEXT[], not cut to the column's width by a cast)."""
    engine = db.create_engine(pg_url)
    row = dict(id=1, created_at=NOW, public_summary=False)
    write = ArrayWrite(lambda conn: metadata.tables["projects"].insert(), list(row))
    try:
        with pytest.raises(sa.exc.IntegrityError), db.write_tx(engine) as conn:
            write(conn, [{**row, "id": "a"}, {**row, "id": "a"}])
        with pytest.raises(sa.exc.DataError), db.write_tx(engine) as conn:
            write(conn, [{**row, "id": "x" * 64}])
        with db.write_tx(engine) as conn:
            write(conn, [{**row, "id": "a"}, {**row, "id": "b", "created_at": NOW + timedelta(hours=1)}])
        with engine.connect() as conn:
            stored = conn.execute(sa.select(metadata.tables["projects"]).order_by("id")).all()
        assert [("a", NOW, False), ("b", NOW + timedelta(hours=1), False)] == [tuple(r) for r in stored]
    finally:
        engine.dispose()


def test_a_duplicate_among_pipelined_writes_rolls_the_whole_transaction_back(pg_url: str) -> None:
    """Writes sent in one round trip with their COMMIT (``statements.pipelined``): a duplicate key
    among them is still an IntegrityError, and nothing of the transaction stays, whether
    written before the pipeline, in it before the duplicate or after it."""
    engine = db.create_engine(pg_url)
    projects = metadata.tables["projects"]
    row = dict(id="a", created_at=NOW, public_summary=False)
    write = ArrayWrite(lambda conn: projects.insert(), list(row))

    def with_a_duplicate() -> None:
        with db.write_tx(engine) as conn:
            write(conn, [{**row, "id": "b"}])
            with pipelined(conn, commit=True):
                write(conn, [{**row, "id": "c"}])
                write(conn, [row])
                write(conn, [{**row, "id": "d"}])

    try:
        with db.write_tx(engine) as conn:
            write(conn, [row])
        with pytest.raises(sa.exc.IntegrityError):
            with_a_duplicate()
        with db.write_tx(engine) as conn, pipelined(conn, commit=True):
            write(conn, [{**row, "id": "e"}])
        with engine.connect() as conn:
            assert ["a", "e"] == list(conn.scalars(sa.select(projects.c.id).order_by(projects.c.id)))
    finally:
        engine.dispose()


def test_postgresql_tables_updated_in_place_have_room_for_hot_updates(pg_url: str) -> None:
    engine = db.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            options = dict(conn.exec_driver_sql(
                "SELECT relname, array_to_string(reloptions, ',') FROM pg_class WHERE relname IN "
                "('group_day_installs', 'group_credential_hours', 'redaction_counters')").all())
    finally:
        engine.dispose()
    assert {name: "fillfactor=70" for name in options} == options and len(options) == 3


def test_connection_pools_of_a_servers_processes_share_one_budget(pg_url: str) -> None:
    for processes in range(1, 30):
        size, overflow = db.pool_limits(processes)
        assert size >= 1 and processes * (size + overflow) <= db.POOL_BUDGET
    assert (5, 10) == db.pool_limits(1)
    engine = db.create_engine(pg_url, processes=3)  # two fronts and the writer
    try:
        assert (5, 15) == (engine.pool.size(), engine.pool._max_overflow + engine.pool.size())  # type: ignore[attr-defined]
    finally:
        engine.dispose()
