"""Fixtures of the governance tests: a migrated database (SQLite file, or PostgreSQL when the
storage fixture provides one), a fixed clock, an audit trail in a temporary server dir."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from crashveil.server.audit import AuditTrail
from crashveil.server.db.engine import create_engine, write_tx
from crashveil.server.db.governance_tables import create_governance_tables


class Clock:
    """A settable clock for tests (aware UTC datetimes)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now = self.now + timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc))


@pytest.fixture
def gov_engine(tmp_path: Path) -> sa.Engine:
    engine = create_engine(f"sqlite:///{tmp_path / 'gov.db'}")
    with write_tx(engine) as conn:
        create_governance_tables(conn)
    yield engine
    engine.dispose()


@pytest.fixture
def server_dir(tmp_path: Path) -> Path:
    path = tmp_path / "server"
    path.mkdir()
    return path


@pytest.fixture
def trail(gov_engine: sa.Engine, server_dir: Path, clock: Clock) -> AuditTrail:
    return AuditTrail.for_server_dir(gov_engine, server_dir, now=clock)
