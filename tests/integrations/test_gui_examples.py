"""examples/integrations/tk_app.py (on Xvfb) and qt_app.py (offscreen) against the real server:
each crash arrives; what was typed into the widgets arrives nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import DemoServer

pytestmark = pytest.mark.slow


def test_tk_example_reports_into_the_server(demo_server: DemoServer, display: str, tmp_path: Path) -> None:
    result = demo_server.run_example("tk_app.py", tmp_path, "--auto", env={"DISPLAY": display})
    assert "sent: True" in result.stdout, result.stderr[-3000:]
    assert "ValueError: invalid literal" in result.stderr  # Tk still printed it
    [report] = [r for r in demo_server.stored() if r.mechanism == "tkinter"]
    assert ("ValueError", "contacts-tk@1.0.0") == (report.crash_type, report.release)
    stored = report.to_json().decode() + demo_server.log()
    assert [] == [canary for canary in ("Carol", "Diaz") if canary in stored]


def test_qt_example_reports_into_the_server(demo_server: DemoServer, tmp_path: Path) -> None:
    result = demo_server.run_example("qt_app.py", tmp_path, "--auto", env={"QT_QPA_PLATFORM": "offscreen"})
    assert "sent: True" in result.stdout, result.stderr[-3000:]
    [report] = [r for r in demo_server.stored() if r.mechanism == "qt"]
    assert ("ValueError", "orders-qt@1.0.0") == (report.crash_type, report.release)
    stored = report.to_json().decode() + demo_server.log()
    assert [] == [canary for canary in ("Harbour", "Dana Point") if canary in stored]
