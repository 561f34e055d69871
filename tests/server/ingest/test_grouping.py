"""Grouping: server-side fingerprints, release ordering and status transitions."""

from __future__ import annotations

import dataclasses

import pytest

from crashveil.server.ingest.grouping import on_new_report, release_is_after, report_fingerprint
from crashveil.wire import Frame, Stack


@pytest.mark.parametrize(("release", "than", "expected"), [
    ("1.10", "1.2", True),
    ("1.2", "1.10", False),
    ("1.2", "1.2", False),
    ("1.2.1", "1.2", True),
    ("2.0.0rc1", "1.9", True),
    ("2.0.0rc1", "2.0.0", False),
    ("build-20260501", "build-20260430", True),
    ("v3", "2.9", True),
    ("nightly", "1.0", False),
    (None, "1.0", False),
    ("1.0", None, True),
])
def test_release_is_after(release: str | None, than: str | None, expected: bool) -> None:
    """Releases order as PEP 440 versions, else by their numbers; unorderable ones never regress."""
    assert expected == release_is_after(release, than)


@pytest.mark.parametrize(("status", "resolved_in", "release", "expected"), [
    ("open", None, "2.0", ("open", False)),
    ("resolved", "1.2", "1.1", ("resolved", False)),
    ("resolved", "1.2", "1.2", ("regressed", True)),  # fixed in 1.2: a 1.2 crash is a regression (0014)
    ("resolved", "1.2", "1.3", ("regressed", True)),
    ("resolved", None, "1.0", ("regressed", True)),
    ("regressed", "1.2", "1.4", ("regressed", False)),
    ("ignored", "1.2", "9.9", ("ignored", False)),
])
def test_transitions(status: str, resolved_in: str | None, release: str, expected: tuple[str, bool]) -> None:
    """A new report moves a group only from resolved to regressed, for the fixed release or a later one."""
    result = on_new_report(status, resolved_in, release)
    assert expected == (result.status, result.regressed)


def test_fingerprint_ignores_client_value_and_lines(make_report) -> None:  # type: ignore[no-untyped-def]
    """The server's fingerprint depends on type and in-app path, not on the client's claim or lines."""
    report = make_report()
    forged = dataclasses.replace(report, fingerprint="v1:" + "f" * 32)
    moved = dataclasses.replace(report, stack=Stack(tuple(dataclasses.replace(f, line=f.line + 7)
                                                          for f in report.stack.frames)))
    other = dataclasses.replace(report, stack=Stack((Frame("app/other.py", "run", 1, True),)))
    assert report_fingerprint(report) == report_fingerprint(forged) == report_fingerprint(moved)
    assert report.fingerprint == report_fingerprint(report)
    assert report_fingerprint(report) != report_fingerprint(other)
