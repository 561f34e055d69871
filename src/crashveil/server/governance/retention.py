"""Retention: delete what the policy no longer allows us to keep, and destroy the day keys
that protected it (crypto-shredding).

Per project, with its current policy:

1. **Whole reports** go when the longest field retention has passed since they were
   received (server receive time, so a forged timestamp can neither escape nor trigger it).
   Rows are deleted one by one at their exact age.
2. **A day's data key** is destroyed once every report received that day has expired (the
   day's end plus the longest retention). Its details can then never be decrypted again.
3. **Shorter-retention fields** (free text: message, comment, breadcrumbs; 30 days in the
   default policy) go earlier. The storage keeps one encrypted detail per report under one
   key per (project, day). When a day reaches a shorter retention class, every detail of
   that day is re-encrypted *without* those fields under a **fresh** day key, and the old
   key is replaced (``retention_stripped`` records it). Re-encrypting under the same key
   would leave the old ciphertext in backups readable for another 60 days; a fresh key
   makes the strip as final as a deletion. The class is applied to a day as soon as the
   day's *first* second reaches it, so no field outlives its retention (a field received
   late in a day goes up to 24 h early). Chosen over a blob and key per (day, retention
   class) because that needs the storage engineer's schema to change; it would make
   step 3 a plain key destruction, and is the better design if more classes appear.
4. **Roll-ups** (hourly counts, redaction counters; daily counts, install sketches and
   filter values by the day, as soon as the day's first second is that old) go after
   ``policy.aggregation.rollup_retention_days``; groups with no reports and no roll-ups left
   go with them.
5. Privacy feedback (``server/feedback/store.py``) received more than the policy's
   ``feedback.retention_days`` ago goes, and with each item its own key (all of it when the
   policy has no ``[feedback]``).
6. Failed log-ins older than a day and ended sessions go; so do erasure tombstones once the
   replay window has passed over them (``tombstones.keep_for``: nothing they refuse can be
   accepted any more).

Backups and copies: day keys are stored wrapped by the key-encryption key (KEK, a file
outside the database). A copy of the database taken before a run still holds the old
wrapped keys, so after shredding anything the run **rotates the KEK** (every live key is
rewrapped under a new one) and the old KEK is destroyed ``kek_retired_keep_days`` later
(the backup-restore window). With ``kek_retired_keep_days = 0`` the old KEK is destroyed
at once and an earlier copy can no longer be decrypted at all; otherwise it is put beyond
use that many days later (ICO "beyond use"). The report says which.

On SQLite, deleted rows are zeroed (``secure_delete``, set by the engine) and the WAL is
checkpointed and truncated, so nothing deleted lingers in the database file or its WAL.

Every run is recorded in the audit trail (counts and key ids, never content) and in
``retention_runs``. ``dry_run`` computes the same numbers and changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashveil.errors import KekRolloutError
from crashveil.policy.model import Policy
from crashveil.server.db.adoption_tables import prune_adoption
from crashveil.server.db.engine import is_sqlite, read_tx, write_tx
from crashveil.server.db.governance_tables import login_failures, retention_runs, retention_stripped, sessions
from crashveil.server.db.rollup_tables import group_daily_rollups, group_day_installs, project_filter_values
from crashveil.server.db.tables import crash_groups, data_keys, group_rollups, redaction_counters, reports
from crashveil.server.db.triage_tables import group_day_facets
from crashveil.server.feedback.store import expire_feedback
from crashveil.server.governance import tombstones
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.keys.crypto import decrypt_detail, detail_aad, encrypt_detail, new_data_key
from crashveil.server.storage import triage
from crashveil.wire.canonical import canonical_json

if TYPE_CHECKING:
    from crashveil.server.storage.store import Storage

__all__ = ["ProjectRetention", "RetentionResult", "run_retention", "retention_classes"]

logger = logging.getLogger("crashveil.server.retention")


@dataclass
class ProjectRetention:
    """What one run did (or, dry, would do) in one project."""

    project_id: str
    policy_version: str
    longest_days: int
    reports_deleted: int = 0
    keys_destroyed: list[str] = field(default_factory=list)
    stripped: list[str] = field(default_factory=list)  # "<day>:<class days>:<fields>"
    details_rewritten: int = 0
    rollups_deleted: int = 0
    daily_rollups_deleted: int = 0  # daily roll-ups, install sketches, filter values, day facets, adoption
    counters_deleted: int = 0
    groups_deleted: int = 0
    feedback_deleted: int = 0  # privacy feedback items past feedback.retention_days (server/feedback/store.py)


@dataclass
class RetentionResult:
    started_at: str
    dry_run: bool
    projects: list[ProjectRetention] = field(default_factory=list)
    login_failures_deleted: int = 0
    sessions_deleted: int = 0
    tombstones_deleted: int = 0  # erasure tombstones past the replay window (tombstones.py)
    kek_rotated: str | None = None
    # Hosts the run's new KEK had not reached: the rotation waits (nothing rewrapped) and the
    # next run resumes it under the same KEK.
    kek_waiting_for: list[str] = field(default_factory=list)
    keks_destroyed: list[str] = field(default_factory=list)
    backups_beyond_use_after_days: int | None = None
    wal_checkpoint: str | None = None
    interrupted: bool = False  # stopped between projects (SIGINT/SIGTERM); run again to finish

    @property
    def shredded(self) -> bool:
        return any(p.keys_destroyed or p.details_rewritten or p.reports_deleted or p.feedback_deleted
                   for p in self.projects)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def retention_classes(policy: Policy) -> list[tuple[int, tuple[str, ...]]]:
    """``(days, fields kept at most that long)`` for each retention shorter than the longest."""
    ceiling = policy.retention_ceiling_days
    days_of = {name: min(rule.retention_days, ceiling) for name, rule in policy.fields.items()}
    longest = max(days_of.values())
    return [(days, tuple(sorted(n for n, d in days_of.items() if d <= days)))
            for days in sorted(set(days_of.values())) if days < longest]


def _longest(policy: Policy) -> int:
    return max(min(rule.retention_days, policy.retention_ceiling_days) for rule in policy.fields.values())


def _day_start(day: str) -> datetime:
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)


def _hour_key(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:00Z")


def run_retention(storage: Storage, audit: AuditTrail, *, now: datetime | None = None, dry_run: bool = False,
                  actor: str = "system", stop: Callable[[], bool] = lambda: False,
                  on_project: Callable[[str, int, int], None] | None = None) -> RetentionResult:
    """Apply every project's retention once (see the module docstring).

    Args:
        storage: the open :class:`crashveil.server.storage.store.Storage`.
        audit: where the run is recorded.
        now: the clock reading to apply (default: the storage's clock).
        dry_run: count what would go, change nothing.
        actor: recorded as the actor of the audit entry.
        stop: asked before each project; when true, the run stops there (every project done
            so far is committed), finishes as usual and is recorded with ``interrupted``.
        on_project: called with (project id, its index from 1, the number of projects) as each starts.
    """
    now = now or storage._clock()
    result = RetentionResult(started_at=now.isoformat(), dry_run=dry_run)
    _all_projects(storage, result, now, dry_run, stop, on_project)
    engine = storage.engine
    with (read_tx(engine) if dry_run else write_tx(engine)) as conn:
        result.login_failures_deleted, result.sessions_deleted = _prune_logins(conn, now, dry_run)
        result.tombstones_deleted = tombstones.prune(conn, now=now, replay_window_s=storage.settings.replay_window_s,
                                                     dry_run=dry_run)
    if dry_run:
        return result
    keep = storage.settings.kek_retired_keep_days
    if result.shredded or storage.kek_rotation_pending():
        _rotate_kek(storage, result, now, keep)
    if is_sqlite(engine):
        with engine.connect() as conn:
            busy, log, done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            conn.commit()
        result.wal_checkpoint = "truncated" if not busy else f"busy ({done}/{log} frames)"
    summary_json = canonical_json(result.to_dict(), ensure_ascii=True).decode("ascii")
    with write_tx(engine) as conn:
        conn.execute(retention_runs.insert().values(started_at=now, finished_at=now, summary=summary_json))
        audit.record("retention.run", actor=actor, detail={
            "reports_deleted": sum(p.reports_deleted for p in result.projects),
            "details_rewritten": sum(p.details_rewritten for p in result.projects),
            "keys_destroyed": [k for p in result.projects for k in p.keys_destroyed],
            "stripped": [f"{p.project_id}:{s}" for p in result.projects for s in p.stripped],
            "rollups_deleted": sum(p.rollups_deleted for p in result.projects),
            "kek_rotated": result.kek_rotated,
            **({"kek_waiting_for": result.kek_waiting_for} if result.kek_waiting_for else {}),
            "keks_destroyed": result.keks_destroyed,
            **({"interrupted": True} if result.interrupted else {}),
        }, conn=conn)
    audit.checkpoint()
    return result


def _rotate_kek(storage: Storage, result: RetentionResult, now: datetime, keep: int) -> None:
    """After shredding: a KEK no earlier backup holds (or the one an earlier run made and could
    not yet use because a host lacked it). A live host without it defers the rotation to the
    next run rather than failing this one: the shredding is done, only backups wait."""
    pending = storage.kek_rotation_pending()
    try:
        rotation = storage.rotate_kek(now=now, resume=pending)
    except KekRolloutError as exc:
        result.kek_waiting_for = list(exc.lagging)
        logger.warning("retention: the new KEK %s has not reached host(s) %s; distribute the KEK file, the next run "
                       "finishes the rotation", exc.kek_id, ", ".join(exc.lagging))
        return
    result.kek_rotated = rotation.new_kek_id
    destroyed = list(rotation.destroyed_keks)
    if keep == 0:
        # rotate_kek purges keys retired strictly before now - keep; with no restore
        # window the KEK retired this instant goes too.
        destroyed += storage.keys.provider.purge(retired_before=now + timedelta(microseconds=1))
    result.keks_destroyed = destroyed
    result.backups_beyond_use_after_days = keep


def _all_projects(storage: Storage, result: RetentionResult, now: datetime, dry_run: bool, stop: Callable[[], bool],
                  on_project: Callable[[str, int, int], None] | None) -> None:
    """Each project in turn (each commits its own steps); ``stop`` is asked before each."""
    summaries = storage.list_projects()
    for index, summary in enumerate(summaries, 1):
        if stop():
            result.interrupted = True
            return
        if on_project is not None:
            on_project(summary.id, index, len(summaries))
        record = storage.project(summary.id, fresh=True)
        if record is not None:
            result.projects.append(_project(storage, record.id, record.policy, now, dry_run))


def _count(conn: Connection, query: Any) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one())


def _project(storage: Storage, project_id: str, policy: Policy, now: datetime, dry_run: bool) -> ProjectRetention:
    """One project's retention, in this order: expired reports, shorter field classes, then
    (one transaction) day keys and roll-ups."""
    engine = storage.engine
    longest = _longest(policy)
    out = ProjectRetention(project_id, policy.version, longest)
    cutoff = now - timedelta(days=longest)
    _expire_reports(engine, out, cutoff, dry_run)
    _strip_classes(storage, out, policy, cutoff, now, dry_run)
    with (read_tx(engine) if dry_run else write_tx(engine)) as conn:
        _destroy_day_keys(conn, out, longest, now, dry_run)
        _expire_rollups(conn, out, policy, now, dry_run)
        out.feedback_deleted = expire_feedback(conn, project_id, today=now.date(), dry_run=dry_run, retention_days=(
            policy.feedback.retention_days if policy.feedback is not None else 0))
    return out


def _expire_reports(engine: sa.Engine, out: ProjectRetention, cutoff: datetime, dry_run: bool) -> None:
    """1. Whole reports past the longest retention (first: no point re-encrypting them)."""
    expired = reports.c.project_id == out.project_id, reports.c.received_at <= cutoff
    with (read_tx(engine) if dry_run else write_tx(engine)) as conn:
        if dry_run:
            out.reports_deleted = _count(conn, sa.select(reports.c.id).where(*expired))
        else:
            out.reports_deleted = conn.execute(reports.delete().where(*expired)).rowcount


def _strip_classes(storage: Storage, out: ProjectRetention, policy: Policy, cutoff: datetime, now: datetime,
                   dry_run: bool) -> None:
    """3. The shorter retention classes: each day past a class's retention loses its fields."""
    engine, project_id = storage.engine, out.project_id
    for days, fields in retention_classes(policy):
        with read_tx(engine) as conn:
            done = set(conn.execute(sa.select(retention_stripped.c.day).where(
                retention_stripped.c.project_id == project_id, retention_stripped.c.retention_days == days)).scalars())
            candidates = sorted(set(conn.execute(sa.select(reports.c.day).where(
                reports.c.project_id == project_id, reports.c.detail.is_not(None),
                reports.c.received_at > cutoff).distinct()).scalars()))
        for day in candidates:
            if day in done or _day_start(day) + timedelta(days=days) > now:
                continue
            out.stripped.append(f"{day}:{days}:{','.join(fields)}")
            if dry_run:
                with read_tx(engine) as conn:
                    out.details_rewritten += _count(conn, sa.select(reports.c.id).where(
                        reports.c.project_id == project_id, reports.c.day == day, reports.c.detail.is_not(None),
                        reports.c.received_at > cutoff))
                continue
            out.details_rewritten += _strip_day(storage, project_id, day, days, fields, now)


def _destroy_day_keys(conn: Connection, out: ProjectRetention, longest: int, now: datetime, dry_run: bool) -> None:
    """2. Day keys whose whole day has expired (crypto-shredding), and any straggler under them."""
    rows = conn.execute(sa.select(data_keys.c.key_id, data_keys.c.day).where(
        data_keys.c.project_id == out.project_id, data_keys.c.wrapped_dek.is_not(None))).all()
    gone = sorted(r.key_id for r in rows if _day_start(r.day) + timedelta(days=1 + longest) <= now)
    out.keys_destroyed = gone
    if gone and not dry_run:
        # Any straggler row under such a key is expired by definition.
        conn.execute(reports.delete().where(reports.c.data_key_id.in_(gone)))
        conn.execute(data_keys.update().where(data_keys.c.key_id.in_(gone)).values(
            wrapped_dek=None, kek_id=None, destroyed_at=now))


def _expire_rollups(conn: Connection, out: ProjectRetention, policy: Policy, now: datetime, dry_run: bool) -> None:
    """4. Roll-ups and redaction counters past ``rollup_retention_days``, and groups left empty."""
    project_id = out.project_id
    hour_cutoff = _hour_key(now - timedelta(days=policy.aggregation.rollup_retention_days))
    rollup_rows = sa.select(group_rollups.c.group_id).where(
        group_rollups.c.project_id == project_id, group_rollups.c.hour < hour_cutoff)
    counter_rows = sa.select(redaction_counters.c.hits).where(
        redaction_counters.c.project_id == project_id, redaction_counters.c.hour < hour_cutoff)
    if dry_run:
        out.rollups_deleted, out.counters_deleted = _count(conn, rollup_rows), _count(conn, counter_rows)
        out.daily_rollups_deleted = sum(_count(conn, sa.select(table.c.project_id).where(*where))
                                        for table, where in _daily_expired(project_id, hour_cutoff[:10]))
        return
    out.rollups_deleted = conn.execute(group_rollups.delete().where(
        group_rollups.c.project_id == project_id, group_rollups.c.hour < hour_cutoff)).rowcount
    out.counters_deleted = conn.execute(redaction_counters.delete().where(
        redaction_counters.c.project_id == project_id, redaction_counters.c.hour < hour_cutoff)).rowcount
    out.daily_rollups_deleted = _prune_daily(conn, project_id, hour_cutoff[:10])
    # The adoption counts and the day's de-duplication set (none left once pings stop: an
    # app that no longer sends them, or a policy that dropped [adoption]).
    out.daily_rollups_deleted += prune_adoption(conn, project_id, today=now.date(), retention_days=(
        policy.adoption.retention_days if policy.adoption is not None else 0))
    triage.expire_title_messages(conn, project_id, policy, now)
    triage.expire_source_lines(conn, project_id, policy, now)
    empty = sa.select(crash_groups.c.id).where(
        crash_groups.c.project_id == project_id,
        crash_groups.c.last_seen < now - timedelta(days=policy.aggregation.rollup_retention_days),
        ~sa.exists().where(reports.c.group_id == crash_groups.c.id),
        ~sa.exists().where(group_rollups.c.group_id == crash_groups.c.id),
        # A merged group routes its fingerprint to its primary while that exists (0014).
        ~sa.exists().where(_primary.c.id == crash_groups.c.merged_into))
    ids = list(conn.execute(empty).scalars())
    if ids:
        out.groups_deleted = conn.execute(crash_groups.delete().where(crash_groups.c.id.in_(ids))).rowcount


_primary = crash_groups.alias("primary_group")


def _daily_expired(project_id: str, cutoff_day: str) -> list[tuple[sa.Table, list[Any]]]:
    """The daily roll-up rows (migration 0005) past ``rollup_retention_days``: a day goes as
    soon as its first second has (so nothing outlives the retention, as for field classes),
    and a release or OS family leaves the filter choices when last seen on such a day."""
    return [
        (group_daily_rollups, [group_daily_rollups.c.project_id == project_id,
                               group_daily_rollups.c.day <= cutoff_day]),
        (group_day_installs, [group_day_installs.c.project_id == project_id,
                              group_day_installs.c.day <= cutoff_day]),
        (project_filter_values, [project_filter_values.c.project_id == project_id,
                                 project_filter_values.c.last_seen <= cutoff_day]),
        (group_day_facets, [group_day_facets.c.project_id == project_id, group_day_facets.c.day <= cutoff_day]),
    ]


def _prune_daily(conn: Connection, project_id: str, cutoff_day: str) -> int:
    return sum(conn.execute(table.delete().where(*where)).rowcount
               for table, where in _daily_expired(project_id, cutoff_day))


def _strip_day(storage: Storage, project_id: str, day: str, days: int, fields: tuple[str, ...], now: datetime) -> int:
    """Re-encrypt one day's details without ``fields`` under a fresh day key; returns the count."""
    keyring = storage.keys
    key_id = keyring.data_key_id(project_id, day)
    rewritten = 0
    with write_tx(storage.engine) as conn:
        query = sa.select(data_keys).where(data_keys.c.key_id == key_id)
        if not is_sqlite(conn):
            query = query.with_for_update()
        key_row = conn.execute(query).first()
        if key_row is not None and key_row.wrapped_dek is not None:
            old = keyring.data_key_for_read(conn, key_id)
            fresh = new_data_key()
            rows = conn.execute(sa.select(reports.c.id, reports.c.report_id, reports.c.detail).where(
                reports.c.project_id == project_id, reports.c.day == day, reports.c.data_key_id == key_id,
                reports.c.detail.is_not(None))).all()
            for row in rows:
                aad = detail_aad(project_id, row.report_id, day)
                # ``old`` is set: the key row read above still has its wrapped key.
                data = json.loads(decrypt_detail(cast(bytes, old), row.detail, aad=aad))
                for name in fields:
                    data.get("report", {}).pop(name, None)
                plain = canonical_json(data)
                conn.execute(reports.update().where(reports.c.id == row.id).values(
                    detail=encrypt_detail(fresh, plain, aad=aad)))
                rewritten += 1
            kek_id, wrapped = keyring.provider.wrap(fresh, key_id=key_id)
            conn.execute(data_keys.update().where(data_keys.c.key_id == key_id).values(
                kek_id=kek_id, wrapped_dek=wrapped))
        conn.execute(retention_stripped.insert().values(project_id=project_id, day=day, retention_days=days,
                                                        stripped_at=now))
    return rewritten


def _prune_logins(conn: Connection, now: datetime, dry_run: bool) -> tuple[int, int]:
    old_failures = login_failures.c.at < now - timedelta(days=1)
    old_sessions = sa.or_(sessions.c.ended_at < now - timedelta(days=1),
                          sessions.c.created_at < now - timedelta(days=2))
    if dry_run:
        return (_count(conn, sa.select(login_failures.c.id).where(old_failures)),
                _count(conn, sa.select(sessions.c.id_sha256).where(old_sessions)))
    return (conn.execute(login_failures.delete().where(old_failures)).rowcount,
            conn.execute(sessions.delete().where(old_sessions)).rowcount)
