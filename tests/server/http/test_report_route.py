"""The report route answered without Starlette (``http/routes/reports.py``) answers as the
Starlette route does: the same statuses, headers and bodies, the same counters, for every
kind of request the route can get."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _migrated import migrated_sqlite
from starlette.applications import Starlette

with warnings.catch_warnings():  # starlette >= 1.0 prefers httpx2 and warns when it finds httpx
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

from crashveil.sdk.delivery.seal import seal_report
from crashveil.server.http.app import create_app
from crashveil.server.http.routes.reports import ReportRoute
from crashveil.wire import Report
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE, reports_path

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
HEADERS = {"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the route is the same on every engine (the ingest tests run both)."""
    return migrated_sqlite(tmp_path / "crashveil.db")


def _without_report_route(app: Starlette) -> Starlette:
    """``app`` as it was before: its report route served by the Starlette route table."""
    app.user_middleware = [m for m in app.user_middleware if m.cls is not ReportRoute]
    return app


def _answer(response: Any) -> tuple[int, dict[str, str], bytes]:
    headers = {name: value for name, value in response.headers.items() if name != "date"}
    return response.status_code, headers, response.content


def test_answers_equal_the_starlette_route(settings: Any, storage: Any, make_report: Callable[..., Report]) -> None:
    """Stored, retried and every refusal before the commit: byte for byte the same answer,
    counted the same (rejections by reason, latency under the route template)."""
    key = storage.project("demo").keypairs[0].public_key()
    fast_app = create_app(settings, storage, now=lambda: NOW)
    assert any(m.cls is ReportRoute for m in fast_app.user_middleware)
    fast = TestClient(fast_app)
    slow = TestClient(_without_report_route(create_app(settings, storage, now=lambda: NOW)))
    path = reports_path("demo")
    sealed = [seal_report(make_report().to_json(), key, project_id="demo", schema_version=1) for _ in range(2)]
    cases: list[tuple[str, bytes, dict[str, str]]] = [
        (path, b"junk", HEADERS),
        (path, b"junk", {**HEADERS, "Content-Type": "text/plain"}),
        (path, b"junk", {**HEADERS, SCHEMA_HEADER: "9"}),
        (path, b"x" * 300_000, HEADERS),
        (path, b"", HEADERS),
        (path, b"junk", {**HEADERS, "Content-Encoding": "rot13"}),
        (reports_path("nope"), b"junk", HEADERS),
        ("/api/v1/projects/bad%20id/reports", b"junk", HEADERS),
    ]
    for url, body, headers in cases:
        assert _answer(fast.post(url, content=body, headers=headers)) == \
            _answer(slow.post(url, content=body, headers=headers)), (url, headers)
    # the same sealed report to both: created by one, a retry for the other (same receipt)
    for first, second in ((fast, slow), (slow, fast)):
        body = sealed.pop()
        created, retried = first.post(path, content=body, headers=HEADERS), second.post(path, content=body,
                                                                                          headers=HEADERS)
        assert (created.status_code, retried.status_code) == (201, 200)
        assert created.json() == {**retried.json()} and set(created.json()) == {"receipt", "status"}
        assert {k: v for k, v in created.headers.items() if k != "content-length"} == \
            {k: v for k, v in retried.headers.items() if k != "content-length"}
    fast_metrics, slow_metrics = fast.get("/metrics").text, slow.get("/metrics").text
    for line in ('crashveil_reports_rejected_total{reason="unsealable"} 1.0',
                 'crashveil_reports_rejected_total{reason="unsupported_media_type"} 1.0',
                 'crashveil_reports_rejected_total{reason="unknown_project"} 2.0',
                 'crashveil_request_duration_seconds_count{method="POST",route="/api/v1/projects/{project}/reports"} '
                 '10.0'):
        assert line in fast_metrics and line in slow_metrics, line


def test_other_requests_reach_the_app(settings: Any, storage: Any) -> None:
    """Another method, a trailing slash or a longer path is not the report route's: the
    app answers them as it did."""
    fast = TestClient(create_app(settings, storage, now=lambda: NOW), follow_redirects=False)
    slow = TestClient(_without_report_route(create_app(settings, storage, now=lambda: NOW)), follow_redirects=False)
    for method, url in (("GET", reports_path("demo")), ("POST", reports_path("demo") + "/x"),
                        ("POST", reports_path("demo") + "/"), ("PUT", reports_path("demo"))):
        assert _answer(fast.request(method, url, content=b"junk", headers=HEADERS)) == \
            _answer(slow.request(method, url, content=b"junk", headers=HEADERS)), (method, url)
