"""Storage: projects, reports, groups, roll-ups, counters and erasure over one database.

Every write is one short transaction through :func:`~crashveil.server.db.engine.write_tx`
(bugsink: "think once, apply everywhere"). A report is acknowledged only after its
transaction committed; a report id seen before answers the receipt it got the first time
and changes nothing (idempotent retries, RELIABILITY.md B.15).

At rest, a report's details (everything but the aggregate columns) are JSON, compressed,
then encrypted with AES-256-GCM under the project's data key for the received day, with
associated data binding project, report id and day (``crashveil.server.crypto``). The
client's IP address is never given to this module, and no table has a column for it.
"""

from __future__ import annotations

import json
import secrets
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from crashveil.errors import ConfigError, PolicyError, StorageError
from crashveil.policy import Policy, Report, default_policy_path, parse_policy, parse_report, policy_digest
from crashveil.policy.protocol import PROJECT_ID_PATTERN
from crashveil.server import grouping
from crashveil.server.crypto import ProjectKeyPair, SigningKey, decrypt_detail, detail_aad, encrypt_detail
from crashveil.server.db import engine as db
from crashveil.server.db.tables import (
    crash_groups,
    deletion_requests,
    group_rollups,
    project_policies,
    projects,
    redaction_counters,
    reports,
)
from crashveil.server.keys import (
    HPKE,
    SIGNING,
    FileKeyProvider,
    KekRotation,
    KeyEncryptionKeyProvider,
    KeyInfo,
    KeyRing,
)
from crashveil.server.settings import Settings

__all__ = [
    "Storage",
    "StoreResult",
    "ReceiptStatus",
    "DeletionRecord",
    "ProjectRecord",
    "ProjectSummary",
    "GroupRecord",
    "StoredDetail",
    "ORIGINS",
    "DROPPED_DETECTOR",
]

ORIGINS = ("crashveil-sdk", "sentry-sdk")
#: Detector name under which unknown fields dropped at parsing are counted.
DROPPED_DETECTOR = "_dropped"
_DELETE_CHUNK = 500


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def hour_of(moment: datetime) -> str:
    """``2026-05-01T13:00Z``, the wire format's hour."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:00Z")


def day_of(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class StoreResult:
    """The outcome of :meth:`Storage.store_report`."""

    receipt: str
    created: bool
    group_id: int
    counts_only: bool


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

    @property
    def digest(self) -> str:
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
        """Raise :class:`StorageError` if the database cannot answer."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1").scalar()
        except SQLAlchemyError as exc:
            raise StorageError(f"the database does not answer ({type(exc).__name__})") from exc

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

    def project(self, project_id: str, *, fresh: bool = False) -> ProjectRecord | None:
        """The project, its policies and usable keys; cached ``project_cache_s`` seconds."""
        cached = self._projects.get(project_id)
        if cached and not fresh and time.monotonic() - cached[0] < self.settings.project_cache_s:
            return cached[1]
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
        found; ``dropped_fields`` are the paths of unknown fields dropped at parsing.

        Raises:
            StorageError: the database failed (the ingest side answers 503).
        """
        if origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}")
        received_hour = hour_of(received_at)
        try:
            with db.write_tx(self.engine) as conn:
                return self._store(conn, project_id, report, origin, received_at, received_hour,
                                   redaction_hits, dropped_fields)
        except IntegrityError as exc:
            # PostgreSQL: a concurrent retry of the same report committed first.
            existing = self._existing(project_id, report.report_id)
            if existing is not None:
                return existing
            raise StorageError(f"cannot store the report ({type(exc).__name__})") from exc
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot store the report ({type(exc).__name__})") from exc

    def _existing(self, project_id: str, report_id: str, conn: sa.Connection | None = None) -> StoreResult | None:
        query = sa.select(reports.c.receipt, reports.c.group_id, reports.c.detail.is_(None).label("counts_only")) \
            .where(reports.c.project_id == project_id, reports.c.report_id == report_id)
        if conn is None:
            with db.read_tx(self.engine) as own:
                row = own.execute(query).first()
        else:
            row = conn.execute(query).first()
        return None if row is None else StoreResult(row.receipt, False, row.group_id, bool(row.counts_only))

    def _store(self, conn: sa.Connection, project_id: str, report: Report, origin: str, received_at: datetime,
               received_hour: str, redaction_hits: Mapping[tuple[str, str], int],
               dropped_fields: Sequence[str]) -> StoreResult:
        existing = self._existing(project_id, report.report_id, conn)
        if existing is not None:
            return existing
        fingerprint = grouping.report_fingerprint(report)
        release = report.release
        os_family = report.environment.os_family if report.environment is not None else None
        group = self._group_for_update(conn, project_id, fingerprint, report.crash_type, received_at, release)
        transition = grouping.on_new_report(group.status, group.resolved_in, release)
        hour_count = group.hour_count + 1 if group.hour_key == received_hour else 1
        counts_only = hour_count > self.settings.mass_failure_per_hour
        changes: dict[str, Any] = {
            "last_seen": max(group.last_seen, received_at), "total_count": group.total_count + 1,
            "hour_key": received_hour, "hour_count": hour_count, "status": transition.status,
        }
        if release is not None:
            changes["last_release"] = release
        if transition.regressed:
            changes.update(regressed_in=release, regressed_at=received_at)
        if counts_only:
            hour_start = received_at.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
            changes["counts_only_until"] = hour_start + timedelta(hours=2)
        conn.execute(crash_groups.update().where(crash_groups.c.id == group.id).values(**changes))

        day = received_at.astimezone(timezone.utc).strftime("%Y-%m-%d")
        data_key_id = detail = None
        if not counts_only:
            data_key_id, dek = self.keys.data_key_for_write(conn, project_id, day, now=received_at)
            plaintext = _detail_json(report, fingerprint, dropped_fields)
            detail = encrypt_detail(dek, plaintext, aad=detail_aad(project_id, report.report_id, day))
        receipt = secrets.token_urlsafe(16)
        conn.execute(reports.insert().values(
            project_id=project_id, report_id=report.report_id, receipt=receipt, group_id=group.id,
            fingerprint=fingerprint, release=release, os_family=os_family,
            hour=report.occurred_hour or received_hour, received_hour=received_hour, day=day,
            level=report.consent_level, origin=origin, install_id=report.install_id,
            policy_digest=report.policy_digest, received_at=received_at, data_key_id=data_key_id, detail=detail))

        rollup = db.dialect_insert(conn, group_rollups).values(
            group_id=group.id, hour=report.occurred_hour or received_hour, release=release or "",
            os_family=os_family or "", project_id=project_id, count=1, counts_only=int(counts_only))
        conn.execute(rollup.on_conflict_do_update(
            index_elements=["group_id", "hour", "release", "os_family"],
            set_={"count": group_rollups.c.count + 1,
                  "counts_only": group_rollups.c.counts_only + int(counts_only)}))
        counters = {key: hits for key, hits in redaction_hits.items() if hits > 0}
        for path in dropped_fields:
            counters[(path[:128], DROPPED_DETECTOR)] = counters.get((path[:128], DROPPED_DETECTOR), 0) + 1
        for (field_name, detector), hits in sorted(counters.items()):
            stmt = db.dialect_insert(conn, redaction_counters).values(
                project_id=project_id, release=release or "", field=field_name[:128], detector=detector[:64],
                hour=received_hour, hits=hits)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["project_id", "release", "field", "detector", "hour"],
                set_={"hits": redaction_counters.c.hits + hits}))
        return StoreResult(receipt, True, group.id, counts_only)

    def _group_for_update(self, conn: sa.Connection, project_id: str, fingerprint: str, crash_type: str,
                          now: datetime, release: str | None) -> sa.Row[Any]:
        conn.execute(db.dialect_insert(conn, crash_groups).values(
            project_id=project_id, fingerprint=fingerprint, crash_type=crash_type, first_seen=now, last_seen=now,
            first_release=release, last_release=release, status=grouping.OPEN, total_count=0, hour_count=0,
        ).on_conflict_do_nothing(index_elements=["project_id", "fingerprint"]))
        return conn.execute(sa.select(crash_groups).where(
            crash_groups.c.project_id == project_id, crash_groups.c.fingerprint == fingerprint)
            .with_for_update()).one()

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

    def counts_only_fingerprints(self, project_id: str, *, now: datetime | None = None) -> list[str]:
        """Fingerprints of groups in mass-failure mode: SDKs send counts, not reports."""
        now = now or self._clock()
        with db.read_tx(self.engine) as conn:
            return list(conn.execute(
                sa.select(crash_groups.c.fingerprint).where(
                    crash_groups.c.project_id == project_id, crash_groups.c.counts_only_until > now)
                .order_by(crash_groups.c.fingerprint)).scalars())

    # -- groups ---------------------------------------------------------------------------------
    def group(self, project_id: str, group_id: int) -> GroupRecord | None:
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

        A repeated request id deletes again (reports that arrived since) and answers the
        original record with the total count.
        """
        ids = sorted(set(install_ids))
        try:
            with db.write_tx(self.engine) as conn:
                deleted = 0
                for start in range(0, len(ids), _DELETE_CHUNK):
                    chunk = ids[start:start + _DELETE_CHUNK]
                    deleted += conn.execute(reports.delete().where(
                        reports.c.project_id == project_id, reports.c.install_id.in_(chunk))).rowcount
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
                raise ConfigError("project", f"{project_id!r} does not exist", "a project from 'crashveil project list'")
            created = self.keys.rotate_project_keys(conn, project_id, now=now, overlap=overlap, kinds=kinds)
        self._projects.pop(project_id, None)
        return created

    def destroy_expired_keys(self, *, now: datetime | None = None) -> list[str]:
        with db.write_tx(self.engine) as conn:
            gone = self.keys.destroy_expired(conn, now=now or self._clock())
        self._projects.clear()
        return gone

    def list_keys(self, project_id: str | None = None) -> list[KeyInfo]:
        with db.read_tx(self.engine) as conn:
            return self.keys.list_keys(conn, project_id)

    def data_key_summary(self) -> list[tuple[str, str | None, int, str | None]]:
        """Per KEK id: (kek id, oldest day, live data keys, newest day)."""
        from crashveil.server.db.tables import data_keys

        with db.read_tx(self.engine) as conn:
            rows = conn.execute(
                sa.select(data_keys.c.kek_id, sa.func.min(data_keys.c.day), sa.func.count(), sa.func.max(data_keys.c.day))
                .where(data_keys.c.wrapped_dek.is_not(None)).group_by(data_keys.c.kek_id)).all()
        return [(r[0], r[1], r[2], r[3]) for r in rows]


def _detail_json(report: Report, fingerprint: str, dropped_fields: Sequence[str]) -> bytes:
    body = report.to_dict()
    body.pop("install_id", None)  # kept in its column, for erasure; not twice
    server: dict[str, Any] = {}
    if body.get("fingerprint") != fingerprint:
        server["client_fingerprint"] = body["fingerprint"]
        body["fingerprint"] = fingerprint
    if dropped_fields:
        server["dropped_fields"] = list(dropped_fields)
    return json.dumps({"report": body, "server": server}, separators=(",", ":"), sort_keys=True,
                      ensure_ascii=False).encode("utf-8")


def _parse_policy_text(text: str, *, source: str) -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, "", f"is not valid TOML ({exc})") from exc
    return parse_policy(data, source=source)
