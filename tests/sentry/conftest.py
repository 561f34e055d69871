"""Sentry ingest fixtures: a migrated SQLite server directory with project ``demo``, a DSN key,
and the ingest app with the Sentry routes mounted as ``app.py`` mounts them.
"""

from __future__ import annotations

import gzip
import json
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _migrated import migrated_sqlite

pytest.importorskip("sqlalchemy")

with warnings.catch_warnings():  # starlette >= 1.0 prefers httpx2 and warns when it finds httpx
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from crashveil.server.http.app import create_app
from crashveil.server.keys.kek import FileKeyProvider
from crashveil.server.sentry.keys import SentryKeys
from crashveil.server.sentry.routes import SentryLimits
from crashveil.server.settings import Settings
from crashveil.server.storage.store import Storage

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "fixtures"


def make_server(directory: Path, **overrides: Any) -> tuple[Settings, Storage]:
    """A migrated SQLite server directory with a KEK and project ``demo``."""
    # One installation per test: the quasi-identifier k check would suppress what is asserted.
    values: dict[str, Any] = {"sealing_suite": "x25519", "project_cache_s": 0.0, "quasi_identifier_check": False}
    values.update(overrides)
    settings = Settings(server_dir=directory, database_url=f"sqlite:///{directory / 'crashveil.db'}", **values)
    FileKeyProvider.create(settings.kek_path, now=NOW)
    migrated_sqlite(directory / "crashveil.db")
    storage = Storage.open(settings, clock=lambda: NOW)
    storage.create_project("demo", now=NOW)
    return settings, storage


@dataclass
class Server:
    settings: Settings
    storage: Storage
    client: TestClient
    numeric_id: int
    key: str
    clock: list[datetime]
    app: Any = None
    key_id: int = 0

    def envelope_url(self, numeric_id: int | None = None) -> str:
        return f"/api/{self.numeric_id if numeric_id is None else numeric_id}/envelope/"

    def store_url(self) -> str:
        return f"/api/{self.numeric_id}/store/"

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_client=test/1.0, sentry_key={key or self.key}"}

    def post_envelope(self, body: bytes, *, headers: dict[str, str] | None = None, gzip_it: bool = False) -> Any:
        extra = dict(self.auth())
        if gzip_it:
            body = gzip.compress(body)
            extra["Content-Encoding"] = "gzip"
        extra.update(headers or {})
        return self.client.post(self.envelope_url(), content=body, headers=extra)

    def outcomes(self, key_id: int | None = None) -> dict[tuple[str, str, str], int]:
        """The outcome counts of the key (default: the server's), flushed first."""
        from crashveil.server.sentry.outcomes import key_outcomes

        self.app.state.ingestor.run_stop_hooks()
        wanted = self.key_id if key_id is None else key_id
        return dict(key_outcomes(self.storage.engine, [wanted])[wanted].counts)


def build_server(tmp_path: Path, *, level: str | None = None, limits: SentryLimits | None = None,
                 **overrides: Any) -> Server:
    settings, storage = make_server(tmp_path, **overrides)
    clock = [NOW]
    app = create_app(settings, storage, now=lambda: clock[0], sentry_limits=limits)
    project, key = SentryKeys(storage.engine).create_key("demo", level=level)
    assert project.key_id is not None
    return Server(settings, storage, TestClient(app), project.numeric_id, key, clock, app, project.key_id)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """The ingest app with Sentry routes; Sentry events at the default level (``crash``)."""
    srv = build_server(tmp_path)
    yield srv
    srv.storage.close()


@pytest.fixture
def diagnostic_server(tmp_path: Path) -> Iterator[Server]:
    """As ``server``, with Sentry events treated at level ``diagnostic`` (messages, breadcrumbs)."""
    srv = build_server(tmp_path, level="diagnostic")
    yield srv
    srv.storage.close()


def envelope(*items: tuple[dict[str, Any], bytes], header: dict[str, Any] | None = None) -> bytes:
    """An envelope: header line, then each item's header (with its length) and payload."""
    lines = [json.dumps(header or {}).encode()]
    for item_header, payload in items:
        lines.append(json.dumps({**item_header, "length": len(payload)}).encode())
        lines.append(payload)
    return b"\n".join(lines) + b"\n"


def python_event(event_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """A Sentry Python error event (the SDK's shape), at NOW."""
    event = {
        "event_id": event_id or uuid.uuid4().hex,
        "timestamp": "2026-05-01T12:29:58.123456Z",
        "platform": "python",
        "release": "shop@1.4.0",
        "exception": {"values": [{
            "type": "KeyError", "value": "'basket'", "module": None,
            "mechanism": {"type": "excepthook", "handled": False},
            "stacktrace": {"frames": [
                {"filename": "shop/main.py", "abs_path": "/home/alice/shop/main.py", "function": "main",
                 "module": "shop.main", "lineno": 10, "in_app": True, "vars": {"password": "'hunter2'"}},
                {"filename": "shop/cart.py", "abs_path": "/home/alice/shop/cart.py", "function": "checkout",
                 "module": "shop.cart", "lineno": 42, "in_app": True, "context_line": "    basket = d['basket']"},
            ]},
        }]},
        "contexts": {"runtime": {"name": "CPython", "version": "3.11.7", "build": "3.11.7 (main)"},
                     "os": {"name": "Linux", "version": "6.5.0-14-generic"},
                     "trace": {"trace_id": "ab" * 16}},
    }
    event.update(extra)
    return event


def event_envelope(event: dict[str, Any], **header: Any) -> bytes:
    return envelope(({"type": "event"}, json.dumps(event).encode()),
                    header={"event_id": event["event_id"], **header})


@pytest.fixture
def stored_reports() -> Callable[[Server], list[Any]]:
    """Every stored report of project demo, decrypted (``StoredDetail``), with its row."""
    import sqlalchemy as sa

    from crashveil.server.db.tables import reports

    def read(srv: Server) -> list[Any]:
        with srv.storage.engine.connect() as conn:
            rows = conn.execute(sa.select(reports).order_by(reports.c.id)).all()
        return [(row, srv.storage.report_detail(row.project_id, row.report_id)) for row in rows]

    return read


@pytest.fixture(scope="session")
def server_maker() -> Callable[..., tuple[Settings, Storage]]:
    """``make_server`` for tests in other modules (importlib mode cannot import conftest)."""
    return make_server
