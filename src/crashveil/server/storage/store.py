"""Storage: the facade over one database: open and close, projects and keys, and each
write as one short transaction.

Every write is one short transaction through :func:`~crashveil.server.db.engine.write_tx`
(bugsink: "think once, apply everywhere"). A report is acknowledged only after its
transaction committed; a report id seen before answers the receipt it got the first time
and changes nothing (idempotent retries, RELIABILITY.md B.15). The work inside the
transactions lives beside this module: the report write path in ``reports``, roll-ups in
``rollups``, detail encryption in ``detail``, erasure in ``deletion``, the rows and results
in ``records``. The client's IP address is never given to storage, and no table has a
column for it.
"""

from __future__ import annotations

import functools
import threading
import time
import tomllib
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from crashveil.errors import ConfigError, PolicyError, StorageError
from crashveil.policy import Policy, default_policy_path, parse_policy, policy_digest
from crashveil.server.cluster.cache_versions import GROUPS, PROJECTS, CacheVersions, bump
from crashveil.server.db import engine as db
from crashveil.server.db.tables import crash_groups, project_policies, projects, reports
from crashveil.server.governance.lifecycle.field_stops import stored_stops
from crashveil.server.ingest import grouping
from crashveil.server.ingest.credential_weight import (
    NO_CREDENTIAL,
    ModeChange,
    credential_fingerprints,
    expire_modes,
    record_changes,
)
from crashveil.server.keys.kek import KeyEncryptionKeyProvider
from crashveil.server.keys.kek_sources import provider_from_settings
from crashveil.server.keys.ring import HPKE, SIGNING, KekRotation, KeyInfo, KeyRing, RewrapProgress
from crashveil.server.settings import Settings
from crashveil.server.storage import queries
from crashveil.server.storage.deletion import delete_installs
from crashveil.server.storage.detail import open_detail
from crashveil.server.storage.records import (
    DeletionRecord,
    GroupRecord,
    PendingReport,
    ProjectRecord,
    ProjectSummary,
    ReceiptStatus,
    StoredDetail,
    StoreResult,
    StoreRow,
    utcnow,
)
from crashveil.server.storage.reports import DataKeys, ReportWriter, build_row, check_origins
from crashveil.server.storage.statistics import FirstStatistics
from crashveil.wire import Report
from crashveil.wire.protocol import PROJECT_ID_PATTERN

if typing.TYPE_CHECKING:
    from crashveil.server.governance.audit import AuditTrail

__all__ = ["Storage"]


class Storage:
    """The database of one server (shared by every process over the same database)."""

    def __init__(self, settings: Settings, engine: sa.Engine, keyring: KeyRing, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.engine = engine
        self.keys = keyring
        self._clock = clock
        #: project id -> (loaded at, cache version it was loaded under, record)
        self._projects: dict[str, tuple[float, int, ProjectRecord]] = {}
        #: Versions of the caches, bumped by writes on any host (server/cluster/cache_versions.py).
        self.versions = CacheVersions(engine, check_s=settings.cache_check_s)
        #: (project, day) -> (data key id, data key) of days written lately, for
        #: :meth:`row`; every use is checked against the key row in the write
        #: transaction, so a stale entry costs a re-encryption, never a wrong blob.
        self._recent_deks: dict[tuple[str, str], tuple[str, bytes]] = {}
        #: :meth:`project` loads under one of these (by hash of the id: bounded, whatever
        #: ids are asked for).
        self._project_locks = [threading.Lock() for _ in range(16)]
        self._decrypted = 0
        self._decrypted_lock = threading.Lock()
        self._writer = ReportWriter(keyring, lambda: self.mode_audit)
        #: PostgreSQL: the planner statistics of a young database (``statistics.py``).
        self.first_statistics = FirstStatistics(engine)

    # -- lifecycle ----------------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings, *, check_schema: bool = True,
             kek_provider: KeyEncryptionKeyProvider | None = None,
             clock: Callable[[], datetime] = utcnow, processes: int = 1) -> Storage:
        """Connect, and refuse to go on if the database could lose acknowledged reports.

        ``processes``: how many server processes share the database (its connection pool's share).

        Raises:
            StorageError: the database cannot be reached, its durability settings are
                unsafe, or (with ``check_schema``) its schema is not the one this code expects.
        """
        if settings.database_url.startswith("sqlite:///"):
            path = settings.database_url[len("sqlite:///"):]
            if path and not path.startswith((":memory:", "file:")):
                from pathlib import Path

                Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = db.create_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                                  processes=processes)
        try:
            with engine.connect() as conn:
                problems = db.durability_problems(conn)
                schema = db.schema_problem(conn) if check_schema else None
        except DBAPIError as exc:
            engine.dispose()
            raise db.unreachable(engine, exc) from exc
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StorageError(f"cannot use the database ({type(exc).__name__})") from exc
        if problems or schema:
            engine.dispose()
            raise StorageError("refusing to run: " + "; ".join(problems + ([schema] if schema else [])))
        provider = kek_provider or provider_from_settings(settings)
        return cls(settings, engine, KeyRing(provider), clock=clock)

    def close(self) -> None:
        self.first_statistics.close()
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
                bump(conn, PROJECTS)
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
            bump(conn, PROJECTS)
        self._projects.pop(project_id, None)
        return digest

    def cached_project(self, project_id: str) -> ProjectRecord | None:
        """The project if :meth:`project` has it cached and fresh, else ``None`` (no I/O)."""
        cached = self._projects.get(project_id)
        if self._still_fresh(cached, self.versions.known(PROJECTS)):
            return cached[2]  # type: ignore[index]  # _still_fresh checked it is there
        return None

    def _still_fresh(self, cached: tuple[float, int, ProjectRecord] | None, version: int) -> bool:
        """A cached project is used for ``project_cache_s`` at most, and only while no host
        changed projects since it was loaded (the cache version)."""
        return (cached is not None and cached[1] == version
                and time.monotonic() - cached[0] < self.settings.project_cache_s)

    def project(self, project_id: str, *, fresh: bool = False) -> ProjectRecord | None:
        """The project, its policies and usable keys; cached ``project_cache_s`` seconds.

        One thread loads a project at a time: the others that missed the cache meanwhile
        wait and take what it loaded (a load costs ~3 ms of CPU, and every request in
        flight misses at once when the entry expires). A change on any host (the cache
        version) makes it load again within ``cache_check_s``.
        """
        version = self.versions.current(PROJECTS)
        cached = self._projects.get(project_id)
        if not fresh and self._still_fresh(cached, version):
            return cached[2]  # type: ignore[index]  # _still_fresh checked it is there
        with self._project_locks[hash(project_id) % len(self._project_locks)]:
            cached = self._projects.get(project_id)
            if not fresh and self._still_fresh(cached, version):
                return cached[2]  # type: ignore[index]
            return self._load_project(project_id)

    def _load_project(self, project_id: str) -> ProjectRecord | None:
        version = self.versions.known(PROJECTS)  # read before the rows: a bump meanwhile loads again
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
                stops = stored_stops(conn, project_id, now)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read project {project_id} ({type(exc).__name__})") from exc
        policies = {r.digest: _parse_policy_text(r.policy_toml, source=f"policy {r.digest} of project {project_id}",
                                                 require_expiry=False)  # stored before fields expired
                    for r in policy_rows}
        if not policies or not keys.keypairs or not keys.signing_keys:
            raise StorageError(f"project {project_id} has no policy or no usable keys: run 'crashveil keys rotate'")
        record = ProjectRecord(
            id=project_id, policy=policies[policy_rows[-1].digest], policies=policies, keypairs=keys.keypairs,
            signing_key=keys.signing_keys[0], signing_keys=keys.signing_keys,
            public_summary=bool(row.public_summary), created_at=row.created_at, field_stops=stops)
        self._projects[project_id] = (time.monotonic(), version, record)
        return record

    def list_projects(self) -> list[ProjectSummary]:
        with db.read_tx(self.engine) as conn:
            return queries.project_summaries(conn)

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
        record = self._policy_current_project(item.project_id)
        if record is None:
            return build_row(item, self._recent_deks)
        policy = record.policy
        return build_row(item, self._recent_deks,
                         (policy.aggregation.quasi_k, policy.keys.pseudonym_rotation_days))

    def _policy_current_project(self, project_id: str) -> ProjectRecord | None:
        """The project as cached while no host changed projects since (policies and stops
        bump the version), however old; loaded otherwise. :meth:`row` needs only the policy's
        k and rotation period, which change only with the version, so it never reloads the
        keys just because ``project_cache_s`` ran out."""
        cached = self._projects.get(project_id)
        if cached is not None and cached[1] == self.versions.known(PROJECTS):
            return cached[2]
        return self.project(project_id)

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
        statements ran, or on PostgreSQL were sent, and only the COMMIT (the fsync) and
        their answers are left.

        Raises:
            StorageError: the database failed; nothing of the batch was stored.
        """
        check_origins(batch)
        batch = list(batch)
        if not batch:
            return []
        if self.settings.quasi_identifier_check and self._writer.quasi.secret is None:
            self._writer.quasi.secret = self._linkability_secret()
        for attempt in (1, 2):
            try:
                deks: DataKeys = {}
                changes: list[ModeChange] = []
                with db.write_tx(self.engine) as conn:
                    if more is not None:
                        late = list(more())
                        more = None
                        check_origins(late)
                        batch += late
                    results = self._writer.store_batch(conn, batch, deks, changes, self.settings, commit=True,
                                                       sent=sql_done)
                    if sql_done is not None:
                        sql_done()
                self._remember_deks(deks)
                if changes:
                    self.mode_audit.checkpoint()
                self.first_statistics.stored(len(batch))
                return results
            except IntegrityError as exc:
                self._writer.quasi.forget()
                # PostgreSQL: a concurrent retry of one of these reports committed first; the
                # second attempt finds it stored and answers its receipt.
                if attempt == 2:
                    raise StorageError(f"cannot store the reports ({type(exc).__name__})") from exc
            except SQLAlchemyError as exc:
                self._writer.quasi.forget()
                raise StorageError(f"cannot store the reports ({type(exc).__name__})") from exc
            except BaseException:
                self._writer.quasi.forget()  # the transaction rolled back: so did what it counted
                raise
        raise AssertionError("unreachable")

    def _linkability_secret(self) -> bytes:
        """The shared secret the quasi-identifier check keys its digests with (read, or made,
        outside the write transaction: on SQLite a second writer would wait for this one)."""
        import os

        from crashveil.server.keys.shared_secrets import shared_secret
        from crashveil.server.linkability.counting import SECRET_NAME

        try:
            return shared_secret(self.engine, self.keys, SECRET_NAME, seed=lambda: os.urandom(32))
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read the linkability secret ({type(exc).__name__})") from exc

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
        detail = open_detail(dek, row.detail, project_id, report_id, row.day, row.install_id)
        with self._decrypted_lock:
            self._decrypted += 1
        return detail

    def receipt_status(self, receipt: str) -> ReceiptStatus | None:
        """The public status of the report with this receipt, or ``None``."""
        if not isinstance(receipt, str) or len(receipt) > 64:
            return None
        try:
            with db.read_tx(self.engine) as conn:
                return queries.receipt_status(conn, receipt)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read the receipt ({type(exc).__name__})") from exc

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

        return AuditTrail.for_server_dir(self.engine, self.settings.server_dir, now=self._clock,
                                         provider=self.keys.provider)

    # -- groups ---------------------------------------------------------------------------------
    def group(self, project_id: str, group_id: int) -> GroupRecord | None:
        if not 0 < group_id <= 2**31 - 1:  # no row has it, and the driver would raise on it
            return None
        with db.read_tx(self.engine) as conn:
            return queries.group_record(conn, project_id, group_id)

    def set_group_status(self, project_id: str, group_id: int, status: str, *, release: str | None = None,
                         now: datetime | None = None) -> None:
        """Resolve (optionally in ``release``), ignore or reopen a group."""
        if status not in (grouping.OPEN, grouping.RESOLVED, grouping.IGNORED):
            raise ValueError(f"status must be open, resolved or ignored, not {status!r}")
        now = now or self._clock()
        values: dict[str, Any] = {"status": status, "resolved_after": None, "ignored_until": None,  # 0014 conditions
                                  "ignored_until_count": None, "ignored_until_release": None, "ignore_ended": None}
        if status == grouping.RESOLVED:
            values.update(resolved_in=release, resolved_at=now)
        with db.write_tx(self.engine) as conn:
            done = conn.execute(crash_groups.update().where(crash_groups.c.project_id == project_id,
                                                            crash_groups.c.id == group_id).values(**values))
            if done.rowcount != 1:
                raise StorageError(f"project {project_id} has no group {group_id}")
            bump(conn, GROUPS)

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
        try:
            with db.write_tx(self.engine) as conn:
                bump(conn, GROUPS)  # the erased reports leave every host's dashboard within a second
                return delete_installs(conn, project_id, request_id, install_ids, now=now)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot process the deletion request ({type(exc).__name__})") from exc

    # -- keys -----------------------------------------------------------------------------------
    def rotate_kek(self, *, now: datetime | None = None, batch_size: int = 500,
                   stop: Callable[[], bool] = lambda: False,
                   on_batch: RewrapProgress = lambda what, done, total: None, resume: bool = True) -> KekRotation:
        """See :meth:`KeyRing.rotate_kek` (batches, ``stop``, resuming an interrupted rotation)."""
        from crashveil.server.keys.hosts import kek_lagging_hosts

        result = self.keys.rotate_kek(self.engine, now=now or self._clock(),
                                      retired_keep=timedelta(days=self.settings.kek_retired_keep_days),
                                      batch_size=batch_size, stop=stop, on_batch=on_batch, resume=resume,
                                      lagging_hosts=kek_lagging_hosts(self.settings, self.engine, self.keys.provider))
        self._projects.clear()
        return result

    def kek_rotation_pending(self) -> bool:
        """Whether an earlier KEK rotation made a new KEK in this server's KEK file and did not
        finish: stopped, or waiting for hosts that had not picked the file up. (A set from the
        environment or a command is rotated by the operator, not here.)"""
        from crashveil.server.keys.kek import FileKeyProvider

        return isinstance(self.keys.provider, FileKeyProvider) and bool(self.keys.unfinished_rotation())

    def rotate_project_keys(self, project_id: str, *, kinds: Sequence[str] = (HPKE, SIGNING),
                            now: datetime | None = None, overlap: timedelta | None = None) -> list[str]:
        """New HPKE and/or signing keys; the old ones keep working for ``overlap``."""
        now = now or self._clock()
        overlap = timedelta(days=self.settings.key_overlap_days) if overlap is None else overlap
        with db.write_tx(self.engine) as conn:
            if conn.execute(sa.select(projects.c.id).where(projects.c.id == project_id)).first() is None:
                raise ConfigError("project", f"{project_id!r} does not exist",
                                  "a project from 'crashveil project list'")
            created = self.keys.rotate_project_keys(conn, project_id, now=now, overlap=overlap, kinds=kinds)
            bump(conn, PROJECTS)
        self._projects.pop(project_id, None)
        return created

    def destroy_expired_keys(self, *, now: datetime | None = None) -> list[str]:
        now = now or self._clock()
        # Forget cached keys on every pass, even when none expired here: another process (a
        # retention run, a rotation) may have destroyed them, and a cache must not outlive that.
        self._projects.clear()
        self._recent_deks.clear()
        with db.read_tx(self.engine) as conn:  # most runs find none: no write lock for nothing
            if not self.keys.expired_key_ids(conn, now=now):
                return []
        with db.write_tx(self.engine) as conn:
            gone = self.keys.destroy_expired(conn, now=now)
            bump(conn, PROJECTS)
        self._projects.clear()
        self._recent_deks.clear()
        return gone

    def list_keys(self, project_id: str | None = None) -> list[KeyInfo]:
        with db.read_tx(self.engine) as conn:
            return self.keys.list_keys(conn, project_id)

    def data_key_summary(self) -> list[tuple[str, str | None, int, str | None]]:
        """Per KEK id: (kek id, oldest day, live data keys, newest day)."""
        with db.read_tx(self.engine) as conn:
            return queries.data_key_summary(conn)


@functools.lru_cache(maxsize=64)
def _parse_policy_text(text: str, *, source: str, require_expiry: bool = True) -> Policy:
    """The policy of a stored text. Parsed once per process and text (a parse costs several
    ms, and every project load reads each of a project's policies); a ``Policy`` is frozen,
    so the one object is shared safely."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, "", f"is not valid TOML ({exc})") from exc
    return parse_policy(data, source=source, require_expiry=require_expiry)
