"""`crashveil release check R` fails when the server had to redact what a release's SDK sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from crashveil.cli.app import cli
from crashveil.server.governance.release_gate import check_release

RECEIVED = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


@pytest.fixture
def run(storage, monkeypatch):  # type: ignore[no-untyped-def]
    """Invoke the server CLI on the storage fixture's server directory."""
    settings = storage.settings
    settings.settings_path.write_text(settings.to_toml())
    monkeypatch.setenv("CRASHVEIL_SERVER_DIR", str(settings.server_dir))
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    return invoke


def _store(storage, make_report, release: str, hits, dropped=()) -> None:  # type: ignore[no-untyped-def]
    storage.store_report("demo", make_report(release=release), origin="crashveil-sdk", received_at=RECEIVED,
                         redaction_hits=hits, dropped_fields=list(dropped))


def test_clean_release_passes(storage, make_report, run) -> None:  # type: ignore[no-untyped-def]
    """A release whose reports needed no server-side redaction passes with exit 0."""
    _store(storage, make_report, "2.0.0", {})
    code, output = run("release", "check", "2.0.0", "--project", "demo")
    assert (0, "crashveil release check: passed (project demo, release 2.0.0)") == (code, output.splitlines()[0])


def test_release_with_server_redactions_fails_naming_field_and_detector(storage, make_report, run) -> None:  # type: ignore[no-untyped-def]
    """Any server-side hit fails the release, naming the field and the placeholder kind."""
    _store(storage, make_report, "2.1.0", {("message", "email"): 2})
    _store(storage, make_report, "2.0.0", {})
    code, output = run("release", "check", "2.1.0", "--project", "demo")
    assert (1, True) == (code, "field message: 2 x <email>" in output)
    assert {("message", "email"): 2} == check_release(storage.engine, "demo", "2.1.0").hits
    assert {} == check_release(storage.engine, "demo", "2.0.0").hits


def test_dropped_fields_fail_only_when_strict(storage, make_report, run) -> None:  # type: ignore[no-untyped-def]
    """Fields outside the policy are listed; they fail the check only with --strict."""
    _store(storage, make_report, "3.0.0", {}, dropped=["hostname"])
    assert 0 == run("release", "check", "3.0.0", "--project", "demo")[0]
    code, output = run("release", "check", "3.0.0", "--project", "demo", "--strict", "--format", "json")
    document = json.loads(output)
    assert (1, False, [{"field": "hostname", "count": 1}]) == (code, document["passed"], document["dropped_fields"])


def test_unknown_project_is_a_usage_error(run) -> None:  # type: ignore[no-untyped-def]
    """Checking a project that does not exist is a clear usage error (exit 2)."""
    code, output = run("release", "check", "1.0", "--project", "nope")
    assert (2, True) == (code, "no project 'nope'" in output)


def test_unknown_release_fails_naming_it_and_the_known_ones(storage, make_report, run) -> None:  # type: ignore[no-untyped-def]
    """A release no report came from (a typo, a release not rolled out) fails in one line naming
    it and listing the known releases: it must not pass the gate as clean."""
    code_empty, output_empty = run("release", "check", "2.0.0", "--project", "demo")
    _store(storage, make_report, "2.0.0", {})
    _store(storage, make_report, "2.1.0", {("message", "email"): 1})
    code, output = run("release", "check", "2.0.1", "--project", "demo")
    assert (2, 1) == (code, len(output.strip().splitlines())), output
    assert "unknown release '2.0.1' in project demo" in output
    assert "known releases, newest first: " in output and "2.0.0" in output and "2.1.0" in output
    assert (2, True) == (code_empty, "no release has reported to it yet" in output_empty)
