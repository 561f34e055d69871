"""Storage: projects, reports, groups, roll-ups, counters and erasure over one database.

Every write is one short transaction through :func:`~crashveil.server.db.engine.write_tx`
(bugsink: "think once, apply everywhere"). A report is acknowledged only after its
transaction committed; a report id seen before answers the receipt it got the first time
and changes nothing (idempotent retries, RELIABILITY.md B.15).

At rest, a report's details (everything but the aggregate columns) are JSON, compressed,
then encrypted with AES-256-GCM under the project's data key for the received day, with
associated data binding project, report id and day (``crashveil.server.keys.crypto``). The
client's IP address is never given to this module, and no table has a column for it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import json
import secrets
import threading
import time
import tomllib
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from crashveil.errors import ConfigError, PolicyError, StorageError
from crashveil.policy import Policy, Report, default_policy_path, parse_policy, parse_report, policy_digest
from crashveil.policy.protocol import PROJECT_ID_PATTERN
from crashveil.server.db import engine as db
from crashveil.server.db.rollup_tables import (
    FILTER_OS,
    FILTER_RELEASE,
    InstallSketch,
    group_daily_rollups,
    group_day_installs,
    project_filter_values,
    rebuild_install_sketches,
)
from crashveil.server.db.tables import (
    crash_groups,
    deletion_requests,
    group_rollups,
    project_policies,
    projects,
    redaction_counters,
    reports,
)
from crashveil.server.governance import tombstones
from crashveil.server.ingest import grouping
from crashveil.server.ingest.credential_weight import (
    NO_CREDENTIAL,
    HourWeights,
    ModeChange,
    credential_fingerprints,
    expire_modes,
    mode_until,
    record_changes,
)
from crashveil.server.keys.crypto import ProjectKeyPair, SigningKey, decrypt_detail, detail_aad, encrypt_detail
from crashveil.server.keys.ring import (
    HPKE,
    SIGNING,
    FileKeyProvider,
    KekRotation,
    KeyEncryptionKeyProvider,
    KeyInfo,
    KeyRing,
)
from crashveil.server.settings import Settings

if typing.TYPE_CHECKING:
    from crashveil.server.governance.audit import AuditTrail

__all__ = [
    "Storage",
    "StoreResult",
    "REFUSED",
    "PendingReport",
    "StoreRow",
    "ReceiptStatus",
    "DeletionRecord",
    "ProjectRecord",
    "ProjectSummary",
    "GroupRecord",
    "StoredDetail",
    "ORIGINS",
    "write_daily",
    "daily_entries",
    "DROPPED_DETECTOR",
]

ORIGINS = ("crashveil-sdk", "sentry-sdk")
#: Detector name under which unknown fields dropped at parsing are counted.
DROPPED_DETECTOR = "_dropped"
_DELETE_CHUNK = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


def hour_of(moment: datetime) -> str:
    """``2026-05-01T13:00Z``, the wire format's hour."""
    return _hour_and_day(moment)[0]


def day_of(moment: datetime) -> str:
    return _hour_and_day(moment)[1]


def _hour_and_day(moment: datetime) -> tuple[str, str]:
    """(hour, day) of ``moment`` in UTC; ``strftime`` costs a few us, so by hour, memoised."""
    utc = moment.astimezone(UTC)
    return _hour_strings(utc.year, utc.month, utc.day, utc.hour)


@functools.lru_cache(maxsize=256)
def _hour_strings(year: int, month: int, day: int, hour: int) -> tuple[str, str]:
    moment = datetime(year, month, day, hour)
    return moment.strftime("%Y-%m-%dT%H:00Z"), moment.strftime("%Y-%m-%d")


@dataclass(frozen=True)
class StoreResult:
    """The outcome of :meth:`Storage.store_report`."""

    receipt: str
    created: bool
    group_id: int
    counts_only: bool
    #: Not stored: an erasure's tombstone refuses it (``crashveil.server.governance.tombstones``).
    refused: bool = False


#: The result of a report the tombstones refuse: no receipt, no group.
REFUSED = StoreResult("", False, 0, False, True)


@dataclass(frozen=True)
class PendingReport:
    """A validated, redacted report waiting to be stored (see :meth:`Storage.store_reports`)."""

    project_id: str
    report: Report
    origin: str
    received_at: datetime
    redaction_hits: Mapping[tuple[str, str], int]
    dropped_fields: Sequence[str] = ()
    #: Who sent it (``credential_weight.credential_id``), ``None``: no credential.
    credential: str | None = None


@dataclass(frozen=True, slots=True)
class StoreRow:
    """A report as its write transaction needs it: all that no database state decides.

    :meth:`Storage.row` builds it from a :class:`PendingReport` in any thread or process, so
    the writer (one per database: the lock holder) spends its time on SQL, and it is small
    and plain enough to pickle to a writer process. ``sealed`` is ``(data key id, BLAKE2b of
    the data key, encrypted detail)`` when the day's data key was known; the writer stores
    that blob only if the key it reads in its transaction is that key, else it seals
    ``plaintext`` again.
    """

    project_id: str
    origin: str
    received_at: datetime
    report_id: str
    crash_type: str
    release: str | None
    os_family: str | None
    occurred_hour: str | None
    level: str
    install_id: str | None
    policy_digest: str
    fingerprint: str
    received_hour: str
    day: str
    plaintext: bytes
    sealed: tuple[str, bytes, bytes] | None
    redaction_hits: tuple[tuple[tuple[str, str], int], ...]
    dropped_fields: tuple[str, ...]
    credential: str | None = None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle as the field values (~3x faster than a slots dataclass's default)."""
        return (StoreRow, tuple(getattr(self, name) for name in _ROW_FIELDS))


@dataclass(frozen=True)
class ReceiptStatus:
    """What the public receipt endpoint may say about one report (no content)."""

    receipt: str
    status: str  # received | grouped | fixed
    fixed_in: str | None
    received_hour: str


@dataclass(frozen=True)
class DeletionRecord:
    """The confirmation of an erasure request, signed by the ingest side."""

    request_id: str
    project_id: str
    deleted_count: int
    processed_at: datetime


@dataclass(frozen=True)
class ProjectRecord:
    """A project as ingestion needs it; cached by :meth:`Storage.project`."""

    id: str
    policy: Policy
    policies: dict[str, Policy]
    keypairs: list[ProjectKeyPair]
    signing_key: SigningKey
    signing_keys: list[SigningKey]
    public_summary: bool
    created_at: datetime

    @functools.cached_property
    def digest(self) -> str:
        """The current policy's digest (computed once: hashing a policy takes ~5 ms)."""
        return policy_digest(self.policy)


@dataclass(frozen=True)
class ProjectSummary:
    id: str
    created_at: datetime
    policy_version: str
    policy_digest: str
    public_summary: bool
    groups: int


@dataclass(frozen=True)
class GroupRecord:
    id: int
    project_id: str
    fingerprint: str
    crash_type: str
    status: str
    first_seen: datetime
    last_seen: datetime
    first_release: str | None
    last_release: str | None
    resolved_in: str | None
    regressed_in: str | None
    total_count: int


@dataclass(frozen=True)
class StoredDetail:
    """A decrypted report: the report as stored, and what the server noted at ingestion."""

    report: Report
    dropped_fields: tuple[str, ...] = ()
    client_fingerprint: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class Storage:
    """The database of one server (shared by every process over the same database)."""

    def __init__(self, settings: Settings, engine: sa.Engine, keyring: KeyRing, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.engine = engine
        self.keys = keyring
        self._clock = clock
        self._projects: dict[str, tuple[float, ProjectRecord]] = {}
        #: (project, day) -> (data key id, data key) of days written lately, for
        #: :meth:`row`; every use is checked against the key row in the write
        #: transaction, so a stale entry costs a re-encryption, never a wrong blob.
        self._recent_deks: dict[tuple[str, str], tuple[str, bytes]] = {}
        #: :meth:`project` loads under one of these (by hash of the id: bounded, whatever
        #: ids are asked for).
        self._project_locks = [threading.Lock() for _ in range(16)]
        self._decrypted = 0
        self._decrypted_lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings, *, check_schema: bool = True,
             kek_provider: KeyEncryptionKeyProvider | None = None,
             clock: Callable[[], datetime] = utcnow) -> Storage:
        """Connect, and refuse to go on if the database could lose acknowledged reports.

        Raises:
            StorageError: the database cannot be reached, its durability settings are
                unsafe, or (with ``check_schema``) its schema is not the one this code expects.
        """
        if settings.database_url.startswith("sqlite:///"):
            path = settings.database_url[len("sqlite:///"):]
            if path and not path.startswith((":memory:", "file:")):
                from pathlib import Path

                Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = db.create_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        try:
            with engine.connect() as conn:
                problems = db.durability_problems(conn)
                schema = db.schema_problem(conn) if check_schema else None
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StorageError(f"cannot use the database ({type(exc).__name__})") from exc
        if problems or schema:
            engine.dispose()
            raise StorageError("refusing to run: " + "; ".join(problems + ([schema] if schema else [])))
        provider = kek_provider or FileKeyProvider(settings.kek_path)
        return cls(settings, engine, KeyRing(provider), clock=clock)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """Raise :class:`StorageError` unless the database would take a report now.

        A read is not enough: a read-only mount, a full disk or a PostgreSQL standby answer
        reads while every ingest fails. So this runs an UPDATE that matches no row, in a
        write transaction (SQLite: its write lock, as ingest takes it), and rolls it back;
        the database refuses it exactly where it would refuse a report. Cost: one short
        transaction (``/readyz`` caches the answer).
        """
        try:
            with db.write_tx(self.engine) as conn:
                conn.execute(crash_groups.update().where(sa.false()).values(status=crash_groups.c.status))
                conn.rollback()
        except SQLAlchemyError as exc:
            raise StorageError(f"the database does not accept writes ({type(exc).__name__})") from exc

    # -- projects -------------------------------------------------------------------------------
    def create_project(self, project_id: str, *, policy_toml: str | None = None, public_summary: bool = False,
                       now: datetime | None = None) -> ProjectRecord:
        """A new project with its policy (default: the shipped one), HPKE and signing keys."""
        import re

        if not re.match(PROJECT_ID_PATTERN, project_id):
            raise ConfigError("project", f"{project_id!r} is not a valid project id",
                              "2-63 lower-case letters, digits and '-', starting with a letter or digit")
        now = now or self._clock()
        text = policy_toml if policy_toml is not None else default_policy_path().read_text(encoding="utf-8")
        policy = _parse_policy_text(text, source=f"policy of project {project_id}")
        try:
            with db.write_tx(self.engine) as conn:
                if conn.execute(sa.select(projects.c.id).where(projects.c.id == project_id)).first():
                    raise ConfigError("project", f"{project_id!r} already exists", "a new project id")
                conn.execute(projects.insert().values(id=project_id, created_at=now, public_summary=public_summary))
                conn.execute(project_policies.insert().values(
                    project_id=project_id, digest=policy_digest(policy), version=policy.version,
                    policy_toml=text, created_at=now))
                self.keys.add_project_key(conn, project_id, HPKE, now=now, suite=self.settings.sealing_suite)
                self.keys.add_project_key(conn, project_id, SIGNING, now=now)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot create project {project_id} ({type(exc).__name__})") from exc
        record = self.project(project_id, fresh=True)
        assert record is not None
        return record

    def set_policy(self, project_id: str, policy_toml: str, *, now: datetime | None = None) -> str:
        """Make ``policy_toml`` the project's current policy (older ones stay valid); its digest."""
        now = now or self._clock()
        policy = _parse_policy_text(policy_toml, source=f"policy of project {project_id}")
        digest = policy_digest(policy)
        with db.write_tx(self.engine) as conn:
            conn.execute(project_policies.delete().where(project_policies.c.project_id == project_id,
                                                         project_policies.c.digest == digest))
            conn.execute(project_policies.insert().values(project_id=project_id, digest=digest,
                                                          version=policy.version, policy_toml=policy_toml,
                                                          created_at=now))
        self._projects.pop(project_id, None)
        return digest

    def cached_project(self, project_id: str) -> ProjectRecord | None:
        """The project if :meth:`project` has it cached and fresh, else ``None`` (no I/O)."""
        cached = self._projects.get(project_id)
        if cached and time.monotonic() - cached[0] < self.settings.project_cache_s:
            return cached[1]
        return None

    def project(self, project_id: str, *, fresh: bool = False) -> ProjectRecord | None:
        """The project, its policies and usable keys; cached ``project_cache_s`` seconds.

        One thread loads a project at a time: the others that missed the cache meanwhile
        wait and take what it loaded (a load costs ~3 ms of CPU, and every request in
        flight misses at once when the entry expires).
        """
        cached = self._projects.get(project_id)
        if cached and not fresh and time.monotonic() - cached[0] < self.settings.project_cache_s:
            return cached[1]
        with self._project_locks[hash(project_id) % len(self._project_locks)]:
            cached = self._projects.get(project_id)
            if cached and not fresh and time.monotonic() - cached[0] < self.settings.project_cache_s:
                return cached[1]
            return self._load_project(project_id)

    def _load_project(self, project_id: str) -> ProjectRecord | None:
        now = self._clock()
        try:
            with db.read_tx(self.engine) as conn:
                row = conn.execute(sa.select(projects).where(projects.c.id == project_id)).first()
                if row is None:
                    return None
                policy_rows = conn.execute(
                    sa.select(project_policies).where(project_policies.c.project_id == project_id)
                    .order_by(project_policies.c.created_at)).all()
                keys = self.keys.project_keys(conn, project_id, now=now)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read project {project_id} ({type(exc).__name__})") from exc
        policies = {r.digest: _parse_policy_text(r.policy_toml, source=f"policy {r.digest} of project {project_id}")
                    for r in policy_rows}
        if not policies or not keys.keypairs or not keys.signing_keys:
            raise StorageError(f"project {project_id} has no policy or no usable keys: run 'crashveil keys rotate'")
        record = ProjectRecord(
            id=project_id, policy=policies[policy_rows[-1].digest], policies=policies, keypairs=keys.keypairs,
            signing_key=keys.signing_keys[0], signing_keys=keys.signing_keys,
            public_summary=bool(row.public_summary), created_at=row.created_at)
        self._projects[project_id] = (time.monotonic(), record)
        return record

    def list_projects(self) -> list[ProjectSummary]:
        with db.read_tx(self.engine) as conn:
            rows = conn.execute(sa.select(projects).order_by(projects.c.id)).all()
            result = []
            for row in rows:
                latest = conn.execute(sa.select(project_policies.c.version, project_policies.c.digest)
                                      .where(project_policies.c.project_id == row.id)
                                      .order_by(project_policies.c.created_at.desc()).limit(1)).first()
                groups = conn.execute(sa.select(sa.func.count()).select_from(crash_groups)
                                      .where(crash_groups.c.project_id == row.id)).scalar_one()
                result.append(ProjectSummary(row.id, row.created_at, latest.version if latest else "",
                                             latest.digest if latest else "", bool(row.public_summary), groups))
        return result

    # -- reports --------------------------------------------------------------------------------
    def store_report(self, project_id: str, report: Report, *, origin: str, received_at: datetime,
                     redaction_hits: Mapping[tuple[str, str], int], dropped_fields: Sequence[str]) -> StoreResult:
        """Store a validated, redacted report, its group and counters, in one transaction.

        ``redaction_hits`` maps (field, detector) to the hits the server-side redaction
        found; ``dropped_fields`` are the paths of unknown fields dropped at parsing. A batch
        of one through :meth:`store_reports`.

        Raises:
            StorageError: the database failed (the ingest side answers 503).
        """
        return self.store_reports([PendingReport(project_id, report, origin, received_at, redaction_hits,
                                                 tuple(dropped_fields))])[0]

    def row(self, item: PendingReport) -> StoreRow:
        """The :class:`StoreRow` of ``item``: fingerprint, detail JSON and, when the day's
        data key is known, the encrypted detail. Pure CPU, any thread."""
        if item.origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}")
        report, received_at, project_id = item.report, item.received_at, item.project_id
        fingerprint = grouping.report_fingerprint(report)
        received_hour, day = _hour_and_day(received_at)
        plaintext = _detail_json(report, fingerprint, item.dropped_fields)
        sealed = None
        key = self._recent_deks.get((project_id, day))
        if key is not None:
            blob = encrypt_detail(key[1], plaintext, aad=detail_aad(project_id, report.report_id, day))
            sealed = (key[0], _key_digest(key[1]), blob)
        return StoreRow(
            project_id, item.origin, received_at, report.report_id, report.crash_type, report.release,
            report.environment.os_family if report.environment is not None else None, report.occurred_hour,
            report.consent_level, report.install_id, report.policy_digest, fingerprint, received_hour, day,
            plaintext, sealed, tuple(item.redaction_hits.items()), tuple(item.dropped_fields), item.credential)

    def learn_data_key(self, project_id: str, day: str) -> bool:
        """Read the day's data key, if it exists and is not destroyed, for :meth:`row` to
        seal details with (a process that prepares rows but does not write them learns the
        key this way). Reads the database: call it from a worker thread."""
        key_id = self.keys.data_key_id(project_id, day)
        try:
            with db.read_tx(self.engine) as conn:
                dek = self.keys.data_key_for_read(conn, key_id)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read the data key ({type(exc).__name__})") from exc
        if dek is None:
            return False
        self._remember_deks({(project_id, day): (key_id, dek)})
        return True

    def store_reports(self, batch: Sequence[PendingReport]) -> list[StoreResult]:
        """Store many reports in ONE transaction (group commit); their results, in order.

        Each report is handled as :meth:`store_report` would, one after another: a report id
        already stored, or earlier in the batch, answers the first receipt (``created``
        false) and changes nothing; groups, mass-failure mode, hourly and daily roll-ups and
        counters are aggregated over the batch and written with one statement per table.
        Either every report of the batch is committed or none is.

        Raises:
            StorageError: the database failed; nothing of the batch was stored.
        """
        return self.store_rows([self.row(item) for item in batch])

    def store_rows(self, batch: Sequence[StoreRow], *, more: Callable[[], Sequence[StoreRow]] | None = None,
                   sql_done: Callable[[], None] | None = None) -> list[StoreResult]:
        """:meth:`store_reports` for rows built by :meth:`row` (the group-commit writer's entry).

        ``more`` is called (once) when the write lock is held; the rows it returns join the
        end of the batch, and of the results (group commit: those that arrived while this
        writer waited for the lock share its fsync). ``sql_done`` is called when the
        statements ran and only the COMMIT (the fsync) is left.

        Raises:
            StorageError: the database failed; nothing of the batch was stored.
        """
        _check_origins(batch)
        batch = list(batch)
        if not batch:
            return []
        for attempt in (1, 2):
            try:
                deks: dict[tuple[str, str], tuple[str, bytes]] = {}
                changes: list[ModeChange] = []
                with db.write_tx(self.engine) as conn:
                    if more is not None:
                        late = list(more())
                        more = None
                        _check_origins(late)
                        batch += late
                    results = self._store_batch(conn, batch, deks, changes)
                    if sql_done is not None:
                        sql_done()
                self._remember_deks(deks)
                if changes:
                    self.mode_audit.checkpoint()
                return results
            except IntegrityError as exc:
                # PostgreSQL: a concurrent retry of one of these reports committed first; the
                # second attempt finds it stored and answers its receipt.
                if attempt == 2:
                    raise StorageError(f"cannot store the reports ({type(exc).__name__})") from exc
            except SQLAlchemyError as exc:
                raise StorageError(f"cannot store the reports ({type(exc).__name__})") from exc
        raise AssertionError("unreachable")

    def _existing_many(
        self, conn: sa.Connection, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], StoreResult]:
        by_project: dict[str, list[str]] = {}
        for project_id, report_id in keys:
            by_project.setdefault(project_id, []).append(report_id)
        found: dict[tuple[str, str], StoreResult] = {}
        for project_id, ids in by_project.items():
            for _, stmt, params in _in_chunks(conn, "existing", ids, _existing_stmt):
                for report_id, receipt, group_id, counts_only in db.fetch_all(conn, stmt, {"p": project_id, **params}):
                    found[(project_id, report_id)] = StoreResult(receipt, False, group_id, bool(counts_only))
        return found

    def _remember_deks(self, deks: Mapping[tuple[str, str], tuple[str, bytes]]) -> None:
        """Keep the data keys a committed batch used, of the latest day only: :meth:`row`
        seals what is received now, and no older key should outlive its day in memory
        (retention destroys keys; crypto-shredding must not leave a copy here)."""
        if not deks:
            return
        recent = self._recent_deks
        recent.update(deks)
        latest = max(day for _, day in recent)
        for key in [key for key in recent if key[1] != latest]:
            del recent[key]
        if len(recent) > 256:  # many projects: start over rather than grow
            recent.clear()
            recent.update(deks)

    def _store_batch(self, conn: sa.Connection, batch: Sequence[StoreRow],
                     deks: dict[tuple[str, str], tuple[str, bytes]], changes: list[ModeChange]) -> list[StoreResult]:
        results: list[StoreResult | None] = [None] * len(batch)
        tombstones.lock_projects(conn, {item.project_id for item in batch}, exclusive=False)
        existing = self._existing_many(conn, [(item.project_id, item.report_id) for item in batch])
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
            refused = self._refused(conn, batch, fresh)
            for index in refused:
                results[index] = REFUSED
            fresh = [index for index in fresh if index not in refused] if refused else fresh
        if fresh:
            self._store_fresh(conn, batch, fresh, results, deks, changes)
        for index, first in duplicates:
            done = results[first]
            assert done is not None
            results[index] = done if done.refused else StoreResult(done.receipt, False, done.group_id,
                                                                   done.counts_only)
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    @staticmethod
    def _refused(conn: sa.Connection, batch: Sequence[StoreRow], fresh: Sequence[int]) -> set[int]:
        """The fresh rows an erasure's tombstones refuse (see ``crashveil.server.governance.tombstones``)."""
        found: dict[tuple[str, bytes], datetime] = {}
        for project_id, digests in tombstones.wanted(batch, fresh).items():
            for _, stmt, params in _in_chunks(conn, "tombstones", digests, tombstones.lookup_stmt):
                for row in db.fetch_dicts(conn, stmt, {"p": project_id, **params}):
                    found[(project_id, row["digest"])] = row["erased_at"]
        return tombstones.refused(batch, fresh, found)

    def _store_fresh(self, conn: sa.Connection, batch: Sequence[StoreRow], fresh: Sequence[int],
                     results: list[StoreResult | None], deks: dict[tuple[str, str], tuple[str, bytes]],
                     changes: list[ModeChange]) -> None:
        settings = self.settings
        groups = self._groups_for_update(conn, [batch[i] for i in fresh])
        weights = HourWeights(settings.mass_failure_per_credential)
        weights.load(conn, [(groups[(batch[i].project_id, batch[i].fingerprint)]["id"],
                             batch[i].credential or NO_CREDENTIAL) for i in fresh])
        touched: dict[int, dict[str, Any]] = {}
        rows: list[dict[str, Any]] = []
        hourly: dict[tuple[int, str, str, str], list[Any]] = {}
        entries: list[tuple[str, int, str, str, str, int, int, Sequence[str]]] = []
        counters: dict[tuple[str, str, str, str, str], int] = {}
        for index in fresh:
            item = batch[index]
            project_id, received_at = item.project_id, item.received_at
            fingerprint, received_hour, day = item.fingerprint, item.received_hour, item.day
            release, os_family = item.release, item.os_family
            group = groups[(project_id, fingerprint)]
            transition = grouping.on_new_report(group["status"], group["resolved_in"], release)
            same_hour = group["hour_key"] == received_hour
            hour_count = group["hour_count"] + 1 if same_hour else 1
            added, own_mode = weights.add_report(project_id, group["id"], fingerprint, item.credential or NO_CREDENTIAL,
                                                 received_hour, received_at, settings.mass_failure_per_hour, changes)
            hour_weight = (group["hour_weight"] if same_hour else 0) + added
            project_wide = hour_weight > settings.mass_failure_per_hour
            if group["counts_only_since"] is not None and not (
                    group["counts_only_until"] is not None and group["counts_only_until"] > received_at):
                changes.append(ModeChange(project_id, group["id"], fingerprint, False, group["hour_key"] or "",
                                          group["hour_count"], group["hour_weight"]))
                group["counts_only_since"] = None
            if project_wide and group["counts_only_since"] is None:
                changes.append(ModeChange(project_id, group["id"], fingerprint, True, received_hour, hour_count,
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
            touched[group["id"]] = group
            counts_only = project_wide or own_mode  # see credential_weight: the two scopes

            data_key_id = detail = None
            if not counts_only:
                key = deks.get((project_id, day))
                if key is None:
                    key = deks[(project_id, day)] = self.keys.data_key_for_write(conn, project_id, day, now=received_at)
                data_key_id, dek = key
                sealed = item.sealed
                if sealed is not None and sealed[0] == data_key_id and hmac.compare_digest(sealed[1], _key_digest(dek)):
                    detail = sealed[2]
                else:
                    detail = encrypt_detail(dek, item.plaintext, aad=detail_aad(project_id, item.report_id, day))
            receipt = secrets.token_urlsafe(16)
            hour = item.occurred_hour or received_hour
            rows.append(dict(
                project_id=project_id, report_id=item.report_id, receipt=receipt, group_id=group["id"],
                fingerprint=fingerprint, release=release, os_family=os_family, hour=hour,
                received_hour=received_hour, day=day, level=item.level, origin=item.origin,
                install_id=item.install_id, policy_digest=item.policy_digest, received_at=received_at,
                data_key_id=data_key_id, detail=detail))
            results[index] = StoreResult(receipt, True, group["id"], counts_only)

            rel, fam = release or "", os_family or ""
            slot = hourly.setdefault((group["id"], hour, rel, fam), [project_id, 0, 0])
            slot[1] += 1
            slot[2] += int(counts_only)
            entries.append((project_id, group["id"], hour, rel, fam, 1, int(counts_only),
                            (item.install_id,) if item.install_id is not None else ()))
            mine: dict[tuple[str, str], int] = {key: hits for key, hits in item.redaction_hits if hits > 0}
            for path in item.dropped_fields:
                mine[(path[:128], DROPPED_DETECTOR)] = mine.get((path[:128], DROPPED_DETECTOR), 0) + 1
            for (field_name, detector), hits in mine.items():
                ckey = (project_id, rel, field_name[:128], detector[:64], received_hour)
                counters[ckey] = counters.get(ckey, 0) + hits

        _bulk(conn, "group-state", lambda c: crash_groups.update().where(
            crash_groups.c.id == sa.bindparam("gid")).values({name: sa.bindparam(name) for name in _GROUP_STATE}),
            [{"gid": gid, **{name: state[name] for name in _GROUP_STATE}} for gid, state in sorted(touched.items())])
        _bulk(conn, "report-insert", lambda c: reports.insert(), rows)
        _upsert_counts(conn, group_rollups, ["group_id", "hour", "release", "os_family"],
                       [dict(group_id=k[0], hour=k[1], release=k[2], os_family=k[3], project_id=v[0], count=v[1],
                             counts_only=v[2]) for k, v in sorted(hourly.items())],
                       ("count", "counts_only"))
        write_daily(conn, *daily_entries(entries))
        weights.write(conn)
        if changes:
            record_changes(conn, self.mode_audit, changes, threshold=settings.mass_failure_per_hour,
                           cap=settings.mass_failure_per_credential)
        if counters:
            _upsert_counts(conn, redaction_counters, ["project_id", "release", "field", "detector", "hour"],
                           [dict(project_id=k[0], release=k[1], field=k[2], detector=k[3], hour=k[4], hits=n)
                            for k, n in sorted(counters.items())], ("hits",))

    def _groups_for_update(self, conn: sa.Connection, items: Sequence[StoreRow]
                           ) -> dict[tuple[str, str], dict[str, Any]]:
        """The groups of ``items`` (created if new), locked (PostgreSQL), as mutable dicts.

        PostgreSQL: every group is inserted if absent (``ON CONFLICT DO NOTHING``), then all
        are locked in id order. SQLite, where this transaction holds the write lock: the
        groups are read first and only those not found are inserted and read (most batches
        find all of theirs; the insert of 50 known groups costs ~7 us a report).
        """
        first: dict[tuple[str, str], StoreRow] = {}
        for item in items:
            first.setdefault((item.project_id, item.fingerprint), item)
        found: dict[tuple[str, str], dict[str, Any]] = {}
        missing = first
        if db.is_sqlite(conn):
            found = self._read_groups(conn, first)
            missing = {key: item for key, item in first.items() if key not in found}
            if not missing:
                return found
        new_rows = [dict(project_id=project_id, fingerprint=fingerprint, crash_type=item.crash_type,
                         first_seen=item.received_at, last_seen=item.received_at, first_release=item.release,
                         last_release=item.release, status=grouping.OPEN, total_count=0, hour_count=0)
                    for (project_id, fingerprint), item in sorted(missing.items())]
        _bulk(conn, "group-insert", lambda c: db.dialect_insert(c, crash_groups)
              .on_conflict_do_nothing(index_elements=["project_id", "fingerprint"]), new_rows)
        found.update(self._read_groups(conn, missing))
        return found

    @staticmethod
    def _read_groups(conn: sa.Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The groups of ``keys`` ((project, fingerprint)) that exist, ``SELECT ... FOR
        UPDATE`` in id order per project, as mutable dicts."""
        by_project: dict[str, list[str]] = {}
        for project_id, fingerprint in keys:
            by_project.setdefault(project_id, []).append(fingerprint)
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for project_id, fps in sorted(by_project.items()):
            for _, stmt, params in _in_chunks(conn, "groups", sorted(fps), _groups_stmt):
                for row in db.fetch_dicts(conn, stmt, {"p": project_id, **params}):
                    found[(project_id, row["fingerprint"])] = row
        return found

    @property
    def details_decrypted(self) -> int:
        """How many report details this process has decrypted (each should match an audited read)."""
        return self._decrypted

    def report_detail(self, project_id: str, report_id: str) -> StoredDetail | None:
        """The decrypted report, or ``None`` if absent, counts-only, or its day key destroyed.

        Reading one report is an access to personal data: callers outside tests go through
        the access layer, which checks the role and writes the audit entry.
        """
        with db.read_tx(self.engine) as conn:
            row = conn.execute(sa.select(reports).where(reports.c.project_id == project_id,
                                                        reports.c.report_id == report_id)).first()
            if row is None or row.detail is None or row.data_key_id is None:
                return None
            dek = self.keys.data_key_for_read(conn, row.data_key_id)
        if dek is None:
            return None
        data = json.loads(decrypt_detail(dek, row.detail, aad=detail_aad(project_id, report_id, row.day)))
        with self._decrypted_lock:
            self._decrypted += 1
        body = dict(data["report"])
        if row.install_id is not None:
            body["install_id"] = row.install_id
        report, _ = parse_report(body)
        server = data.get("server", {})
        return StoredDetail(report, tuple(server.get("dropped_fields", ())), server.get("client_fingerprint"),
                            {k: v for k, v in server.items() if k not in ("dropped_fields", "client_fingerprint")})

    def receipt_status(self, receipt: str) -> ReceiptStatus | None:
        """The public status of the report with this receipt, or ``None``."""
        if not isinstance(receipt, str) or len(receipt) > 64:
            return None
        try:
            with db.read_tx(self.engine) as conn:
                row = conn.execute(
                    sa.select(reports.c.receipt, reports.c.received_hour, crash_groups.c.status,
                              crash_groups.c.resolved_in)
                    .join(crash_groups, crash_groups.c.id == reports.c.group_id)
                    .where(reports.c.receipt == receipt)).first()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read the receipt ({type(exc).__name__})") from exc
        if row is None:
            return None
        if row.status == grouping.RESOLVED:
            return ReceiptStatus(row.receipt, "fixed", row.resolved_in, row.received_hour)
        return ReceiptStatus(row.receipt, "grouped", None, row.received_hour)

    def counts_only_fingerprints(self, project_id: str, *, now: datetime | None = None,
                                 credential: str | None = None) -> list[str]:
        """Fingerprints of groups in mass-failure mode for ``credential`` (``None``: reports
        without one): those in it project-wide, and those in that credential's own mode (see
        ``credential_weight``). This is the list the config served to it carries.

        Modes that ended since (project-wide, or of any credential of the project) are
        recorded as leaving on the way (audit entries): these lists are what SDKs are told,
        so their changes are what the audit must show.
        """
        now = now or self._clock()
        c = crash_groups.c
        with db.read_tx(self.engine) as conn:
            rows = conn.execute(sa.select(c.fingerprint, c.counts_only_until, c.counts_only_since).where(
                c.project_id == project_id, sa.or_(c.counts_only_until > now, c.counts_only_since.is_not(None)))
                .order_by(c.fingerprint)).all()
            scoped, scoped_expired = credential_fingerprints(conn, project_id, now)
        if scoped_expired or any(r.counts_only_since is not None and (
                r.counts_only_until is None or r.counts_only_until <= now) for r in rows):
            with db.write_tx(self.engine) as conn:
                changes = expire_modes(conn, project_id, now)
                record_changes(conn, self.mode_audit, changes, threshold=self.settings.mass_failure_per_hour,
                               cap=self.settings.mass_failure_per_credential)
            if changes:
                self.mode_audit.checkpoint()
        listed = {r.fingerprint for r in rows if r.counts_only_until is not None and r.counts_only_until > now}
        return sorted(listed.union(scoped.get(credential or NO_CREDENTIAL, ())))

    @functools.cached_property
    def mode_audit(self) -> AuditTrail:
        """The audit trail counts-only mode changes are written to (the server directory's)."""
        from crashveil.server.governance.audit import AuditTrail

        return AuditTrail.for_server_dir(self.engine, self.settings.server_dir, now=self._clock)

    # -- groups ---------------------------------------------------------------------------------
    def group(self, project_id: str, group_id: int) -> GroupRecord | None:
        if not 0 < group_id <= 2**31 - 1:  # no row has it, and the driver would raise on it
            return None
        with db.read_tx(self.engine) as conn:
            row = conn.execute(sa.select(crash_groups).where(crash_groups.c.project_id == project_id,
                                                             crash_groups.c.id == group_id)).first()
        if row is None:
            return None
        return GroupRecord(row.id, row.project_id, row.fingerprint, row.crash_type, row.status, row.first_seen,
                           row.last_seen, row.first_release, row.last_release, row.resolved_in, row.regressed_in,
                           row.total_count)

    def set_group_status(self, project_id: str, group_id: int, status: str, *, release: str | None = None,
                         now: datetime | None = None) -> None:
        """Resolve (optionally in ``release``), ignore or reopen a group."""
        if status not in (grouping.OPEN, grouping.RESOLVED, grouping.IGNORED):
            raise ValueError(f"status must be open, resolved or ignored, not {status!r}")
        now = now or self._clock()
        values: dict[str, Any] = {"status": status}
        if status == grouping.RESOLVED:
            values.update(resolved_in=release, resolved_at=now)
        with db.write_tx(self.engine) as conn:
            done = conn.execute(crash_groups.update().where(crash_groups.c.project_id == project_id,
                                                            crash_groups.c.id == group_id).values(**values))
            if done.rowcount != 1:
                raise StorageError(f"project {project_id} has no group {group_id}")

    # -- erasure --------------------------------------------------------------------------------
    def process_deletion_request(self, project_id: str, request_id: str, install_ids: Sequence[str], *,
                                 now: datetime) -> DeletionRecord:
        """Delete every report of ``install_ids`` and record the request, in one transaction.

        The install sketches of the (group, day) pairs the deleted reports were in are rebuilt
        from the reports left, in the same transaction: a sketch cannot forget a pseudonym, and
        the dashboard's distinct installations would go on counting the erased ones.

        A repeated request id deletes again (reports that arrived since) and answers the
        original record with the total count.

        It leaves tombstones of the pseudonyms and deleted report ids, so that the erased
        installation's earlier reports are refused when they arrive later (a replay, a copy
        left on a disk): see ``crashveil.server.governance.tombstones``.
        """
        ids = sorted(set(install_ids))
        try:
            with db.write_tx(self.engine) as conn:
                tombstones.lock_projects(conn, [project_id], exclusive=True)
                report_ids, pairs = _delete_reports_of(conn, project_id, ids)
                deleted = len(report_ids)
                rebuild_install_sketches(conn, pairs)
                tombstones.record(conn, project_id, ids, report_ids, now=now)
                row = conn.execute(sa.select(deletion_requests).where(
                    deletion_requests.c.project_id == project_id,
                    deletion_requests.c.request_id == request_id).with_for_update()).first()
                if row is not None:
                    total = row.deleted_count + deleted
                    conn.execute(deletion_requests.update().where(
                        deletion_requests.c.project_id == project_id,
                        deletion_requests.c.request_id == request_id).values(deleted_count=total))
                    return DeletionRecord(request_id, project_id, total, row.processed_at)
                conn.execute(deletion_requests.insert().values(
                    project_id=project_id, request_id=request_id, install_count=len(ids), deleted_count=deleted,
                    received_at=now, processed_at=now))
                return DeletionRecord(request_id, project_id, deleted, now)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot process the deletion request ({type(exc).__name__})") from exc

    # -- keys -----------------------------------------------------------------------------------
    def rotate_kek(self, *, now: datetime | None = None) -> KekRotation:
        result = self.keys.rotate_kek(self.engine, now=now or self._clock(),
                                      retired_keep=timedelta(days=self.settings.kek_retired_keep_days))
        self._projects.clear()
        return result

    def rotate_project_keys(self, project_id: str, *, kinds: Sequence[str] = (HPKE, SIGNING),
                            now: datetime | None = None, overlap: timedelta | None = None) -> list[str]:
        """New HPKE and/or signing keys; the old ones keep working for ``overlap``."""
        now = now or self._clock()
        overlap = timedelta(days=self.settings.key_overlap_days) if overlap is None else overlap
        with db.write_tx(self.engine) as conn:
            if conn.execute(sa.select(projects.c.id).where(projects.c.id == project_id)).first() is None:
                raise ConfigError(
                    "project", f"{project_id!r} does not exist", "a project from 'crashveil project list'"
                )
            created = self.keys.rotate_project_keys(conn, project_id, now=now, overlap=overlap, kinds=kinds)
        self._projects.pop(project_id, None)
        return created

    def destroy_expired_keys(self, *, now: datetime | None = None) -> list[str]:
        with db.write_tx(self.engine) as conn:
            gone = self.keys.destroy_expired(conn, now=now or self._clock())
        self._projects.clear()
        self._recent_deks.clear()
        return gone

    def list_keys(self, project_id: str | None = None) -> list[KeyInfo]:
        with db.read_tx(self.engine) as conn:
            return self.keys.list_keys(conn, project_id)

    def data_key_summary(self) -> list[tuple[str, str | None, int, str | None]]:
        """Per KEK id: (kek id, oldest day, live data keys, newest day)."""
        from crashveil.server.db.tables import data_keys

        with db.read_tx(self.engine) as conn:
            rows = conn.execute(
                sa.select(
                    data_keys.c.kek_id, sa.func.min(data_keys.c.day), sa.func.count(), sa.func.max(data_keys.c.day)
                )
                .where(data_keys.c.wrapped_dek.is_not(None))
                .group_by(data_keys.c.kek_id)
            ).all()
        return [(r[0], r[1], r[2], r[3]) for r in rows]


_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(StoreRow))


def _delete_reports_of(conn: sa.Connection, project_id: str, install_ids: Sequence[str]
                       ) -> tuple[list[str], set[tuple[int, str]]]:
    """Delete the reports of ``install_ids`` in ``project_id``, in ``conn``'s transaction;
    returns their report ids (for the tombstones), and the (group id, day of
    ``reports.hour``) pairs they were in (the sketches to rebuild).

    The groups are locked first (PostgreSQL; SQLite's write lock covers it), in id order as
    ingest takes them: ingest reads, merges and writes a group's sketches under that lock,
    so none can add to a sketch between the rebuild's read of the reports and its write.
    The pairs come from the deleted rows themselves (RETURNING), so a report stored between
    the lock and the delete is not missed.
    """
    deleted: list[str] = []
    pairs: set[tuple[int, str]] = set()
    chunks = [install_ids[start:start + _DELETE_CHUNK] for start in range(0, len(install_ids), _DELETE_CHUNK)]
    groups: set[int] = set()
    for chunk in chunks:
        groups.update(conn.execute(sa.select(reports.c.group_id).distinct().where(
            reports.c.project_id == project_id, reports.c.install_id.in_(chunk))).scalars())
    _lock_groups(conn, groups)
    for chunk in chunks:
        for group_id, hour, report_id in conn.execute(reports.delete().where(
                reports.c.project_id == project_id, reports.c.install_id.in_(chunk))
                .returning(reports.c.group_id, reports.c.hour, reports.c.report_id)):
            deleted.append(report_id)
            pairs.add((group_id, hour[:10]))
    _lock_groups(conn, {group_id for group_id, _ in pairs} - groups)  # stored since the first read: rare
    return deleted, pairs


def _lock_groups(conn: sa.Connection, group_ids: set[int]) -> None:
    """``SELECT ... FOR UPDATE`` the groups ``group_ids``, in id order (PostgreSQL only)."""
    if not group_ids or db.is_sqlite(conn):
        return
    ordered = sorted(group_ids)
    for start in range(0, len(ordered), _DELETE_CHUNK):
        conn.execute(sa.select(crash_groups.c.id).where(crash_groups.c.id.in_(ordered[start:start + _DELETE_CHUNK]))
                     .order_by(crash_groups.c.id).with_for_update()).all()


def _key_digest(dek: bytes) -> bytes:
    """Names a data key in a :class:`StoreRow` without carrying the key itself."""
    return hashlib.blake2b(dek, digest_size=16, person=b"crashveil-dek").digest()


def _check_origins(batch: Sequence[StoreRow]) -> None:
    for item in batch:
        if item.origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}")


def write_daily(conn: sa.Connection, daily: Mapping[tuple[int, str, str, str], list[Any]],
                 day_installs: Mapping[tuple[int, str], list[Any]],
                 filters: Mapping[tuple[str, str, str], str]) -> None:
    """Add to the daily roll-ups, install sketches and filter values, in ``conn``'s transaction.

    ``daily``: (group, day, release, OS family) -> [project, count, counts-only count,
    install ids]; ``day_installs``: (group, day) -> [project, install ids]; ``filters``:
    (project, kind, value) -> day. Sketches are read, merged and written back: callers hold
    the groups' row locks (PostgreSQL; ``Storage.store_reports`` does) or SQLite's write lock.
    """
    if not daily:
        return
    with_installs = sorted(key for key, slot in daily.items() if slot[3])
    old: dict[Any, bytes | None] = {}
    cols = group_daily_rollups.c
    for _, stmt, params in _in_chunks(conn, "daily-old", with_installs, _daily_old_stmt):
        old.update({(r[0], r[1], r[2], r[3]): r[4] for r in db.fetch_all(conn, stmt, params)})
    values = []
    for key, (project_id, count, counts_only, installs) in sorted(daily.items()):
        sketch = None
        if installs:
            s = InstallSketch(old.get(key))
            for install in installs:
                s.add(install)
            sketch = s.to_bytes()
        values.append(dict(group_id=key[0], day=key[1], release=key[2], os_family=key[3], project_id=project_id,
                           count=count, counts_only=counts_only, installs=sketch))

    def daily_stmt(conn: sa.Connection) -> Any:
        stmt = db.dialect_insert(conn, group_daily_rollups)
        return stmt.on_conflict_do_update(
            index_elements=["group_id", "day", "release", "os_family"],
            set_={"count": cols.count + stmt.excluded.count,
                  "counts_only": cols.counts_only + stmt.excluded.counts_only,
                  "installs": sa.func.coalesce(stmt.excluded.installs, cols.installs)})

    _bulk(conn, "daily-upsert", daily_stmt, values)
    if day_installs:
        keys = sorted(day_installs)
        old_day: dict[Any, bytes] = {}
        for _, stmt, params in _in_chunks(conn, "day-installs-old", keys, _day_installs_old_stmt):
            old_day.update({(r[0], r[1]): r[2] for r in db.fetch_all(conn, stmt, params)})
        values = []
        for key in keys:
            project_id, installs = day_installs[key]
            s = InstallSketch(old_day.get(key))
            for install in installs:
                s.add(install)
            values.append(dict(group_id=key[0], day=key[1], project_id=project_id, installs=s.to_bytes()))
        def day_stmt(conn: sa.Connection) -> Any:
            stmt = db.dialect_insert(conn, group_day_installs)
            return stmt.on_conflict_do_update(index_elements=["group_id", "day"],
                                              set_={"installs": stmt.excluded.installs})

        _bulk(conn, "day-installs-upsert", day_stmt, values)
    fcols = project_filter_values.c
    def filter_stmt(conn: sa.Connection) -> Any:
        stmt = db.dialect_insert(conn, project_filter_values)
        return stmt.on_conflict_do_update(
            index_elements=["project_id", "kind", "value"],
            set_={"last_seen": sa.case((stmt.excluded.last_seen > fcols.last_seen, stmt.excluded.last_seen),
                                       else_=fcols.last_seen)})

    _bulk(conn, "filter-upsert", filter_stmt,
          [dict(project_id=k[0], kind=k[1], value=k[2], last_seen=day) for k, day in sorted(filters.items())])


def daily_entries(entries: Sequence[tuple[str, int, str, str, str, int, int, Sequence[str]]]
                  ) -> tuple[dict[Any, list[Any]], dict[Any, list[Any]], dict[Any, str]]:
    """``write_daily``'s arguments from (project, group, hour, release, OS family, count,
    counts-only count, install ids) entries (for loaders and test seeders)."""
    daily: dict[Any, list[Any]] = {}
    day_installs: dict[Any, list[Any]] = {}
    filters: dict[Any, str] = {}
    for project_id, group_id, hour, release, os_family, count, counts_only, installs in entries:
        day = hour[:10]
        slot = daily.setdefault((group_id, day, release, os_family), [project_id, 0, 0, []])
        slot[1] += count
        slot[2] += counts_only
        slot[3].extend(installs)
        if installs:
            day_installs.setdefault((group_id, day), [project_id, []])[1].extend(installs)
        for kind, value in ((FILTER_RELEASE, release), (FILTER_OS, os_family)):
            if filters.get((project_id, kind, value), "") < day:
                filters[(project_id, kind, value)] = day
    return daily, day_installs, filters


#: The columns of ``crash_groups`` a new report may change.
_GROUP_STATE = ("last_seen", "total_count", "hour_key", "hour_count", "status", "last_release", "regressed_in",
                "regressed_at", "counts_only_until", "hour_weight", "counts_only_since")


_STATEMENTS: dict[tuple[str, str], Any] = {}
#: Sizes of the IN lists of the batch reads; a list is padded to the next one by repeating
#: its last value, so each read has a few fixed shapes, compiled once each. An expanding
#: IN would be rendered anew at every execution (~2.5 ms per batch in the profile).
_IN_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, _DELETE_CHUNK)


def _in_chunks(conn: sa.Connection, name: str, values: Sequence[Any], build: Callable[[int], Any]
               ) -> Iterator[tuple[Sequence[Any], Any, dict[str, Any]]]:
    """``(chunk, statement, parameters)`` for ``values`` in chunks of at most ``_DELETE_CHUNK``.

    ``build(size)`` makes a statement with parameters ``k{i}`` (a value) or ``k{i}_{j}``
    (the j-th element of a tuple value) for i < size; the parameters name each value of the
    chunk, the last one repeated up to the size.
    """
    for start in range(0, len(values), _DELETE_CHUNK):
        chunk = values[start:start + _DELETE_CHUNK]
        size = next(n for n in _IN_SIZES if n >= len(chunk))
        stmt = _statement(conn, f"{name}-{size}", functools.partial(build, size))
        padded = list(chunk) + [chunk[-1]] * (size - len(chunk))
        if isinstance(padded[0], tuple):
            width = len(padded[0])
            params = dict(zip(_param_names(size, width), [part for value in padded for part in value], strict=False))
        else:
            params = dict(zip(_param_names(size, 0), padded, strict=False))
        yield chunk, stmt, params


@functools.lru_cache(maxsize=64)
def _param_names(size: int, width: int) -> tuple[str, ...]:
    """``k{i}`` for i < size (width 0), else ``k{i}_{j}`` for i < size, j < width, in order."""
    if not width:
        return tuple(f"k{i}" for i in range(size))
    return tuple(f"k{i}_{j}" for i in range(size) for j in range(width))


def _keys(size: int) -> list[Any]:
    return [sa.bindparam(f"k{i}") for i in range(size)]


def _tuple_keys(size: int, width: int) -> list[Any]:
    return [sa.tuple_(*(sa.bindparam(f"k{i}_{j}") for j in range(width))) for i in range(size)]


def _existing_stmt(size: int) -> Any:
    c = reports.c
    return (sa.select(c.report_id, c.receipt, c.group_id, c.detail.is_(None).label("counts_only"))
            .where(c.project_id == sa.bindparam("p"), c.report_id.in_(_keys(size))))


def _groups_stmt(size: int) -> Any:
    c = crash_groups.c
    return (sa.select(crash_groups).where(c.project_id == sa.bindparam("p"), c.fingerprint.in_(_keys(size)))
            .order_by(c.id).with_for_update())


def _daily_old_stmt(size: int) -> Any:
    c = group_daily_rollups.c
    return (sa.select(c.group_id, c.day, c.release, c.os_family, c.installs)
            .where(sa.tuple_(c.group_id, c.day, c.release, c.os_family).in_(_tuple_keys(size, 4))))


def _day_installs_old_stmt(size: int) -> Any:
    c = group_day_installs.c
    return sa.select(c.group_id, c.day, c.installs).where(sa.tuple_(c.group_id, c.day).in_(_tuple_keys(size, 2)))


_BULK: dict[tuple[str, tuple[str, ...]], db.BulkWrite] = {}


def _bulk(conn: sa.Connection, name: str, build: Callable[[sa.Connection], Any],
          rows: Sequence[Mapping[str, Any]]) -> None:
    """Run the statement ``build`` makes for every row (``db.BulkWrite``, one per row shape)."""
    if not rows:
        return
    key = (name, tuple(rows[0]))
    bulk = _BULK.get(key)
    if bulk is None:
        bulk = _BULK[key] = db.BulkWrite(build, key[1])
    bulk(conn, rows)


def _statement(conn: sa.Connection, name: str, build: Callable[[], Any]) -> Any:
    """A statement built once per dialect (building ``excluded`` and friends costs ~1 ms)."""
    key = (conn.dialect.name, name)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build()
    return stmt


def _upsert_counts(conn: sa.Connection, table: sa.Table, key: list[str], values: list[dict[str, Any]],
                   add: tuple[str, ...]) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET col = col + excluded.col for ``add``."""
    if not values:
        return

    def build(conn: sa.Connection) -> Any:
        stmt = db.dialect_insert(conn, table)
        return stmt.on_conflict_do_update(index_elements=key,
                                          set_={name: table.c[name] + stmt.excluded[name] for name in add})

    _bulk(conn, f"upsert-{table.name}", build, values)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
#: Dataclasses msgspec may encode as they are: no field of theirs, at any depth, can be None,
#: so its output equals ``Report.to_dict``'s (which leaves ``None`` fields out).
_NATIVE: dict[type, bool] = {}
_SCALARS = frozenset({str, int, float, bool})


def _never_none(hint: Any) -> bool:
    """Whether values of type ``hint`` can never be or hold a ``None`` field."""
    origin = typing.get_origin(hint)
    if hint in _SCALARS:
        return True
    if origin is typing.Literal:
        return None not in typing.get_args(hint)
    if origin is tuple:
        return all(_never_none(arg) for arg in typing.get_args(hint) if arg is not Ellipsis)
    if origin is dict:
        return all(_never_none(arg) for arg in typing.get_args(hint))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _is_native(hint)
    return False  # Optional, unions, anything else


def _is_native(cls: type) -> bool:
    native = _NATIVE.get(cls)
    if native is None:
        _NATIVE[cls] = False  # while its own fields are looked at (recursive types)
        hints = typing.get_type_hints(cls)
        native = _NATIVE[cls] = all(_never_none(hints[f.name]) for f in dataclasses.fields(cls))
    return native


def _plain(value: Any) -> Any:
    """``Report.to_dict``'s value for msgspec to encode: the same JSON, ~3x faster.

    Dataclasses that can hold ``None`` become dicts without their ``None`` fields; the
    others (frames, stacks, environments, breadcrumbs) are left for msgspec to encode in C.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    names = _FIELD_NAMES.get(kind)
    if names is None:
        if isinstance(value, (tuple, list)):
            return [_plain(item) for item in value]
        if isinstance(value, dict):
            return {key: _plain(item) for key, item in value.items()}
        if not dataclasses.is_dataclass(value) or isinstance(value, type):
            return value
        names = _FIELD_NAMES[kind] = () if _is_native(kind) else tuple(f.name for f in dataclasses.fields(value))
    if not names:
        return value  # native: msgspec encodes it as it is
    out = {}
    for name in names:
        item = getattr(value, name)
        if item is not None:
            out[name] = item if type(item) in _SCALARS else _plain(item)
    return out


def _detail_json(report: Report, fingerprint: str, dropped_fields: Sequence[str]) -> bytes:
    body = _plain(report)
    body.pop("install_id", None)  # kept in its column, for erasure; not twice
    server: dict[str, Any] = {}
    if body.get("fingerprint") != fingerprint:
        server["client_fingerprint"] = body["fingerprint"]
        body["fingerprint"] = fingerprint
    if dropped_fields:
        server["dropped_fields"] = list(dropped_fields)
    # Compact UTF-8 JSON with sorted keys, as json.dumps(separators=(",", ":"), sort_keys=True,
    # ensure_ascii=False) writes it, ~5x faster.
    return msgspec.json.encode({"report": body, "server": server}, order="sorted")


def _parse_policy_text(text: str, *, source: str) -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, "", f"is not valid TOML ({exc})") from exc
    return parse_policy(data, source=source)
