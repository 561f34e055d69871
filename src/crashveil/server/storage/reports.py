"""The report write path: a prepared row into the database, with its group, roll-ups,
counters and counts-only mode, for a whole batch in the caller's one write transaction.

:func:`build_row` does everything that needs no database state (fingerprint, detail JSON,
encryption when the day's key is known) in any thread or process; :class:`ReportWriter`
then runs in the writer, which holds the database's write lock, so it spends its time on
SQL. Each report of a batch is handled as if stored alone, one after another; groups,
roll-ups and counters are aggregated over the batch and written with one statement per table.
"""

from __future__ import annotations

import dataclasses
import functools
import hmac
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from crashveil.server.alerts.triggers import GroupEvent, enqueue_group_events
from crashveil.server.db import engine as db
from crashveil.server.db.pg_arrays import ArrayLookup
from crashveil.server.db.tables import crash_groups, group_rollups, redaction_counters, reports
from crashveil.server.governance import tombstones
from crashveil.server.ingest import grouping, titles
from crashveil.server.ingest.credential_weight import (
    NO_CREDENTIAL,
    HourWeights,
    ModeChange,
    mode_until,
    record_changes,
)
from crashveil.server.keys.ring import KeyRing
from crashveil.server.linkability.counting import QuasiCounter
from crashveil.server.linkability.ladder import EXACT, coarsen_detail, coarsen_row_values, quasi_classes
from crashveil.server.settings import Settings
from crashveil.server.storage import triage
from crashveil.server.storage.detail import detail_json, key_digest, seal_detail
from crashveil.server.storage.records import (
    DROPPED_DETECTOR,
    ORIGINS,
    REFUSED,
    PendingReport,
    StoreResult,
    StoreRow,
    hour_and_day,
)
from crashveil.server.storage.rollups import (
    DailyCount,
    DailyKey,
    DayInstalls,
    DayKey,
    FilterKey,
    OldSketches,
    daily_entries,
    read_sketches,
    write_daily,
)
from crashveil.server.storage.statements import bulk, in_chunks, in_keys, pipelined, upsert_counts
from crashveil.wire.install_code import period_index

if TYPE_CHECKING:
    from crashveil.server.governance.audit import AuditTrail

__all__ = ["DataKeys", "ReportWriter", "build_row", "check_origins"]

#: (project, day) -> (data key id, data key).
DataKeys = dict[tuple[str, str], tuple[str, bytes]]
#: The columns of ``crash_groups`` a new report may change.
_GROUP_STATE = ("last_seen", "total_count", "hour_key", "hour_count", "status", "last_release", "regressed_in",
                "regressed_at", "counts_only_until", "hour_weight", "counts_only_since") + triage.GROUP_STATE


def build_row(item: PendingReport, recent_deks: Mapping[tuple[str, str], tuple[str, bytes]],
              quasi: tuple[int, int] | None = None) -> StoreRow:
    """The :class:`StoreRow` of ``item``: fingerprint, detail JSON and, when the day's data
    key is in ``recent_deks``, the encrypted detail. Pure CPU, any thread.

    ``quasi``: (k, pseudonym rotation days) of the project's policy, for the writer's
    k-anonymity check of the quasi-identifiers (``linkability``); ``None``: no check."""
    if item.origin not in ORIGINS:
        raise ValueError(f"origin must be one of {ORIGINS}")
    report, received_at, project_id = item.report, item.received_at, item.project_id
    fingerprint = grouping.report_fingerprint(report)
    received_hour, day = hour_and_day(received_at)
    plaintext = detail_json(report, fingerprint, item.dropped_fields)
    sealed = None
    key = recent_deks.get((project_id, day))
    if key is not None:
        sealed = (key[0], key_digest(key[1]), seal_detail(key[1], plaintext, project_id, report.report_id, day))
    return StoreRow(
        project_id, item.origin, received_at, report.report_id, report.crash_type, report.release,
        report.environment.os_family if report.environment is not None else None, report.occurred_hour,
        report.consent_level, report.install_id, report.policy_digest, fingerprint, received_hour, day,
        plaintext, sealed, tuple(item.redaction_hits.items()), tuple(item.dropped_fields), item.credential,
        *_title_and_facets(item),
        quasi=(quasi_classes(report, _period(report.occurred_hour or received_hour, quasi[1]), quasi[0])
               if quasi else None))


def _period(hour: str, rotation_days: int) -> int:
    """The pseudonym period of the wire hour ``hour``."""
    return period_index(_hour_seconds(hour), rotation_days)


@functools.lru_cache(maxsize=512)
def _hour_seconds(hour: str) -> int:
    return int(datetime.strptime(hour, "%Y-%m-%dT%H:00Z").replace(tzinfo=UTC).timestamp())


def coarsened(item: StoreRow, rung: int) -> StoreRow:
    """``item`` with its quasi-identifiers cut to ``rung`` (columns, facets and detail)."""
    if rung == EXACT:
        return item
    return dataclasses.replace(item, plaintext=coarsen_detail(item.plaintext, rung), sealed=None,
                               **coarsen_row_values(item.os_family, item.runtime, rung))


#: (culprit, modules, message template, deployment, platform, signature, source lines, runtime).
_TitleAndFacets = tuple[str | None, str | None, str | None, str | None, str | None, str | None, str | None, str | None]


def _title_and_facets(item: PendingReport) -> _TitleAndFacets:
    """(culprit, modules, message template, deployment, platform, signature, source lines,
    runtime) of ``item`` for the triage list and the group page."""
    report = item.report
    parts = titles.title_parts(report)
    platform = report.platform or ("python" if item.origin == "crashveil-sdk" else None)
    env = report.environment
    runtime = f"{env.python_impl} {env.python_version}" if env is not None else None
    return (parts.culprit, parts.modules, parts.message, report.deployment, platform, parts.signature,
            titles.source_lines(report), runtime)


def check_origins(batch: Sequence[StoreRow]) -> None:
    for item in batch:
        if item.origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}")


class ReportWriter:
    """Stores batches of rows in a write transaction the caller holds (``Storage.store_rows``).

    ``mode_audit`` gives the audit trail counts-only mode changes are written to; it is only
    asked for when a batch changed a mode. The settings are passed with each batch: they are
    the storage's current ones.
    """

    def __init__(self, keys: KeyRing, mode_audit: Callable[[], AuditTrail]) -> None:
        self.keys = keys
        self._mode_audit = mode_audit
        #: The k-anonymity check of quasi-identifiers (``linkability.counting``).
        self.quasi = QuasiCounter()

    def store_batch(self, conn: sa.Connection, batch: Sequence[StoreRow], deks: DataKeys,
                    changes: list[ModeChange], settings: Settings, *, commit: bool = False,
                    sent: Callable[[], None] | None = None) -> list[StoreResult]:
        """The results of ``batch``, in order: a report id already stored, or earlier in the
        batch, answers the first receipt (``created`` false); a tombstoned one is refused;
        the rest are stored. Data keys used go into ``deks``, mode changes into ``changes``.

        ``commit`` (PostgreSQL): the transaction's COMMIT may go with the batch's writes,
        in their one round trip (``statements.pipelined``), when nothing is left to run after
        them; the caller's commit then has nothing to do. ``sent``: called when the last
        statement is sent, before its answer is awaited (the writer's ``sql_done``)."""
        results: list[StoreResult | None] = [None] * len(batch)
        tombstones.lock_projects(conn, {item.project_id for item in batch}, exclusive=False)
        existing = _existing_many(conn, [(item.project_id, item.report_id) for item in batch])
        first_of: dict[tuple[str, str], int] = {}
        duplicates: list[tuple[int, int]] = []
        fresh: list[int] = []
        for index, item in enumerate(batch):
            key = (item.project_id, item.report_id)
            if key in existing:
                results[index] = existing[key]
            elif key in first_of:
                duplicates.append((index, first_of[key]))
            else:
                first_of[key] = index
                fresh.append(index)
        if fresh:
            refused = _refused(conn, batch, fresh)
            for index in refused:
                results[index] = REFUSED
            fresh = [index for index in fresh if index not in refused] if refused else fresh
        if fresh:
            self._store_fresh(conn, batch, fresh, results, deks, changes, settings, commit, sent)
        for index, first in duplicates:
            done = results[first]
            assert done is not None
            results[index] = done if done.refused else StoreResult(done.receipt, False, done.group_id,
                                                                   done.counts_only)
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _store_fresh(self, conn: sa.Connection, batch: Sequence[StoreRow], fresh: Sequence[int],
                     results: list[StoreResult | None], deks: DataKeys, changes: list[ModeChange],
                     settings: Settings, commit: bool, sent: Callable[[], None] | None) -> None:
        """Store the rows ``fresh`` (indexes into ``batch``): groups, reports, roll-ups,
        counters (``commit`` and ``sent``: see :meth:`store_batch`)."""
        rungs = self.quasi.rungs(conn, [batch[i] for i in fresh]) if settings.quasi_identifier_check else []
        if any(rungs):
            batch = list(batch)
            for index, rung in zip(fresh, rungs, strict=True):
                batch[index] = coarsened(batch[index], rung)
        groups = _groups_for_update(conn, [batch[i] for i in fresh])
        weights = HourWeights(settings.mass_failure_per_credential)
        weights.load(conn, [(groups[(batch[i].project_id, batch[i].fingerprint)]["id"],
                             batch[i].credential or NO_CREDENTIAL) for i in fresh])
        writes = _BatchWrites()
        events: list[GroupEvent] = []
        for index in fresh:
            item = batch[index]
            group = groups[(item.project_id, item.fingerprint)]
            was_new, was_resolved = group["total_count"] == 0, group["status"] == grouping.RESOLVED
            counts_only = _update_group(group, item, weights, changes, settings)
            if was_new or (was_resolved and group["status"] == grouping.REGRESSED):
                events.append(_group_event("new_group" if was_new else "regression", group, item))
            writes.touched[group["id"]] = group
            data_key_id = detail = None
            if not counts_only:
                data_key_id, detail = self._sealed_detail(conn, item, deks)
            results[index] = writes.add(item, group["id"], counts_only, data_key_id, detail)
        enqueue_group_events(conn, events, base_url=settings.public_url)  # alerts: the outbox, same transaction
        writes.read_sketches(conn)
        # PostgreSQL: the writes need no answer, so they go in one round trip, with the COMMIT
        # unless a mode change's audit entries are left (they read what the writes counted).
        last = not changes
        with pipelined(conn, commit=commit and last):
            writes.write_reports(conn)
            weights.write(conn)
            writes.write_counters(conn)
            if sent is not None and last:
                sent()
        if changes:
            record_changes(conn, self._mode_audit(), changes, threshold=settings.mass_failure_per_hour,
                           cap=settings.mass_failure_per_credential)

    def _sealed_detail(self, conn: sa.Connection, item: StoreRow, deks: DataKeys) -> tuple[str, bytes]:
        """(data key id, encrypted detail) of ``item`` under the day's key read in this
        transaction; the blob sealed in advance is used only if it was sealed under that key."""
        project_id, day = item.project_id, item.day
        key = deks.get((project_id, day))
        if key is None:
            key = deks[(project_id, day)] = self.keys.data_key_for_write(conn, project_id, day, now=item.received_at)
        data_key_id, dek = key
        sealed = item.sealed
        if sealed is not None and sealed[0] == data_key_id and hmac.compare_digest(sealed[1], key_digest(dek)):
            return data_key_id, sealed[2]
        return data_key_id, seal_detail(dek, item.plaintext, project_id, item.report_id, day)


def _group_event(kind: str, group: dict[str, Any], item: StoreRow) -> GroupEvent:
    """A new or reopened group, for the alert rules (group-level values only)."""
    return GroupEvent(kind, item.project_id, group["id"], group["crash_type"], group.get("title_message"),
                      item.release, item.os_family, item.deployment, item.platform, item.received_at,
                      group["total_count"])


def _update_group(group: dict[str, Any], item: StoreRow, weights: HourWeights, changes: list[ModeChange],
                  settings: Settings) -> bool:
    """Count ``item`` in its group's state (status, hour weight, counts-only mode);
    whether it is stored counts-only (see ``credential_weight``: the two scopes)."""
    project_id, received_at, received_hour = item.project_id, item.received_at, item.received_hour
    release = item.release
    transition = triage.status_after(group, item)
    same_hour = group["hour_key"] == received_hour
    hour_count = group["hour_count"] + 1 if same_hour else 1
    added, own_mode = weights.add_report(project_id, group["id"], item.fingerprint,
                                         item.credential or NO_CREDENTIAL, received_hour, received_at,
                                         settings.mass_failure_per_hour, changes)
    hour_weight = (group["hour_weight"] if same_hour else 0) + added
    project_wide = hour_weight > settings.mass_failure_per_hour
    if group["counts_only_since"] is not None and not (
            group["counts_only_until"] is not None and group["counts_only_until"] > received_at):
        changes.append(ModeChange(project_id, group["id"], item.fingerprint, False, group["hour_key"] or "",
                                  group["hour_count"], group["hour_weight"]))
        group["counts_only_since"] = None
    if project_wide and group["counts_only_since"] is None:
        changes.append(ModeChange(project_id, group["id"], item.fingerprint, True, received_hour, hour_count,
                                  hour_weight))
        group["counts_only_since"] = received_at
    group.update(last_seen=max(group["last_seen"], received_at), total_count=group["total_count"] + 1,
                 hour_key=received_hour, hour_count=hour_count, hour_weight=hour_weight,
                 status=transition.status)
    if release is not None:
        group["last_release"] = release
    if transition.regressed:
        group.update(regressed_in=release, regressed_at=received_at)
    if project_wide:
        group["counts_only_until"] = mode_until(received_at)
    triage.update_group(group, item)
    return project_wide or own_mode


class _BatchWrites:
    """What a batch's fresh reports add, gathered to be written with one statement per table."""

    __slots__ = ("touched", "rows", "hourly", "entries", "counters", "facets", "day_facets", "daily", "sketches")

    def __init__(self) -> None:
        self.touched: dict[int, dict[str, Any]] = {}
        self.rows: list[dict[str, Any]] = []
        self.hourly: dict[tuple[int, str, str, str], list[Any]] = {}
        self.entries: list[tuple[str, int, str, str, str, int, int, Sequence[str]]] = []
        self.counters: dict[tuple[str, str, str, str, str], int] = {}
        self.facets: set[tuple[int, str, str, str]] = set()
        self.day_facets: dict[tuple[int, str, str, str], list[Any]] = {}
        self.daily: tuple[dict[DailyKey, DailyCount], dict[DayKey, DayInstalls], dict[FilterKey, str]] | None = None
        self.sketches: OldSketches | None = None

    def add(self, item: StoreRow, group_id: int, counts_only: bool, data_key_id: str | None,
            detail: bytes | None) -> StoreResult:
        """Add one stored report (its row, roll-ups and counters); its result."""
        project_id, received_hour = item.project_id, item.received_hour
        release, os_family = item.release, item.os_family
        receipt = secrets.token_urlsafe(16)
        hour = item.occurred_hour or received_hour
        self.rows.append(dict(
            project_id=project_id, report_id=item.report_id, receipt=receipt, group_id=group_id,
            fingerprint=item.fingerprint, release=release, os_family=os_family, hour=hour,
            received_hour=received_hour, day=item.day, level=item.level, origin=item.origin,
            install_id=item.install_id, policy_digest=item.policy_digest, received_at=item.received_at,
            data_key_id=data_key_id, detail=detail,
            deployment=(item.deployment or "")[:128], platform=(item.platform or "")[:128]))
        rel, fam = release or "", os_family or ""
        triage.add_facets(self.facets, item, group_id)
        triage.add_day_facets(self.day_facets, item, group_id)
        slot = self.hourly.setdefault((group_id, hour, rel, fam), [project_id, 0, 0])
        slot[1] += 1
        slot[2] += int(counts_only)
        self.entries.append((project_id, group_id, hour, rel, fam, 1, int(counts_only),
                             (item.install_id,) if item.install_id is not None else ()))
        mine: dict[tuple[str, str], int] = {key: hits for key, hits in item.redaction_hits if hits > 0}
        for path in item.dropped_fields:
            mine[(path[:128], DROPPED_DETECTOR)] = mine.get((path[:128], DROPPED_DETECTOR), 0) + 1
        counters = self.counters
        for (field_name, detector), hits in mine.items():
            ckey = (project_id, rel, field_name[:128], detector[:64], received_hour)
            counters[ckey] = counters.get(ckey, 0) + hits
        return StoreResult(receipt, True, group_id, counts_only)

    def read_sketches(self, conn: sa.Connection) -> None:
        """Read the install sketches the daily roll-ups merge into, so that the writes
        (:meth:`write_reports`, :meth:`write_counters`) read nothing (``statements.pipelined``)."""
        self.daily = daily_entries(self.entries)
        self.sketches = read_sketches(conn, self.daily[0], self.daily[1])

    def write_reports(self, conn: sa.Connection) -> None:
        """Group states, report rows, hourly and daily roll-ups (after :meth:`read_sketches`)."""
        assert self.daily is not None and self.sketches is not None
        triage.finish_groups(self.touched.values())
        bulk(conn, "group-state", lambda c: crash_groups.update().where(
            crash_groups.c.id == sa.bindparam("gid")).values({name: sa.bindparam(name) for name in _GROUP_STATE}),
            [{"gid": gid, **{name: state[name] for name in _GROUP_STATE}}
             for gid, state in sorted(self.touched.items())])
        bulk(conn, "report-insert", lambda c: reports.insert(), self.rows)
        upsert_counts(conn, group_rollups, ["group_id", "hour", "release", "os_family"],
                      [dict(group_id=k[0], hour=k[1], release=k[2], os_family=k[3], project_id=v[0], count=v[1],
                            counts_only=v[2]) for k, v in sorted(self.hourly.items())],
                      ("count", "counts_only"))
        write_daily(conn, *self.daily, old=self.sketches)
        triage.write_facets(conn, self.facets)
        triage.write_day_facets(conn, self.day_facets)

    def write_counters(self, conn: sa.Connection) -> None:
        """Redaction and dropped-field counters, per hour."""
        if self.counters:
            upsert_counts(conn, redaction_counters, ["project_id", "release", "field", "detector", "hour"],
                          [dict(project_id=k[0], release=k[1], field=k[2], detector=k[3], hour=k[4], hits=n)
                           for k, n in sorted(self.counters.items())], ("hits",))


def _existing_many(conn: sa.Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoreResult]:
    """The results of the (project, report id) pairs of ``keys`` already stored."""
    by_project: dict[str, list[str]] = {}
    for project_id, report_id in keys:
        by_project.setdefault(project_id, []).append(report_id)
    found: dict[tuple[str, str], StoreResult] = {}
    for project_id, ids in by_project.items():
        if db.is_sqlite(conn):
            rows = [row for _, stmt, params in in_chunks(conn, "existing", ids, _existing_stmt)
                    for row in db.fetch_all(conn, stmt, {"p": project_id, **params})]
        else:
            rows = _EXISTING_PG(conn, [(report_id,) for report_id in ids], (project_id,))
        for report_id, receipt, group_id, counts_only in rows:
            found[(project_id, report_id)] = StoreResult(receipt, False, group_id, bool(counts_only))
    return found


#: PostgreSQL's ``_existing_many``: one unique-index probe per report id (``ArrayLookup``).
_EXISTING_PG = ArrayLookup(reports, ["report_id"], ["report_id", "receipt", "group_id", "detail IS NULL"],
                           fixed=["project_id"])


def _refused(conn: sa.Connection, batch: Sequence[StoreRow], fresh: Sequence[int]) -> set[int]:
    """The fresh rows an erasure's tombstones refuse (see ``crashveil.server.governance.tombstones``)."""
    found: dict[tuple[str, bytes], datetime] = {}
    for project_id, digests in tombstones.wanted(batch, fresh).items():
        for _, stmt, params in in_chunks(conn, "tombstones", digests, tombstones.lookup_stmt):
            for row in db.fetch_dicts(conn, stmt, {"p": project_id, **params}):
                found[(project_id, row["digest"])] = row["erased_at"]
    return tombstones.refused(batch, fresh, found)


def _groups_for_update(conn: sa.Connection, items: Sequence[StoreRow]
                       ) -> dict[tuple[str, str], dict[str, Any]]:
    """The groups of ``items`` (created if new), locked (PostgreSQL), as mutable dicts.

    The groups are read (``FOR UPDATE`` on PostgreSQL) first; most batches find all of theirs
    and are done. Those not found are inserted (``ON CONFLICT DO NOTHING``: another writer
    may have just made one) and read. On PostgreSQL the first read runs in a savepoint that
    is rolled back when a group is missing, so this writer holds no row lock while its
    insert may wait for another writer's uncommitted insert of the same group (that writer
    may be waiting for one of those locks: a deadlock); then all are locked in id order.
    An insert of groups that exist costs PostgreSQL a conflict check per row (~150 us) and
    SQLite ~7 us a report.
    """
    first: dict[tuple[str, str], StoreRow] = {}
    for item in items:
        first.setdefault((item.project_id, item.fingerprint), item)
    sqlite = db.is_sqlite(conn)
    if not sqlite:
        db.driver_execute(conn, "SAVEPOINT crashveil_groups")
    found = _read_groups(conn, first)
    missing = {key: item for key, item in first.items() if key not in found}
    if not sqlite:
        db.driver_execute(conn, "ROLLBACK TO SAVEPOINT crashveil_groups" if missing
                          else "RELEASE SAVEPOINT crashveil_groups")
    if not missing:
        return triage.follow_merges(conn, found)
    new_rows = [dict(project_id=project_id, fingerprint=fingerprint, crash_type=item.crash_type,
                     first_seen=item.received_at, last_seen=item.received_at, first_release=item.release,
                     last_release=item.release, status=grouping.OPEN, total_count=0, hour_count=0,
                     culprit=item.culprit, search_code=triage.search_code(item.crash_type, item),
                     signature=item.signature)
                for (project_id, fingerprint), item in sorted(missing.items())]
    bulk(conn, "group-insert", lambda c: db.dialect_insert(c, crash_groups)
          .on_conflict_do_nothing(index_elements=["project_id", "fingerprint"]), new_rows)
    found = found if sqlite else {}
    found.update(_read_groups(conn, missing if sqlite else first))
    return triage.follow_merges(conn, found)


def _read_groups(conn: sa.Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The groups of ``keys`` ((project, fingerprint)) that exist, ``SELECT ... FOR
    UPDATE`` in id order per project, as mutable dicts."""
    by_project: dict[str, list[str]] = {}
    for project_id, fingerprint in keys:
        by_project.setdefault(project_id, []).append(fingerprint)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for project_id, fps in sorted(by_project.items()):
        for _, stmt, params in in_chunks(conn, "groups", sorted(fps), _groups_stmt):
            for row in db.fetch_dicts(conn, stmt, {"p": project_id, **params}):
                found[(project_id, row["fingerprint"])] = row
    return found


def _existing_stmt(size: int) -> Any:
    c = reports.c
    return (sa.select(c.report_id, c.receipt, c.group_id, c.detail.is_(None).label("counts_only"))
            .where(c.project_id == sa.bindparam("p"), c.report_id.in_(in_keys(size))))


def _groups_stmt(size: int) -> Any:
    c = crash_groups.c
    return (sa.select(crash_groups).where(c.project_id == sa.bindparam("p"), c.fingerprint.in_(in_keys(size)))
            .order_by(c.id).with_for_update())
