"""Upgrading a database the previous release made (schema 0011, its rows as that release
wrote them: release_dir.py) with ``crashveil server upgrade``: every report, group, user and
audit entry survives, and the upgraded server takes reports and serves the dashboard.

On SQLite and on a real PostgreSQL (a fresh, empty database: the schema comes from the
migrations, not from the test template).
"""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from _loading import load

from crashveil.server.db import engine as db
from crashveil.server.governance.access import AccessStore
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.settings import Settings
from crashveil.server.storage.store import Storage

pytest.importorskip("uvicorn")

_TESTS = Path(__file__).resolve().parents[2]




servers = load("crashveil_tests_servers", _TESTS / "_servers.py")
release_dir = load("crashveil_tests_release_dir", Path(__file__).resolve().parent / "release_dir.py")


@pytest.fixture
def empty_pg_url(pg_template: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (no schema)."""
    name = f"u_{uuid.uuid4().hex[:12]}"
    admin = db.create_engine(f"{pg_template}/postgres").execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield f"{pg_template}/{name}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'srv' / 'crashveil.db'}"
    return str(request.getfixturevalue("empty_pg_url"))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crashveil", *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_release_database_upgrades_and_serves(tmp_path: Path, empty_database: str) -> None:
    """0011 -> head by `server upgrade --yes`: reports (details decrypt), groups, users (log in),
    the audit chain (verifies, ends with the upgrade) all survive; then the real server stores a
    new report into the release's group and the release's user reads the dashboard."""
    made = release_dir.build(tmp_path / "srv", empty_database)
    fixture = made.fixture
    assert "0011" == fixture["revision"]
    where = ("--server-dir", str(made.path))

    plan = cli("server", "upgrade", "--dry-run", *where)
    assert 0 == plan.returncode, plan.stderr
    assert "current revision: 0011" in plan.stdout
    assert f"target revision:  {db.head_revision()}" in plan.stdout
    assert "0011 -> 0012" in plan.stdout and "downtime:" in plan.stdout and "dry run: nothing changed" in plan.stdout
    done = cli("server", "upgrade", "--yes", *where)
    assert 0 == done.returncode, done.stderr
    assert f"schema: 0011 -> {db.head_revision()}" in done.stdout

    settings = Settings.load(made.path, environ={})
    _check_data_survived(settings, fixture)
    _check_server_works(made, fixture)


def _check_data_survived(settings: Settings, fixture: dict[str, Any]) -> None:
    storage = Storage.open(settings)
    try:
        with storage.engine.connect() as conn:
            for table in ("reports", "crash_groups", "users", "role_grants", "sentry_keys", "project_keys"):
                count = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
                assert len(fixture["tables"][table]) == count, table
        detail = storage.report_detail("demo", fixture["opened"])
        assert detail is not None and "could not load the file" in repr(detail)
        for sent in fixture["reports"]:
            status = storage.receipt_status(sent["receipt"])
            assert status is not None and "grouped" == status.status
        trail = AuditTrail.for_server_dir(storage.engine, settings.server_dir)
        verified = trail.verify()
        assert verified.ok, verified
        actions = [row["action"] for row in fixture["tables"]["audit_entries"]]
        assert "report.read" in actions and "user.add" in actions  # what the release recorded
        with storage.engine.connect() as conn:
            last = conn.execute(sa.text("SELECT action FROM audit_entries ORDER BY seq DESC LIMIT 1")).scalar()
        assert "schema.upgrade" == last
        access = AccessStore(storage.engine, trail)
        principal, _ = access.login("dev", fixture["password"])
        assert "dev" == principal.name
    finally:
        storage.close()


def _check_server_works(made: Any, fixture: dict[str, Any]) -> None:
    server_dir = servers.ServerDir(made.path, made.client_cert, made.client_key,
                                   None if made.database_url.startswith("sqlite") else made.database_url)
    server = servers.Server(server_dir, made.path / "server.log").start()
    try:
        sealer = servers.Sealer(server_dir)
        context = ssl.create_default_context(cafile=str(server_dir.ca_pem))
        context.load_cert_chain(str(made.client_cert), str(made.client_key))
        report = sealer.report(crash_type="KeyError", function="load")  # the release's first group
        answer = servers.post_sealed(context, server.port, sealer.seal(report))
        assert 201 == answer.status, answer
        group_id = next(row["id"] for row in fixture["tables"]["crash_groups"]
                        if row["fingerprint"] == report.fingerprint)
        _dashboard_lists_group(server, fixture["password"], group_id)
    finally:
        server.stop()
    storage = server_dir.storage()
    try:
        group = storage.group("demo", group_id)
        assert group is not None and group.total_count == 5  # 4 from the release, 1 after the upgrade
    finally:
        storage.close()


def _dashboard_lists_group(server: Any, password: str, group_id: int) -> None:
    context = ssl.create_default_context(cafile=str(server.dir.ca_pem))
    origin = f"https://127.0.0.1:{server.web_port}"
    with httpx.Client(transport=httpx.HTTPTransport(verify=context), base_url=origin, timeout=20,
                      headers={"Origin": origin}) as client:
        login = client.get("/dashboard/login")
        nonce = re.search(r'name="nonce" value="([^"]+)"', login.text)
        assert nonce is not None
        answer = client.post("/dashboard/login", data={"nonce": nonce.group(1), "name": "dev", "password": password})
        assert answer.status_code in (200, 303), answer.text[-500:]
        listing = client.get("/dashboard/p/demo/")
        assert 200 == listing.status_code
        assert f"/dashboard/p/demo/groups/{group_id}" in listing.text
        ready = client.get("/readyz").json()
        assert {"server", "ca"} == set(ready["certificates"])
