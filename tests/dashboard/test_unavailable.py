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

from crashveil.policy.protocol import API_PREFIX

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

    from crashveil.server.access import AccessStore
    from crashveil.server.app import create_app
    from crashveil.server.audit import AuditTrail
    from crashveil.server.db.tables import crash_groups
    from crashveil.server.keys import FileKeyProvider
    from crashveil.server.storage import Storage

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
