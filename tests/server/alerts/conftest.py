"""Alert tests: a SQLite server directory whose project ``demo`` forwards to two
destinations (``chat``: crash type, release and the title; ``hook``: the crash type only),
copied from one migrated database per session (migrating costs more than the tests)."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crashveil.policy import default_policy_path
from crashveil.server.alerts.notification import DeliveryResult, Notification
from crashveil.server.alerts.tables import alert_outbox
from crashveil.server.db import engine as db
from crashveil.server.keys.kek import FileKeyProvider
from crashveil.server.storage.store import Storage

from ..conftest import NOW, build_report, make_settings

FORWARDING = '''
[forwarding.chat]
kind = "slack"
purpose = "Tell the on-call developers that a crash appeared."
fields = ["crash_type", "release"]
title = true
review = "reviews/2026-12-07-chat.md"

[forwarding.hook]
kind = "webhook"
purpose = "Open a ticket in the team's tracker."
fields = ["crash_type"]
review = "reviews/2026-12-07-hook.md"
'''
POLICY_TOML = default_policy_path().read_text(encoding="utf-8") + FORWARDING


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("alerts-db") / "crashveil.db"
    engine = db.create_engine(f"sqlite:///{path}")
    db.migrate(engine)
    engine.dispose()
    return path


@pytest.fixture
def store(tmp_path: Path, migrated_db: Path) -> Iterator[Storage]:
    shutil.copy(migrated_db, tmp_path / "crashveil.db")
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'crashveil.db'}", mass_failure_per_hour=10_000,
                             public_url="https://crash.example")
    FileKeyProvider.create(settings.kek_path, now=NOW)
    storage = Storage.open(settings, clock=lambda: NOW)
    storage.create_project("demo", policy_toml=POLICY_TOML, now=NOW)
    yield storage
    storage.close()


def store_crash(storage: Storage, *, function: str = "load", release: str = "1.0.0", at: datetime = NOW,
                message: str | None = None, install_id: str | None = "ab" * 16, crash_type: str = "KeyError") -> int:
    """One report, received at ``at``; its group id."""
    report = dataclasses.replace(build_report(function=function, release=release, message=message,
                                              install_id=install_id, crash_type=crash_type),
                                 occurred_hour=at.strftime("%Y-%m-%dT%H:00Z"))
    return storage.store_report("demo", report, origin="crashveil-sdk", received_at=at, redaction_hits={},
                                dropped_fields=()).group_id


def outbox(storage: Storage) -> list[Any]:
    with storage.engine.connect() as conn:
        return conn.execute(sa.select(alert_outbox).order_by(alert_outbox.c.id)).all()


@dataclasses.dataclass
class Recorder:
    """A destination that keeps what it is handed (``results``: answers in turn, then ok)."""

    name: str
    kind: str = "webhook"
    results: list[DeliveryResult] = dataclasses.field(default_factory=list)
    received: list[Notification] = dataclasses.field(default_factory=list)

    def deliver(self, notification: Notification) -> DeliveryResult:
        self.received.append(notification)
        return self.results.pop(0) if self.results else DeliveryResult(True, 200, "ok")


@dataclasses.dataclass
class Directory:
    destinations: list[Any]

    def for_project(self, project_id: str) -> list[Any]:
        return self.destinations if project_id == "demo" else []


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
