"""Qt (PySide6, offscreen platform): an exception in a slot is reported as ``qt``, the event loop
goes on, and the text in the widgets never reaches the report."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLineEdit, QPushButton

from crashveil.sdk.integrations._base import installed

from .conftest import CANARY_ADDRESS, CANARY_EMAIL, CANARY_NAME, assert_no_canary


@pytest.fixture(scope="module")
def qt_app() -> QApplication:
    """The process's one QApplication, on the offscreen platform (read when it is made): no display."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    return app


def run_loop(app: QApplication, *steps: Any) -> None:
    """Run ``steps`` from inside the event loop, then leave it."""
    for step in steps:
        QTimer.singleShot(0, step)
    QTimer.singleShot(0, app.quit)
    app.exec()


def test_slot_exception_is_reported_as_qt_and_the_loop_goes_on(qt_app: QApplication, sdk: list[Any],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert "qt" in installed()
    name = QLineEdit(CANARY_NAME)
    email = QLineEdit(CANARY_EMAIL)
    button = QPushButton(f"Ship to {CANARY_ADDRESS}")
    ran: list[str] = []

    def save() -> None:
        raise ValueError(f"cannot send to {email.text()}")

    button.clicked.connect(save)
    run_loop(qt_app, button.click, lambda: ran.append("after"))
    [report] = sdk
    assert ("ValueError", "qt", ["after"]) == (report.crash_type, report.mechanism, ran)
    assert report.message == "cannot send to <email>"
    assert any(frame.function == "save" and frame.in_app for frame in report.stack.frames)
    assert "ValueError: cannot send to" in capsys.readouterr().err  # the previous hook still printed it
    assert_no_canary(report)
    assert name.text() == CANARY_NAME


def test_outside_the_event_loop_the_crash_hooks_report_it(qt_app: QApplication, sdk: list[Any]) -> None:
    """An exception that reaches ``sys.excepthook`` outside a Qt event loop is the hooks' (``excepthook``)."""
    try:
        raise LookupError("main")
    except LookupError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert [("LookupError", "excepthook")] == [(report.crash_type, report.mechanism) for report in sdk]


def test_second_init_keeps_reporting_slot_exceptions_once(qt_app: QApplication, sdk: list[Any], tmp_path: Any,
                                                          dsn: str) -> None:
    """A second ``init()`` puts the crash hooks above our wrapper; we wrap again: one report, as qt."""
    import crashveil
    from crashveil.testing import RecordingTransport, captured_reports

    crashveil.init(dsn=dsn, data_dir=tmp_path / "data2", transport=RecordingTransport())
    crashveil.grant("crash")
    button = QPushButton("again")
    button.clicked.connect(lambda: 1 / 0)
    with captured_reports() as reports:
        run_loop(qt_app, button.click)
    assert [("ZeroDivisionError", "qt")] == [(report.crash_type, report.mechanism) for report in reports]


def test_shutdown_restores_the_interpreters_excepthook(qt_app: QApplication, sdk: list[Any]) -> None:
    """Our wrapper sits above the crash hooks' excepthook; ``shutdown()`` removes both."""
    import crashveil

    assert sys.excepthook is not sys.__excepthook__
    crashveil.shutdown()
    assert (sys.excepthook is sys.__excepthook__, "qt" in installed()) == (True, False)
