"""Fixtures of the privacy feedback tests: a SQLite server (migrated once per session and copied per
test, to stay cheap), the ingest app, the dashboard with one user per role, and a sealer."""

from __future__ import annotations

import re
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _loading import load

with warnings.catch_warnings():  # starlette >= 1.0 prefers httpx2 and warns when it finds httpx
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

_server = load("crashveil_tests_server_conftest", Path(__file__).parent.parent / "server" / "conftest.py")
NOW = _server.NOW
ORIGIN = "http://testserver"
#: Planted personal data: an e-mail address, a phone number, a card number and a home path.
CANARIES = ("mallory.canary@example.com", "+44 20 7946 0958", "4111 1111 1111 1111", "/home/mallorycanary/notes.txt")


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per session; tests copy it."""
    from crashveil.server.db import engine as db

    path = tmp_path_factory.mktemp("feedback-template") / "template.db"
    engine = db.create_engine(f"sqlite:///{path}")
    db.migrate(engine)
    engine.dispose()
    return path


@pytest.fixture
def database_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    target = tmp_path / "crashveil.db"
    shutil.copyfile(migrated_sqlite, target)
    return f"sqlite:///{target}"


settings = _server.settings
storage = _server.storage


@pytest.fixture
def seal(storage: Any) -> Callable[[bytes], bytes]:
    """Seal a payload to project ``demo``'s key, as the SDK does."""
    from crashveil.sdk.delivery.seal import seal_report

    key = storage.project("demo").keypairs[0].public_key()
    return lambda payload: seal_report(payload, key, project_id="demo", schema_version=1)


@pytest.fixture
def audit(settings: Any, storage: Any) -> Any:
    from crashveil.server.governance.audit import AuditTrail

    return AuditTrail.for_server_dir(storage.engine, settings.server_dir, now=lambda: NOW)


@pytest.fixture
def api(settings: Any, storage: Any) -> Iterator[TestClient]:
    """The ingest API (native routes) over ``storage``, the clock at ``NOW``."""
    from crashveil.server.http.app import create_app

    with TestClient(create_app(settings, storage, now=lambda: NOW, group_commit=False, surface="ingest")) as client:
        yield client


@pytest.fixture
def dashboard(storage: Any, audit: Any) -> Any:
    """The dashboard app: users officer (privacy-officer), admin, dev (developer), viewer on ``demo``."""
    from argon2 import PasswordHasher
    from starlette.applications import Starlette

    from crashveil.server.dashboard import dashboard_routes
    from crashveil.server.governance.access import AccessStore

    access = AccessStore(storage.engine, audit, now=lambda: NOW,
                         hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name, role in (("officer", "privacy-officer"), ("admin", "admin"), ("dev", "developer"),
                       ("viewer", "viewer")):
        access.add_user(name, f"{name}-password-123", actor="cli")
        access.grant(name, "demo", role, actor="cli")
    routes = dashboard_routes(storage, access=access, audit=audit, secret=b"k" * 32, secure_cookies=False,
                              now=lambda: NOW, cache_s=0.0)
    return Starlette(routes=routes)


def login(app: Any, name: str) -> TestClient:
    """A test client of ``app`` signed in as ``name``."""
    client = TestClient(app)
    page = client.get("/dashboard/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    answer = client.post("/dashboard/login", data={"nonce": nonce, "name": name, "password": f"{name}-password-123"},
                         headers={"Origin": ORIGIN}, follow_redirects=False)
    assert 303 == answer.status_code
    return client


def csrf_of(page_text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page_text).group(1)  # type: ignore[union-attr]


postgresql_proc = _server.postgresql_proc
pg_template = _server.pg_template
pg_url = _server.pg_url
