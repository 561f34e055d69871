"""Exception -> report: trimmed frames, relative paths, chains, codes, coarse time, allowlist."""

from __future__ import annotations

import dataclasses
import json
import random
import re
import sys
from pathlib import Path

import pytest

from crashveil.policy import default_policy
from crashveil.sdk.collect import Collector, coarse_hour, current_environment, error_code_of
from crashveil.wire.report import report_from_json


class Redactor:
    """Leaves text alone, so these tests see exactly what collect.py produced."""

    def redact(self, text: str, kind: str = "message") -> str:
        return text


def make_collector(app_root: Path) -> Collector:
    return Collector(default_policy(), app_root=app_root, release="app@1", redactor=Redactor(),
                     now=lambda: 1_790_003_700.0, rng=random.Random(1))


def raise_in(path: Path, body: str) -> BaseException:
    """Run ``body`` as code compiled from ``path`` (so frames carry that file name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    namespace: dict[str, object] = {}
    try:
        exec(compile(body, str(path), "exec"), namespace)
        namespace["main"]()  # type: ignore[operator]
    except BaseException as exc:  # noqa: BLE001 - the script's exception, whatever it is, is the result
        return exc
    raise AssertionError("no exception")


def test_in_app_frames_are_relative_to_app_root(tmp_path: Path) -> None:
    """An app frame's path is relative to app_root and flagged in_app."""
    exc = raise_in(
        tmp_path / "pkg" / "core.py", "def main():\n    helper()\ndef helper():\n    raise ValueError('x')\n"
    )
    record = make_collector(tmp_path).record(exc, mechanism="manual")
    assert [("pkg/core.py", "main", 2, True), ("pkg/core.py", "helper", 4, True)] == [
        (f.file, f.function, f.line, f.in_app) for f in record.stack.frames]


def test_library_frame_where_crash_surfaced_is_kept(tmp_path: Path) -> None:
    """The innermost frame is kept even outside the app, with a module-relative path."""
    exc = raise_in(tmp_path / "main.py", "import json\ndef main():\n    json.loads('{')\n")
    frames = make_collector(tmp_path).record(exc, mechanism="manual").stack.frames
    assert ("json/decoder.py", False) == (frames[-1].file, frames[-1].in_app)
    assert ("main.py", True) == (frames[0].file, frames[0].in_app)


def test_no_absolute_paths(tmp_path: Path) -> None:
    """A file outside every known root keeps only its base name."""
    exc = raise_in(Path("/tmp") / f"cv-outside-{tmp_path.name}" / "alice" / "tool.py",
                   "def main():\n    raise KeyError(1)\n")
    frames = make_collector(tmp_path / "app").record(exc, mechanism="manual").stack.frames
    assert ["tool.py"] == [f.file for f in frames]


def test_long_stacks_are_capped_with_an_elided_count(tmp_path: Path) -> None:
    """Beyond the cap the middle frames go and are counted."""
    body = (
        "def main():\n    rec(100)\ndef rec(n):\n    if n == 0:\n        raise RuntimeError('deep')\n    rec(n - 1)\n"
    )
    stack = make_collector(tmp_path).record(raise_in(tmp_path / "deep.py", body), mechanism="manual").stack
    # 102 app frames plus this test's own frame (not in app, not innermost): 103 seen, 32 kept
    assert (32, 103 - 32) == (len(stack.frames), stack.elided)


def test_chain_is_kept_short(tmp_path: Path) -> None:
    """``__cause__`` and ``__context__`` become a chain of crash types and codes."""
    body = ("def main():\n    try:\n        open('/nonexistent/x')\n    except OSError as e:\n"
            "        try:\n            raise KeyError('k') from e\n        except KeyError:\n"
            "            raise ValueError('v')\n")
    record = make_collector(tmp_path).record(raise_in(tmp_path / "c.py", body), mechanism="manual")
    assert [("context", "KeyError", None), ("cause", "FileNotFoundError", "errno:2")] == [
        (c.relation, c.crash_type, c.error_code) for c in record.chain]


@pytest.mark.parametrize(("exc", "expected"), [
    (SystemExit(3), "exit:3"),
    (FileNotFoundError(2, "gone"), "errno:2"),
    (ValueError("x"), None),
    (SystemExit("message"), "exit:1"),
])
def test_error_codes(exc: BaseException, expected: str | None) -> None:
    """errno, exit status and friends become ``prefix:number`` codes."""
    assert expected == error_code_of(exc)


def test_coarse_hour() -> None:
    """Time is kept to the hour."""
    assert "2026-09-21T15:00Z" == coarse_hour(1_790_003_700.0)


def test_environment_is_coarse() -> None:
    """Only OS family and major version, Python impl and major.minor, arch."""
    env = current_environment()
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == env.python_version
    assert re.fullmatch(r"\d+|unknown", env.os_version) is not None


def test_crash_level_has_no_message(tmp_path: Path) -> None:
    """At level ``crash`` the message and breadcrumbs are not in the report at all."""
    collector = make_collector(tmp_path)
    record = collector.record(raise_in(tmp_path / "m.py", "def main():\n    raise ValueError('secret')\n"),
                              mechanism="excepthook")
    report = collector.build(record, "crash")
    assert (None, set()) == (report.message, set(report.present_fields()) - set(default_policy().fields_at("crash")))


def test_diagnostic_level_has_the_message(tmp_path: Path) -> None:
    """At level ``diagnostic`` the message is present."""
    collector = make_collector(tmp_path)
    record = collector.record(raise_in(tmp_path / "m.py", "def main():\n    raise ValueError('boom')\n"),
                              mechanism="excepthook")
    assert "boom" == collector.build(record, "diagnostic").message


def test_report_round_trips_the_wire_format(tmp_path: Path) -> None:
    """A built report parses back strictly as wire format v1."""
    collector = make_collector(tmp_path)
    exc = raise_in(tmp_path / "m.py", "def main():\n    raise ValueError('x' * 100000)\n")
    report = collector.build(collector.record(exc, mechanism="manual"), "diagnostic", install_id="0" * 32,
                             client_stats={"duplicate": 2})
    assert report == report_from_json(report.to_json())[0]
    assert 2048 == len(report.message or "")


def test_allowed_fields_only_narrow(tmp_path: Path) -> None:
    """``allowed_fields`` removes fields and never adds one the level lacks."""
    collector = make_collector(tmp_path)
    record = collector.record(raise_in(tmp_path / "m.py", "def main():\n    raise ValueError('x')\n"),
                              mechanism="manual")
    report = collector.build(record, "crash", allowed_fields=("message", "crash_type", "release"))
    assert {"release", "message"} & set(report.present_fields()) == {"release"}
    assert json.loads(report.to_json())["release"] == "app@1"


def test_control_characters_in_names_are_sent_visibly_not_refused(tmp_path: Path) -> None:
    """The server refuses controls and bidi characters in identifier fields (422), so an app whose
    exception class, function, file or breadcrumb category carries one would lose the whole crash:
    the SDK writes them as visible escapes and the report still passes the wire check."""
    body = ("class Odd(Exception):\n    pass\n"
            "Odd.__name__ = Odd.__qualname__ = 'Odd\\x1b[2J\\u202eevil'\n"
            "def main():\n    raise Odd('x')\n"
            "main.__code__ = main.__code__.replace(co_name='ma\\nin')\n")
    exc = raise_in(tmp_path / "we\u202eird\tname.py", body)
    collector = make_collector(tmp_path)
    collector.release = "1.0\r\nforged"
    record = dataclasses.replace(collector.record(exc, mechanism="manual"),
                                 breadcrumbs=((1.0, "ui\x00\u2066x", "clicked"),))
    parsed = report_from_json(collector.build(record, "diagnostic", install_id="0" * 32).to_json())[0]
    frame = parsed.stack.frames[-1] if parsed.stack else None
    assert ("Odd\\x1b[2J\\u202eevil", "ma\\x0ain", "we\\u202eird\\x09name.py", "other",
            "1.0\\x0d\\x0aforged") == (
        parsed.crash_type, frame.function if frame else None, frame.file if frame else None,
        parsed.breadcrumbs[0].category if parsed.breadcrumbs else None, parsed.release)
