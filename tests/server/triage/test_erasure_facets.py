"""Erasure and the environment and platform facets (``storage.erasure_groups``): a facet
only the erased installation's reports showed leaves the group, one that a report left
shows stays, on SQLite and PostgreSQL. Reports stored before migration 0015 (no
environment or platform kept with them) keep the group's facets, since what they showed is
unknown. Reports go through ``Storage.store_report``; the erasure is
``Storage.process_deletion_request``.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from crashveil.server.db.tables import crash_groups, reports
from crashveil.server.db.triage_tables import group_facets
from crashveil.server.storage.store import Storage

from ..conftest import NOW

ERASED = "e" * 32
KEPT = "a" * 32


def _store(storage: Storage, make_report: Callable[..., Any], install: str, *, deployment: str | None,
           platform: str | None, back_hours: int) -> None:
    report = dataclasses.replace(make_report(install_id=install, report_id=str(uuid.uuid4())),
                                 deployment=deployment, platform=platform)
    storage.store_report("demo", report, origin="crashveil-sdk", received_at=NOW - timedelta(hours=back_hours),
                         redaction_hits={}, dropped_fields=())


def _facets(storage: Storage, kinds: tuple[str, ...] = ("environment", "platform")) -> set[tuple[str, str]]:
    with storage.engine.connect() as conn:
        return {(r.kind, r.value) for r in conn.execute(sa.select(group_facets).where(group_facets.c.kind.in_(kinds)))}


def _erase(storage: Storage) -> None:
    storage.process_deletion_request("demo", str(uuid.uuid4()), [ERASED], now=NOW)


def test_erased_installs_environment_and_platform_leave_the_group(storage: Storage,
                                                                  make_report: Callable[..., Any]) -> None:
    _store(storage, make_report, KEPT, deployment="production", platform="python", back_hours=5)
    _store(storage, make_report, ERASED, deployment="erased-env", platform="erased-platform", back_hours=3)
    _store(storage, make_report, ERASED, deployment="production", platform=None, back_hours=2)
    assert {("environment", "production"), ("environment", "erased-env"), ("platform", "python"),
            ("platform", "erased-platform")} == _facets(storage)

    _erase(storage)

    assert {("environment", "production"), ("platform", "python")} == _facets(storage)


def test_a_facet_a_kept_report_shows_stays(storage: Storage, make_report: Callable[..., Any]) -> None:
    """Both installations reported from staging: the erasure leaves it; the kept report
    gave no deployment, so the erased one's "" is not the only one either."""
    _store(storage, make_report, KEPT, deployment="staging", platform="python", back_hours=5)
    _store(storage, make_report, KEPT, deployment=None, platform="python", back_hours=4)
    _store(storage, make_report, ERASED, deployment="staging", platform="python", back_hours=3)
    _store(storage, make_report, ERASED, deployment=None, platform="python", back_hours=3)
    _erase(storage)
    assert {("environment", "staging"), ("environment", ""), ("platform", "python")} == _facets(storage)


def test_reports_from_before_the_migration_keep_the_facets(storage: Storage, make_report: Callable[..., Any]) -> None:
    """A kept report stored before 0015 (NULL environment and platform) may have shown the
    erased report's values: the group keeps them (release and OS facets still follow)."""
    _store(storage, make_report, KEPT, deployment="production", platform="python", back_hours=5)
    _store(storage, make_report, ERASED, deployment="erased-env", platform="erased-platform", back_hours=3)
    with storage.engine.begin() as conn:
        conn.execute(reports.update().where(reports.c.install_id == KEPT).values(deployment=None, platform=None))
    _erase(storage)
    assert {("environment", "production"), ("environment", "erased-env"), ("platform", "python"),
            ("platform", "erased-platform")} == _facets(storage)


def test_a_group_left_without_reports_keeps_no_facet(storage: Storage, make_report: Callable[..., Any]) -> None:
    _store(storage, make_report, ERASED, deployment="erased-env", platform="erased-platform", back_hours=3)
    _erase(storage)
    with storage.engine.connect() as conn:
        assert 1 == conn.execute(sa.select(sa.func.count()).select_from(crash_groups)).scalar()
    assert set() == _facets(storage, ("environment", "platform", "release", "os"))
