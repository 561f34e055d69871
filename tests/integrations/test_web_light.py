"""Integrations cost nothing until a framework is there: no framework import, no blocking of requests."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import flask

import crashveil
from crashveil.testing import RecordingTransport

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper next to this file, in any import mode
from web_support import delivered, reporting

FRAMEWORKS = ("django", "flask", "starlette", "fastapi", "werkzeug", "crashveil.sdk.integrations._base",
              "crashveil.sdk.integrations.web", "crashveil.sdk.integrations.tasks", "crashveil.sdk.integrations.gui",
              "crashveil.sdk.consent.server")


def test_import_and_init_load_no_framework(tmp_path: Path) -> None:
    """``import crashveil`` and ``init()`` in a fresh process import no web framework (nor the integrations)."""
    code = ("import sys, crashveil\n"
            f"crashveil.init(data_dir={str(tmp_path)!r})\n"
            f"print(sorted(name for name in {FRAMEWORKS!r} if name in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert "[]" == out.stdout.strip()


def test_auto_detection_follows_sys_modules(tmp_path: Path) -> None:
    """With flask already imported, init() sets up only the Flask integration."""
    code = ("import sys, flask, crashveil\n"
            f"crashveil.init(data_dir={str(tmp_path)!r})\n"
            "from crashveil.sdk.integrations import _base\n"
            "print(sorted(_base._active), 'django' in sys.modules, 'starlette' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert "['flask'] False False" == out.stdout.strip()


def test_explicit_integrations_without_auto(tmp_path: Path) -> None:
    from crashveil.sdk.integrations import _base

    crashveil.init(data_dir=tmp_path, auto_integrations=False)
    assert {} == _base._active
    crashveil.init(data_dir=tmp_path, integrations=[_FakeIntegration()], auto_integrations=False)
    assert ["fake"] == sorted(_base._active)


class _FakeIntegration(__import__("crashveil.sdk.integrations._base", fromlist=["Integration"]).Integration):
    name = "fake"

    def setup_once(self) -> None:
        pass


class GatedTransport(RecordingTransport):
    """Sends only once the request has finished: a capture that waited for the network would hang."""

    def __init__(self, opener: Any) -> None:
        super().__init__(opener=opener)
        self.request_done = threading.Event()
        self.threads: list[str] = []

    def send(self, kind: str, sealed: bytes) -> Any:
        self.threads.append(threading.current_thread().name)
        assert self.request_done.wait(10.0)
        return super().send(kind, sealed)


def test_capture_only_enqueues(tmp_path: Path, dsn: str, opener: Any) -> None:
    """The request is answered while delivery is still held back; the sender thread delivers."""
    app = flask.Flask("gated")

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    transport = GatedTransport(opener)
    crashveil.init(dsn=dsn, data_dir=tmp_path / "data", transport=transport)
    crashveil.grant("crash")
    assert 500 == app.test_client().get("/boom").status_code
    assert 1 == len(crashveil.history())  # queued before the answer
    transport.request_done.set()
    assert crashveil.flush(10.0) is True
    assert 1 == len(transport.payloads("report"))
    assert threading.current_thread().name not in transport.threads


def test_integration_error_never_breaks_the_request(tmp_path: Path, dsn: str, opener: Any,
                                                    allow_internal_errors: list[BaseException]) -> None:
    """A failing opt-out hook counts as opting out; the app answers as without crashveil."""
    from crashveil.sdk.integrations.web.flask import FlaskIntegration

    def broken(request: object) -> bool:
        raise RuntimeError("hook bug")

    app = flask.Flask("broken_hook")

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    with reporting(tmp_path, dsn, opener, integrations=[FlaskIntegration(opt_out=broken)]) as transport:
        assert 500 == app.test_client().get("/boom").status_code
        assert [] == delivered(transport)
    assert ["hook bug"] == [str(error) for error in allow_internal_errors]


def test_integrations_option_is_checked(tmp_path: Path) -> None:
    import pytest

    from crashveil.errors import ConfigError

    with pytest.raises(ConfigError, match="integrations.*holds a str"):
        crashveil.init(data_dir=tmp_path, integrations=["flask"])
    with pytest.raises(ConfigError, match="integrations.*is a str"):
        crashveil.init(data_dir=tmp_path, integrations="flask")
