"""Fixtures of the governance tests: a migrated database (SQLite file, or PostgreSQL when the
storage fixture provides one), a fixed clock, an audit trail in a temporary server dir."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crashveil.server.db.engine import create_engine
from crashveil.server.governance.audit import AuditTrail

# The storage engineer's fixtures (a migrated SQLite file or a fresh PostgreSQL database,
# settings with a KEK file, a Storage with project "demo"), shared rather than copied.
_spec = importlib.util.spec_from_file_location(
    "crashveil_tests_server_conftest", Path(__file__).parent.parent / "server" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_server)
postgresql_proc = _server.postgresql_proc
pg_template = _server.pg_template
pg_url = _server.pg_url
database_url = _server.database_url
settings = _server.settings
storage = _server.storage
make_report = _server.make_report
build_report = _server.build_report
make_settings = _server.make_settings
NOW = _server.NOW


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
    return Clock(datetime(2026, 5, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def gov_engine(database_url: str) -> sa.Engine:
    """An engine over the migrated database (SQLite or PostgreSQL)."""
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def server_dir(tmp_path: Path) -> Path:
    """The server directory (the same one the ``settings`` fixture uses)."""
    return tmp_path


@pytest.fixture
def trail(gov_engine: sa.Engine, server_dir: Path, clock: Clock) -> AuditTrail:
    return AuditTrail.for_server_dir(gov_engine, server_dir, now=clock)


@pytest.fixture
def shred_storage(tmp_path: Path, database_url: str):
    """A Storage with project ``demo`` whose retired KEKs are destroyed at once (no restore window)."""
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.storage.store import Storage

    result = make_settings(tmp_path, database_url, kek_retired_keep_days=0)
    FileKeyProvider.create(result.kek_path, now=NOW)
    store = Storage.open(result, clock=lambda: NOW)
    store.create_project("demo", now=NOW - timedelta(days=400))
    yield store
    store.close()


def route_paths(routes, *, prefix: str = "") -> list[tuple[str, tuple[str, ...]]]:
    """(path template, methods) of every Route under ``routes``, Mounts flattened."""
    from starlette.routing import Mount, Route

    found: list[tuple[str, tuple[str, ...]]] = []
    for route in routes:
        if isinstance(route, Mount):
            found += route_paths(route.routes, prefix=prefix + route.path)
        elif isinstance(route, Route):
            found.append((prefix + route.path, tuple(sorted((route.methods or {"GET"}) - {"HEAD"}))))
    return found


@pytest.fixture
def cross_project_matrix():
    """The IDOR matrix helper: ``check(client, routes, own, other)`` -> list of failures.

    For every route whose path names ``{project}``, it requests the route with the *other*
    project's id and ids, and with the *own* project's id but the other project's object ids,
    with every method; each must answer 404. ``own`` and ``other`` map path parameter names
    (``project``, ``report_id``, ``group_id`` ...) to values. Routes needing a parameter that
    ``other`` lacks are reported as failures too, so new routes cannot slip through
    untested. State-changing methods are sent with ``data`` from ``form`` (e.g. a CSRF token).
    """
    import re

    def check(client, routes, own: dict, other: dict, *, form: dict | None = None) -> list[str]:
        failures = []
        for path, methods in route_paths(routes):
            names = re.findall(r"{([a-z_]+)(?::[a-z]+)?}", path)
            if "project" not in names:
                continue
            missing = [n for n in names if n not in other]
            if missing:
                failures.append(f"{path}: no test value for {missing}")
                continue
            for scope in ("other-project", "own-project-other-ids"):
                values = dict(other) if scope == "other-project" else {**other, "project": own["project"]}
                url = re.sub(r"{([a-z_]+)(?::[a-z]+)?}", lambda m, values=values: str(values[m.group(1)]), path)
                if scope == "own-project-other-ids" and url == re.sub(
                        r"{([a-z_]+)(?::[a-z]+)?}", lambda m: str({**own}.get(m.group(1), "")), path):
                    continue
                if scope == "own-project-other-ids" and names == ["project"]:
                    continue  # the own project's own page: allowed
                for method in methods:
                    response = client.request(method, url, data=form if method != "GET" else None)
                    if response.status_code != 404:
                        failures.append(f"{method} {url} ({scope}): {response.status_code}")
        return failures

    return check
