"""Fixtures of the releases tests: the server tests' databases (SQLite file, fresh PostgreSQL),
settings and storage, shared rather than copied, and a sealer of adoption pings."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from _loading import load

_server = load("crashveil_tests_server_conftest", Path(__file__).parent.parent / "server" / "conftest.py")
postgresql_proc = _server.postgresql_proc
pg_template = _server.pg_template
pg_url = _server.pg_url
database_url = _server.database_url
settings = _server.settings
storage = _server.storage
make_report = _server.make_report
build_report = _server.build_report
NOW = _server.NOW


@pytest.fixture
def seal(storage: Any) -> Callable[[bytes], bytes]:
    """Seal a payload to project ``demo``'s key, as the SDK does."""
    from crashveil.sdk.delivery.seal import seal_report

    key = storage.project("demo").keypairs[0].public_key()
    return lambda payload: seal_report(payload, key, project_id="demo", schema_version=1)


ORIGIN = "http://testserver"


@pytest.fixture
def dashboard(settings: Any, storage: Any) -> Any:
    """The dashboard app over ``storage`` (SQLite or PostgreSQL): users dev (developer) and viewer
    on ``demo``, outsider (developer) on ``other``; the clock at ``NOW``."""
    from argon2 import PasswordHasher
    from starlette.applications import Starlette

    from crashveil.server.dashboard import dashboard_routes
    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit import AuditTrail

    storage.create_project("other", now=NOW)
    audit = AuditTrail.for_server_dir(storage.engine, settings.server_dir, now=lambda: NOW)
    access = AccessStore(storage.engine, audit, now=lambda: NOW,
                         hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name, project, role in (("dev", "demo", "developer"), ("viewer", "demo", "viewer"),
                                ("outsider", "other", "developer")):
        access.add_user(name, f"{name}-password-123", actor="cli")
        access.grant(name, project, role, actor="cli")
    routes = dashboard_routes(storage, access=access, audit=audit, secret=b"k" * 32, secure_cookies=False,
                              now=lambda: NOW, cache_s=0.0)
    return Starlette(routes=routes)


def login(client: Any, name: str) -> None:
    """Sign ``name`` in on ``client`` (a Starlette test client of :func:`dashboard`)."""
    import re

    page = client.get("/dashboard/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
    answer = client.post("/dashboard/login", data={"nonce": nonce, "name": name, "password": f"{name}-password-123"},
                         headers={"Origin": ORIGIN}, follow_redirects=False)
    assert 303 == answer.status_code


def seed_releases(storage: Any) -> dict[str, int]:
    """Three releases with crashes and one with adoption only (tests/releases/test_release_queries.py
    says what each should show); the group ids by crash type."""
    import sqlalchemy as sa

    from crashveil.server.db import engine as db
    from crashveil.server.db.adoption_tables import seen_digest
    from crashveil.server.db.tables import crash_groups
    from crashveil.server.ingest.adoption import record_ping

    def store(crash_type: str, function: str, release: str, installs: range, back: timedelta) -> None:
        for i in installs:
            report = build_report(crash_type=crash_type, function=function, release=release, install_id=f"{i:032x}")
            report = dataclasses.replace(report, occurred_hour=(NOW - back).strftime("%Y-%m-%dT%H:00Z"))
            storage.store_report("demo", report, origin="crashveil-sdk", received_at=NOW - back, redaction_hits={},
                                 dropped_fields=())

    store("KeyError", "load", "1.0", range(10), timedelta(days=3))
    store("KeyError", "load", "1.1", range(6), timedelta(days=2))
    store("TypeError", "parse", "1.1", range(10, 13), timedelta(days=2))
    with storage.engine.connect() as conn:
        ids = dict(conn.execute(sa.select(crash_groups.c.crash_type, crash_groups.c.id)).all())
    storage.set_group_status("demo", ids["KeyError"], "resolved", release="1.1", now=NOW - timedelta(days=1))
    store("KeyError", "load", "2.0", range(1), timedelta(hours=1))
    store("OSError", "save", "2.0", range(20, 30), timedelta(hours=1))
    with storage.engine.connect() as conn:
        ids = dict(conn.execute(sa.select(crash_groups.c.crash_type, crash_groups.c.id)).all())
    today, yesterday = NOW.date(), (NOW - timedelta(days=1)).date().isoformat()
    pings = [("2.0", today.isoformat(), i) for i in range(50)] + [("1.1", yesterday, i) for i in range(3)]
    pings += [("2.1", today.isoformat(), i) for i in range(100, 107)]
    with db.write_tx(storage.engine) as conn:
        for release, day, i in pings:
            record_ping(conn, "demo", release, day, seen_digest("demo", day, f"{i:032x}"), today=today,
                        retention_days=90)
    return ids
