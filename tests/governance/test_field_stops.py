"""Field stops: a stopped field leaves the signed config's apps and is dropped and counted by ingest.

Real parts: the app from ``create_app`` over the ``storage`` fixture, reports sealed with the
SDK's ``seal_report``, the SDK's own ``RemoteConfig.parse`` of the served document.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

from crashveil.errors import ConfigError
from crashveil.sdk.delivery.seal import seal_report
from crashveil.sdk.remote.config import RemoteConfig
from crashveil.server.db import engine as db
from crashveil.server.db.tables import redaction_counters
from crashveil.server.governance.lifecycle.field_stops import (
    STOPPED_DETECTOR,
    active_stops,
    add_stop,
    check_stoppable,
    lift_stop,
)
from crashveil.server.http.app import create_app
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
CANARY = "stopfield-canary-7Q3XK9"


@pytest.fixture
def app_client(settings: Any, storage: Any) -> TestClient:
    return TestClient(create_app(dataclasses.replace(settings, pseudonym_rate_per_hour=1000), storage,
                                 now=lambda: NOW))


def _post(client: TestClient, storage: Any, report: Any) -> Any:
    key = storage.project("demo").keypairs[0].public_key()
    body = seal_report(report.to_json(), key, project_id="demo", schema_version=1)
    return client.post("/api/v1/projects/demo/reports", content=body,
                       headers={"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"})


def _stop(storage: Any, field: str, project_id: str | None = "demo") -> int:
    with db.write_tx(storage.engine) as conn:
        return add_stop(conn, field, project_id=project_id, source="manual", reason="test", now=NOW)


def test_a_stopped_field_is_dropped_counted_and_sent_to_apps(app_client: TestClient, storage: Any,
                                                            make_report: Callable[..., Any]) -> None:
    """After a stop of ``message``: the config lists it, the SDK parses it, ingest drops the
    planted canary before storage and counts the drop (audit counter and /metrics)."""
    _stop(storage, "message")
    report = make_report(message=f"the secret is {CANARY}")
    assert 201 == _post(app_client, storage, report).status_code
    stored = storage.report_detail("demo", report.report_id)
    assert (None, "KeyError") == (stored.report.message, stored.report.crash_type)
    assert CANARY not in repr(stored)
    with db.read_tx(storage.engine) as conn:
        counted = conn.execute(sa.select(sa.func.sum(redaction_counters.c.hits)).where(
            redaction_counters.c.field == "message", redaction_counters.c.detector == STOPPED_DETECTOR)).scalar()
    registry = app_client.app.state.metrics.registry  # type: ignore[attr-defined]
    assert (1, 1.0) == (counted, registry.get_sample_value("crashveil_dropped_fields_total",
                                                            {"field": "message", "cause": "stopped"}))
    document = app_client.get("/api/v1/projects/demo/config").content
    parsed = RemoteConfig.parse(document, storage.project("demo").signing_key.public_key_string(), project="demo",
                                now=NOW.timestamp())
    assert frozenset({"message"}) == parsed.stopped_fields


def test_stops_of_every_project_count_and_lifted_ones_do_not(storage: Any) -> None:
    """A stop with no project applies to every project; a lifted stop to none."""
    everywhere = _stop(storage, "breadcrumbs", project_id=None)
    _stop(storage, "environment", project_id="other")
    with db.read_tx(storage.engine) as conn:
        before = active_stops(conn, storage.project("demo").policy, "demo", NOW)
    with db.write_tx(storage.engine) as conn:
        assert 1 == lift_stop(conn, [everywhere], now=NOW)
    with db.read_tx(storage.engine) as conn:
        after = active_stops(conn, storage.project("demo").policy, "demo", NOW)
    assert (frozenset({"breadcrumbs"}), frozenset()) == (before, after)
    assert frozenset() == storage.project("demo", fresh=True).field_stops


def test_required_and_unknown_fields_cannot_be_stopped() -> None:
    """A field every report carries, or one the format does not have, is refused by name."""
    for name in ("fingerprint", "no_such_field"):
        with pytest.raises(ConfigError, match="--field"):
            check_stoppable(name)


def _sentry_helpers() -> Any:
    """tests/sentry/conftest.py, loaded by path (conftest modules cannot be imported by name)."""
    import importlib.util
    import sys
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "crashveil_tests_sentry_conftest_for_stops", Path(__file__).parent.parent / "sentry" / "conftest.py")
    assert spec is not None and spec.loader is not None
    if spec.name not in sys.modules:
        module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # its dataclasses look it up
        spec.loader.exec_module(module)
    return sys.modules[spec.name]


def test_a_stopped_field_is_dropped_from_sentry_events(tmp_path: Any) -> None:
    """The Sentry bridge drops a stopped field too: a canary in the exception's value (the
    ``message`` field at level diagnostic) never reaches the stored detail."""
    helpers = _sentry_helpers()
    srv = helpers.build_server(tmp_path, level="diagnostic")
    try:
        _stop(srv.storage, "message", project_id=None)
        event = helpers.python_event()
        event["exception"]["values"][0]["value"] = f"no basket for {CANARY}"
        assert 200 == srv.post_envelope(helpers.event_envelope(event)).status_code
        with db.read_tx(srv.storage.engine) as conn:
            report_id = conn.execute(sa.text("SELECT report_id FROM reports")).scalar_one()
        detail = srv.storage.report_detail("demo", report_id)
        assert (None, "KeyError") == (detail.report.message, detail.report.crash_type)
        assert CANARY not in repr(detail)
    finally:
        srv.storage.close()
