"""Flask through the real framework: the got_request_exception signal, context, privacy, dedup."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import flask
import pytest

from crashveil.sdk.integrations.web.flask import FlaskIntegration

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper next to this file, in any import mode
from web_support import CANARIES, assert_no_canary, delivered, reporting


def make_app() -> flask.Flask:
    app = flask.Flask("crashing_shop")

    @app.post("/users/<name>/orders")
    def create_order(name: str) -> str:
        raise KeyError("boom")

    @app.get("/health")
    def health() -> str:
        return "ok"

    return app


def crash(app: flask.Flask, **headers: str) -> int:
    client = app.test_client()
    client.set_cookie("session", CANARIES["cookie"])
    response = client.post(f"/users/{CANARIES['path']}/orders?email={CANARIES['query']}",
                           data={"note": CANARIES["body"]}, headers={"X-Customer": CANARIES["header"], **headers},
                           environ_base={"REMOTE_ADDR": CANARIES["client"]})
    return response.status_code


def test_view_crash_reports_route_template_method_status_handler(tmp_path: Path, dsn: str, opener: Any) -> None:
    """A view's crash, swallowed by Flask as a 500, is reported with the rule, never the URL."""
    app = make_app()
    with reporting(tmp_path, dsn, opener, integrations=[FlaskIntegration()]) as transport:
        assert 500 == crash(app)
        [report] = delivered(transport)
        assert_no_canary(transport, tmp_path / "data")
    assert ("KeyError", "web", "/users/<name>/orders", "POST", 500) == (
        report["crash_type"], report["mechanism"], report["route"], report["http_method"], report["status_code"])
    assert report["handler"].endswith("make_app.<locals>.create_order")


def test_auto_detected_when_flask_is_imported(tmp_path: Path, dsn: str, opener: Any) -> None:
    """Flask is in sys.modules (imported above): init() without integrations= enables it."""
    app = make_app()
    with reporting(tmp_path, dsn, opener) as transport:
        crash(app)
        assert 1 == len(delivered(transport))


def test_signal_and_logging_make_one_report(tmp_path: Path, dsn: str, opener: Any) -> None:
    """Flask logs the crash after the signal: the logging integration sees the same exception."""
    app = make_app()
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    app.logger.addHandler(handler)
    with reporting(tmp_path, dsn, opener, logging_integration=True) as transport:
        crash(app)
        reports = delivered(transport)
    assert (1, 1, "/users/<name>/orders") == (len(records), len(reports), reports[0]["route"])


@pytest.mark.parametrize("value", ["1", "true"])
def test_opt_out_header(tmp_path: Path, dsn: str, opener: Any, value: str) -> None:
    """A request carrying X-Crashveil-Opt-Out is not reported, by the signal or the logging hook."""
    app = make_app()
    with reporting(tmp_path, dsn, opener, logging_integration=True) as transport:
        assert 500 == crash(app, **{"X-Crashveil-Opt-Out": value})
        assert [] == delivered(transport)


def test_opt_out_hook_gets_the_request(tmp_path: Path, dsn: str, opener: Any) -> None:
    seen: list[str] = []

    def opted_out(request: object) -> bool:
        assert isinstance(request, flask.Request)
        seen.append(request.method)
        return True

    app = make_app()
    with reporting(tmp_path, dsn, opener, integrations=[FlaskIntegration(opt_out=opted_out)]) as transport:
        crash(app)
        assert ([], ["POST"]) == (delivered(transport), seen)


def test_route_sampling(tmp_path: Path, dsn: str, opener: Any) -> None:
    """A route sampled at 0 is never reported; other routes still are."""
    app = make_app()

    @app.get("/other")
    def other() -> str:
        raise ValueError("other")

    integration = FlaskIntegration(route_sample_rates={"/users/<name>/orders": 0.0})
    with reporting(tmp_path, dsn, opener, integrations=[integration]) as transport:
        crash(app)
        app.test_client().get("/other")
        reports = delivered(transport)
    assert ["/other"] == [report["route"] for report in reports]


def test_no_report_without_consent(tmp_path: Path, dsn: str, opener: Any) -> None:
    app = make_app()
    with reporting(tmp_path, dsn, opener, level=None) as transport:
        assert 500 == crash(app)
        assert [] == delivered(transport)
    assert not (tmp_path / "data" / "queue").exists()
