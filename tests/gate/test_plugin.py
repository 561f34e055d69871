"""The pytest plugin end to end: an app's canary tests run in a subprocess, as an app's CI would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

from crashveil.policy import default_policy_path

LEAKY_APP = '''
import os
from pathlib import Path

import crashveil

HERE = Path(__file__).resolve().parent


def start():
    crashveil.init(app_name="leaky", policy=str(HERE / "policy.toml"), app_root=str(HERE))


def greet(email):
    raise ValueError(f"cannot greet {email}")


def open_note():
    return (Path.home() / "notes.txt").read_text()


def sync():
    raise RuntimeError("the server refused token " + os.environ["LEAKY_TOKEN"])


def parse(text):
    try:
        return int(text)
    except ValueError as exc:
        raise LookupError("cannot parse the entry") from exc
'''

LEAKY_TESTS = '''
import pytest

import leaky

pytestmark = pytest.mark.crashveil_canaries


def test_message(canaries, crashveil_capture):
    leaky.start()
    crashveil_capture.crash(leaky.greet, canaries.email)


def test_path(canaries, crashveil_capture):
    leaky.start()
    crashveil_capture.crash(leaky.open_note)


def test_environment(canaries, crashveil_capture):
    canaries.setenv("LEAKY_TOKEN", "token")
    leaky.start()
    crashveil_capture.crash(leaky.sync)


def test_chain(canaries, crashveil_capture):
    leaky.start()
    crashveil_capture.crash(leaky.parse, canaries.user_input)
'''

UNMARKED_TEST = '''
def test_ordinary():
    assert 2 == 1 + 1
'''


def plugin_args() -> list[str]:
    """``-p crashveil.gate.pytest_plugin`` while the installed ``pytest11`` entry point is not it
    (not installed, or installed from a tree where the plugin had another module path)."""
    installed = {entry.name: entry.value for entry in metadata.entry_points(group="pytest11")}.get("crashveil")
    if installed == "crashveil.gate.pytest_plugin":
        return []
    return ["-p", "no:crashveil", "-p", "crashveil.gate.pytest_plugin"]


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pytest on ``directory`` in a fresh interpreter, as an app's CI does."""
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *plugin_args(), *args],
                          cwd=directory, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              filter(None, [str(directory), os.environ.get("PYTHONPATH")]))})


def _app(tmp_path: Path, detectors: list[str] | None) -> Path:
    """The leaky app with the default policy, or with only ``detectors`` switched on."""
    policy = default_policy_path().read_text(encoding="utf-8")
    if detectors is not None:
        policy = re.sub(r"detectors = \[.*?\]", f"detectors = {detectors!r}".replace("'", '"'), policy, flags=re.S)
    (tmp_path / "policy.toml").write_text(policy, encoding="utf-8")
    (tmp_path / "leaky.py").write_text(LEAKY_APP, encoding="utf-8")
    (tmp_path / "test_leaky.py").write_text(LEAKY_TESTS, encoding="utf-8")
    (tmp_path / "test_unmarked.py").write_text(UNMARKED_TEST, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    return tmp_path


def test_canaries_leaking_through_weak_redaction_are_caught(tmp_path: Path) -> None:
    """With redaction switched off, the plugin fails each test naming the field and the placeholder."""
    result = run_pytest(_app(tmp_path, ["uuid"]), "--crashveil-canaries")
    out = result.stdout
    assert 1 == result.returncode, out + result.stderr
    assert "4 failed, 1 deselected" in out
    expected = [
        "report[0] field message: planted email leaks (as planted); expected the placeholder <email> there",
        "report[0] field message: planted home_path leaks (as planted); expected the placeholder <user> there",
        "report[0] field message: planted user_name leaks (as planted); expected the placeholder <user> there",
        "report[0] field message: planted token leaks (as planted); expected the placeholder <secret> there",
        "report[0] field chain[0].message: planted user_input leaks (as planted); expected the placeholder "
        "<input> there",
    ]
    assert [True] * len(expected) == [line in out for line in expected]


def test_clean_app_passes(tmp_path: Path) -> None:
    """The same app under the default policy's redaction lets no canary out: all canary tests pass."""
    result = run_pytest(_app(tmp_path, None), "--crashveil-canaries")
    assert (0, True) == (result.returncode, "4 passed, 1 deselected" in result.stdout), result.stdout


def test_without_the_flag_canary_tests_are_skipped(tmp_path: Path) -> None:
    """Without ``--crashveil-canaries`` the marked tests are skipped and the others run as usual."""
    result = run_pytest(_app(tmp_path, ["uuid"]), "-rs")
    assert (0, True) == (result.returncode, "1 passed, 4 skipped" in result.stdout), result.stdout


def test_plugin_is_silent_in_suites_that_do_not_use_it(tmp_path: Path) -> None:
    """A suite without crashveil tests runs unchanged, and loading the plugin imports no SDK module."""
    (tmp_path / "test_unmarked.py").write_text(UNMARKED_TEST + textwrap.dedent('''
        import sys

        def test_no_sdk_loaded():
            assert [] == sorted(name for name in sys.modules if name.startswith(("crashveil.sdk", "crashveil.policy")))
    '''), encoding="utf-8")
    result = run_pytest(tmp_path)
    assert (0, True) == (result.returncode, "2 passed" in result.stdout), result.stdout


def test_capture_restores_the_null_client(tmp_path: Path) -> None:
    """After a capturing test, ``crashveil`` is back to the null client (nothing stays installed)."""
    (tmp_path / "test_after.py").write_text(textwrap.dedent('''
        import sys
        import crashveil

        def test_capture(crashveil_capture):
            crashveil.init(app_name="after")
            assert "diagnostic" == crashveil.level()

        def test_after():
            assert ("off", sys.__excepthook__) == (crashveil.level(), sys.excepthook)
    '''), encoding="utf-8")
    result = run_pytest(tmp_path)
    assert (0, True) == (result.returncode, "2 passed" in result.stdout), result.stdout
