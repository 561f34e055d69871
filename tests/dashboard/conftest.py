"""Fixtures of the dashboard tests: a migrated SQLite database and a small data seeder."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashveil.server.db.engine import create_engine, migrate
from crashveil.server.db.tables import crash_groups, group_rollups, projects, reports

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database in ``tmp_path``."""
    eng = create_engine(f"sqlite:///{tmp_path / 'dash.db'}")
    migrate(eng)
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


@pytest.fixture
def seed(engine: Engine) -> Seeder:
    """A seeder over the test database."""
    return Seeder(engine)
