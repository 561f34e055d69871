"""No 500s (issue 14, item 16): ids out of any column's range are 404 on every route that takes
one; a database that stops accepting writes makes /readyz 503 and the dashboard answer a
clear 503 page. The whole app (``create_app``) over SQLite and over PostgreSQL."""

from __future__ import annotations

import importlib.util
import re
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from crashveil.wire.protocol import API_PREFIX

from .test_views import _csrf, _login


def _server_conftest() -> Any:
    name = "crashveil_tests_server_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "server" / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_server = _server_conftest()
postgresql_proc = _server.postgresql_proc
pg_template = _server.pg_template
pg_url = _server.pg_url
database_url = _server.database_url

ORIGIN = "http://testserver"
#: Ids past SQLite's 64-bit INTEGER, past PostgreSQL's int4, negative, zero.
BAD_IDS = ("99999999999999999999", str(2**63), str(2**31), "9" * 400, "-1", "0")


class Clock:
    """Monotonic seconds the test moves by hand (rate limiters and the readiness cache)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Full:
    client: TestClient
    storage: Any
    clock: Clock
    url: str
    group_id: int


@pytest.fixture
def full(tmp_path: Path, database_url: str) -> Iterator[Full]:
    """The whole app over the database, a project with one stored report, user dev signed in."""
    from argon2 import PasswordHasher

    from crashveil.server.db.tables import crash_groups
    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.http.app import create_app
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.storage.store import Storage

    settings = _server.make_settings(tmp_path, database_url, tls=False)
    FileKeyProvider.create(settings.kek_path, now=_server.NOW)
    storage = Storage.open(settings, clock=lambda: _server.NOW)
    storage.create_project("demo", now=_server.NOW)
    storage.store_report("demo", _server.build_report(), origin="crashveil-sdk", received_at=_server.NOW,
                         redaction_hits={}, dropped_fields=())
    with storage.engine.connect() as conn:
        group_id = conn.execute(sa.select(crash_groups.c.id)).scalar_one()
    access = AccessStore(storage.engine, AuditTrail.for_server_dir(storage.engine, tmp_path),
                         hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    access.add_user("dev", "dev-password-123", actor="cli")
    access.grant("dev", "demo", "developer", actor="cli")
    clock = Clock()
    app = create_app(settings, storage, clock=clock, group_commit=False)
    client = TestClient(app, base_url=ORIGIN, raise_server_exceptions=False)
    _login(client, "dev")
    yield Full(client, storage, clock, database_url, int(group_id))
    app.state.ingestor.close()
    storage.close()


def test_out_of_range_ids_are_404_on_every_route(full: Full) -> None:
    """Every route taking an id answers 404 (never 500) for ids no column can hold."""
    client = full.client
    csrf = _csrf(client.get(f"/dashboard/p/demo/groups/{full.group_id}").text)
    answers: dict[str, int] = {}
    for bad in BAD_IDS:
        for path in (f"/dashboard/p/demo/groups/{bad}", f"/dashboard/p/demo/groups/{bad}/plots/trend.svg",
                     f"/dashboard/p/demo/groups/{bad}/plots/releases.svg", f"/dashboard/p/demo/reports/{bad}",
                     f"{API_PREFIX}/receipts/{bad}", f"/public/{bad}"):
            answers[f"GET {path}"] = client.get(path).status_code
        answers[f"POST status {bad}"] = client.post(
            f"/dashboard/p/demo/groups/{bad}/status", data={"csrf": csrf, "action": "resolve"},
            headers={"Origin": ORIGIN}).status_code
        answers[f"POST report {bad}"] = client.post(
            f"/dashboard/p/demo/reports/{bad}", data={"csrf": csrf, "reason": "ticket 1: out of range"},
            headers={"Origin": ORIGIN}).status_code
        for kind in ("envelope", "store"):  # a well-formed key, so the id is looked up
            answers[f"POST sentry {kind} {bad}"] = client.post(f"/api/{bad}/{kind}/?sentry_key={'a' * 32}",
                                                               content=b"{}").status_code
    # Sentry answers an unknown (id, key) pair 401, as Sentry does; an id it cannot hold, 404.
    assert {} == {k: v for k, v in answers.items() if v != 404 and not (" sentry " in k and v == 401)}


def _set_read_only(full: Full, on: bool) -> None:
    """Make the database refuse writes (or accept them again), as a read-only mount, a full
    disk or a PostgreSQL standby would: SQLite's ``query_only`` on every connection, or
    PostgreSQL's ``default_transaction_read_only`` for the database."""
    engine = full.storage.engine
    if full.url.startswith("sqlite"):
        def query_only(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA query_only={'ON' if on else 'OFF'}")
        sa.event.listen(engine, "connect", query_only)
    else:
        base, name = full.url.rsplit("/", 1)
        admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://") + "/postgres",
                                 isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"ALTER DATABASE {name} SET default_transaction_read_only = {'on' if on else 'off'}")
        admin.dispose()
    engine.dispose()  # new connections take the setting


def test_readyz_says_unavailable_when_writes_fail(full: Full) -> None:
    """/readyz follows whether a write would succeed (a probe rolled back), not whether reads do."""
    client = full.client
    before = client.get("/readyz").status_code
    _set_read_only(full, True)
    full.clock.t += 60  # past the readiness cache
    refused = client.get("/readyz")
    _set_read_only(full, False)
    full.clock.t += 60
    after = client.get("/readyz").status_code
    assert (200, 503, "5", "unavailable", ["database"], 200) == (
        before, refused.status_code, refused.headers.get("retry-after"), refused.json()["status"],
        [check["name"] for check in refused.json()["failed"]], after)


def test_readyz_probes_at_most_once_per_cache_period(full: Full) -> None:
    """Many /readyz calls within the cache period run one write probe; it is cheap."""
    probes: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            probes.append(statement)

    full.clock.t += 60
    sa.event.listen(full.storage.engine, "before_cursor_execute", record)
    try:
        started = time.perf_counter()
        codes = {full.client.get("/readyz").status_code for _ in range(50)}
        took = (time.perf_counter() - started) / 50
    finally:
        sa.event.remove(full.storage.engine, "before_cursor_execute", record)
    print(f"/readyz mean {took * 1000:.2f} ms over 50 calls, {len(probes)} probe(s)")
    assert ({200}, 1) == (codes, len(probes))


def test_read_only_database_keeps_pages_readable_and_the_sign_in_is_a_clear_503(full: Full) -> None:
    """Pages that only read are still served from a read-only database (a session's idle timer
    is written at most once a minute); the sign-in, a write, answers 503 with a page that says why."""
    fresh = TestClient(full.client.app, base_url=ORIGIN, raise_server_exceptions=False)
    page = fresh.get("/dashboard/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
    _set_read_only(full, True)
    answers = [full.client.get(path) for path in ("/dashboard/", "/dashboard/p/demo/",
                                                  f"/dashboard/p/demo/groups/{full.group_id}")]
    answers.append(fresh.post("/dashboard/login", data={"nonce": nonce, "name": "dev",
                                                        "password": "dev-password-123"},
                              headers={"Origin": ORIGIN}))
    assert [(200, False, True, None)] * 3 + [(503, True, True, "30")] == [
        (a.status_code, "Temporarily unavailable" in a.text, "content-security-policy" in a.headers,
         a.headers.get("retry-after")) for a in answers]
