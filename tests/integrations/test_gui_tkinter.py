"""Tkinter on a private Xvfb display: a callback's exception is reported, the app goes on, and
the text in its widgets never reaches the report."""

from __future__ import annotations

import tkinter
from collections.abc import Iterator
from typing import Any

import pytest

from crashveil.sdk.integrations._base import installed

from .conftest import CANARY_ADDRESS, CANARY_EMAIL, CANARY_NAME, assert_no_canary


@pytest.fixture
def root(display: str) -> Iterator[tkinter.Tk]:
    root = tkinter.Tk(screenName=display)
    try:
        yield root
    finally:
        root.destroy()


def test_button_callback_exception_is_reported_and_still_printed(root: tkinter.Tk, sdk: list[Any],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A button's command raises: one report (mechanism tkinter), Tk's traceback still printed,
    the main loop goes on; names and addresses in the widgets stay on the screen."""
    assert "tkinter" in installed()
    name = tkinter.Entry(root)
    name.insert(0, CANARY_NAME)
    email = tkinter.Entry(root)
    email.insert(0, CANARY_EMAIL)
    tkinter.Label(root, text=CANARY_ADDRESS).pack()

    def save() -> None:
        raise ValueError(f"not a valid e-mail address: {email.get()}")

    button = tkinter.Button(root, text=f"Save {CANARY_NAME}", command=save)
    button.invoke()
    root.after(0, lambda: root.setvar("after", "ran"))
    root.update()
    [report] = sdk
    assert ("ValueError", "tkinter", "ran") == (report.crash_type, report.mechanism, root.getvar("after"))
    assert report.message == "not a valid e-mail address: <email>"
    assert any(frame.function == "save" and frame.in_app for frame in report.stack.frames)
    assert "ValueError: not a valid e-mail address" in capsys.readouterr().err
    assert_no_canary(report)


def test_after_callback_exception_is_reported(root: tkinter.Tk, sdk: list[Any]) -> None:
    def tick() -> None:
        raise KeyError("tick")

    root.after(0, tick)
    root.update()
    assert [("KeyError", "tkinter")] == [(report.crash_type, report.mechanism) for report in sdk]


def test_disabled_integration_restores_tk(root: tkinter.Tk, sdk: list[Any]) -> None:
    """``disable("tkinter")`` puts Tk's own method back: the exception is printed, not reported."""
    from crashveil.sdk.integrations import disable, enable

    disable("tkinter")
    try:
        assert "report_callback_exception" in vars(tkinter.Tk)
        assert vars(tkinter.Tk)["report_callback_exception"].__module__ == "tkinter"
        button = tkinter.Button(root, command=lambda: 1 / 0)
        button.invoke()
        assert [] == sdk
    finally:
        enable("tkinter")
