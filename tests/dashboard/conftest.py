"""Fixtures of the dashboard tests: a migrated SQLite database and a small data seeder."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _migrated import migrated_sqlite
from sqlalchemy.engine import Engine

from crashveil.server.db.engine import create_engine
from crashveil.server.db.tables import crash_groups, group_rollups, projects, reports
from crashveil.server.storage.rollups import daily_entries, write_daily

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database in ``tmp_path``."""
    eng = create_engine(migrated_sqlite(tmp_path / "dash.db"))
    yield eng
    eng.dispose()


def _hour(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:00Z")


@dataclass
class Seeder:
    """Writes projects, groups, reports and their roll-ups straight into the tables."""

    engine: Engine
    groups: dict[str, int] = field(default_factory=dict)

    def project(self, project_id: str, *, public: bool = False) -> None:
        with self.engine.begin() as conn:
            conn.execute(projects.insert().values(id=project_id, created_at=NOW - timedelta(days=90),
                                                  public_summary=public))

    def group(self, project_id: str, fingerprint: str, crash_type: str = "ValueError", *,
              first_release: str = "1.0.0") -> int:
        with self.engine.begin() as conn:
            gid = conn.execute(crash_groups.insert().values(
                project_id=project_id, fingerprint=fingerprint, crash_type=crash_type,
                first_seen=NOW - timedelta(days=30), last_seen=NOW, first_release=first_release,
                last_release=first_release, status="open", total_count=0)).inserted_primary_key[0]
        self.groups[fingerprint] = int(gid)
        return int(gid)

    def reports(self, project_id: str, group_id: int, *, when: datetime, count: int = 1,
                installs: list[str] | None = None, release: str = "1.0.0", os_family: str = "linux") -> None:
        """``count`` reports in ``when``'s hour, from ``installs`` in turn (or fresh ones)."""
        hour = _hour(when)
        rows = []
        for index in range(count):
            install = installs[index % len(installs)] if installs else uuid.uuid4().hex
            rows.append(dict(project_id=project_id, report_id=str(uuid.uuid4()), receipt=uuid.uuid4().hex,
                             group_id=group_id, fingerprint="f" * 16, release=release, os_family=os_family,
                             hour=hour, received_hour=hour, day=hour[:10], level="crash", origin="crashveil-sdk",
                             install_id=install, policy_digest="sha256:" + "0" * 64, received_at=when,
                             data_key_id=None, detail=None))
        with self.engine.begin() as conn:
            conn.execute(reports.insert(), rows)
            existing = conn.execute(sa.select(group_rollups.c.count).where(
                group_rollups.c.group_id == group_id, group_rollups.c.hour == hour,
                group_rollups.c.release == release, group_rollups.c.os_family == os_family)).scalar()
            if existing is None:
                conn.execute(group_rollups.insert().values(group_id=group_id, hour=hour, release=release,
                                                           os_family=os_family, project_id=project_id, count=count))
            else:
                conn.execute(group_rollups.update().where(
                    group_rollups.c.group_id == group_id, group_rollups.c.hour == hour,
                    group_rollups.c.release == release, group_rollups.c.os_family == os_family)
                    .values(count=existing + count))
            conn.execute(crash_groups.update().where(crash_groups.c.id == group_id)
                         .values(total_count=crash_groups.c.total_count + count))
            write_daily(conn, *daily_entries([(project_id, group_id, hour, release, os_family, count, 0,
                                               [r["install_id"] for r in rows])]))


@pytest.fixture
def seed(engine: Engine) -> Seeder:
    """A seeder over the test database."""
    return Seeder(engine)


# --- a whole dashboard over real storage, access and audit ---------------------------------------

XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
JS_URL = "javascript:window.__pwned=3"


@dataclass
class Dash:
    """A dashboard app and what it runs on."""

    app: Any
    storage: Any
    access: Any
    audit: Any
    clock: list[datetime]
    group_ids: dict[str, int]
    report_ids: dict[str, str]


def _report(crash_type: str, function: str, *, release: str, os_family: str, install: str, message: str | None,
            hour: datetime) -> Any:
    from crashveil.policy import compute_fingerprint
    from crashveil.wire import Environment, Frame, Report, Stack

    frames = (Frame("app/main.py", "main", 10, True), Frame(f"app/{function}.py", function, 42, True))
    return Report(schema_version=1, policy_digest=_default_digest(), consent_level="diagnostic",
                  report_id=str(uuid.uuid4()), crash_type=crash_type,
                  fingerprint=compute_fingerprint(crash_type, frames), stack=Stack(frames), release=release,
                  install_id=install, message=message, occurred_hour=_hour(hour),
                  environment=Environment(os_family, "12", "cpython", "3.11", "x86_64"))


def _dash_settings(folder: Path) -> Any:
    from crashveil.server.settings import Settings

    # The pages are checked against what single installations sent: the quasi-identifier
    # check (which coarsens a combination fewer than k installations share) is tested in
    # tests/server/linkability, and kept out of the way here.
    return Settings(server_dir=folder, database_url=f"sqlite:///{folder / 'crashveil.db'}",
                    sealing_suite="x25519", project_cache_s=0.0, quasi_identifier_check=False)


def _open_dash(folder: Path, clock: list[datetime]) -> tuple[Any, Any, Any]:
    """Storage, access store and audit trail over the dashboard directory ``folder``."""
    from argon2 import PasswordHasher

    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.storage.store import Storage

    storage = Storage.open(_dash_settings(folder), clock=lambda: clock[0])
    audit = AuditTrail.for_server_dir(storage.engine, folder, now=lambda: clock[0])
    access = AccessStore(storage.engine, audit, now=lambda: clock[0],
                         hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    return storage, access, audit


@dataclass(frozen=True)
class _DashSeed:
    """A seeded dashboard directory (database, KEK, audit key) and the ids the tests look up."""

    folder: Path
    group_ids: dict[str, int]
    report_ids: dict[str, str]


@functools.cache
def _dash_seed() -> _DashSeed:
    """Seeded once per test process (about 400 reports stored one by one); each test gets a copy."""
    from crashveil.server.keys.kek import FileKeyProvider

    folder = Path(tempfile.mkdtemp(prefix="crashveil-dash-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    migrated_sqlite(folder / "crashveil.db")
    FileKeyProvider.create(_dash_settings(folder).kek_path, now=NOW - timedelta(days=40))
    storage, access, _ = _open_dash(folder, [NOW])
    try:
        group_ids, report_ids = _seed_dash(storage, access)
    finally:
        storage.close()
    return _DashSeed(folder, group_ids, report_ids)


def _seed_dash(storage: Any, access: Any) -> tuple[dict[str, int], dict[str, str]]:
    """Projects demo (public) and other, users dev/viewer/officer/outsider, three busy groups,
    one below k, and one report in project other."""
    storage.create_project("demo", public_summary=True, now=NOW - timedelta(days=40))
    storage.create_project("other", now=NOW - timedelta(days=40))
    for name, project, role in (("dev", "demo", "developer"), ("viewer", "demo", "viewer"),
                                ("officer", "demo", "privacy-officer"), ("outsider", "other", "developer")):
        access.add_user(name, f"{name}-password-123", actor="cli")
        access.grant(name, project, role, actor="cli")
    group_ids: dict[str, int] = {}
    report_ids: dict[str, str] = {}
    installs = [f"{i:032x}" for i in range(40)]
    specs = [("KeyError", "load", "1.0.0", "linux", None),
             (XSS, "render", "1.1.0", "windows", f"{XSS} {JS_URL}"),
             ("TimeoutError", "fetch", "1.1.0", "macos", "timed out")]
    for crash_type, function, release, os_family, message in specs:
        for back in range(1, 48):
            moment = NOW - timedelta(hours=back)
            n = 1 + (back % 3)
            for j in range(n):
                report = _report(crash_type, function, release=release, os_family=os_family,
                                 install=installs[(back + j) % len(installs)], message=message, hour=moment)
                storage.store_report("demo", report, origin="crashveil-sdk", received_at=moment,
                                     redaction_hits={}, dropped_fields=())
        # a spike in the last hour, from the newest release
        for j in range(40):
            report = _report(crash_type, function, release="1.2.0", os_family=os_family,
                             install=installs[j % len(installs)], message=message, hour=NOW)
            storage.store_report("demo", report, origin="crashveil-sdk", received_at=NOW,
                                 redaction_hits={}, dropped_fields=())
        report_ids[function] = report.report_id
        with storage.engine.connect() as conn:
            group_ids[function] = conn.execute(sa.select(crash_groups.c.id).where(
                crash_groups.c.fingerprint == report.fingerprint)).scalar_one()
    for install in installs[:2]:  # a group seen by two installations only: below k
        rare = _report("RareError", "rare", release="0.9.0", os_family="linux", install=install, message=None,
                       hour=NOW - timedelta(hours=2))
        storage.store_report("demo", rare, origin="crashveil-sdk", received_at=NOW - timedelta(hours=2),
                             redaction_hits={}, dropped_fields=())
    other = _report("OtherError", "secret", release="9.9", os_family="linux", install=installs[0], message="x",
                    hour=NOW)
    storage.store_report("other", other, origin="crashveil-sdk", received_at=NOW, redaction_hits={},
                         dropped_fields=())
    report_ids["other"] = other.report_id
    with storage.engine.connect() as conn:
        group_ids["other"] = conn.execute(sa.select(crash_groups.c.id).where(
            crash_groups.c.fingerprint == other.fingerprint)).scalar_one()
    return group_ids, report_ids


@pytest.fixture
def dash(tmp_path: Path) -> Iterator[Dash]:
    """A dashboard on SQLite: projects demo (public) and other, users dev/viewer/officer/outsider
    (a copy of the directory seeded once per test process)."""
    from starlette.applications import Starlette

    from crashveil.server.dashboard import dashboard_routes
    from crashveil.server.dashboard.public import public_routes

    seed = _dash_seed()
    shutil.copytree(seed.folder, tmp_path, dirs_exist_ok=True)
    clock = [NOW]
    storage, access, audit = _open_dash(tmp_path, clock)
    routes = dashboard_routes(storage, access=access, audit=audit, secret=b"k" * 32, secure_cookies=False,
                              now=lambda: clock[0])
    routes += public_routes(storage, now=lambda: clock[0])
    app = Starlette(routes=routes)
    yield Dash(app, storage, access, audit, clock, dict(seed.group_ids), dict(seed.report_ids))
    storage.close()


@functools.cache
def _default_digest() -> str:
    """The shipped policy's digest, computed once (a digest costs milliseconds and fixtures
    build hundreds of reports)."""
    from crashveil.policy import default_policy, policy_digest

    return policy_digest(default_policy())
