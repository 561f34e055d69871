"""The project's own CI runs the privacy gate on ``examples/notes_app``, as an adopting app would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from crashveil.gate.check import check_policy

from .test_plugin import plugin_args

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "notes_app"


def test_example_policy_passes_the_gate() -> None:
    """``crashveil check`` passes on the example: valid policy, reviewed baseline, no unreviewed change."""
    result = subprocess.run([sys.executable, "-m", "crashveil", "check"], cwd=EXAMPLE, capture_output=True,
                            text=True, timeout=60)
    assert (0, "crashveil check: passed") == (result.returncode, result.stdout.splitlines()[0]), result.stdout


def test_example_gate_names_its_review() -> None:
    """The example's policy is covered by its committed initial review record."""
    result = check_policy(EXAMPLE / "crashveil.policy.toml")
    assert ([], ["reviews/2026-11-27-initial.md"]) == (list(result.problems), [r.source for r in result.reviews])


def _example_env() -> dict[str, str]:
    """The environment for the example's own pytest run: ours, minus this run's pytest/xdist state."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "PYTHONBREAKPOINT"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(EXAMPLE), os.environ.get("PYTHONPATH")]))
    return env


def test_example_canary_tests_pass() -> None:
    """The example app's canary tests pass under ``--crashveil-canaries``: no planted value leaves."""
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *plugin_args(),
                             "--crashveil-canaries"], cwd=EXAMPLE, capture_output=True, text=True, timeout=300,
                            env=_example_env())
    assert (0, True) == (result.returncode, "5 passed, 5 deselected" in result.stdout), result.stdout + result.stderr


def test_example_ordinary_tests_pass() -> None:
    """The example app's ordinary tests pass, with its canary tests skipped."""
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *plugin_args()],
                            cwd=EXAMPLE, capture_output=True, text=True, timeout=300,
                            env=_example_env())
    assert (0, True) == (result.returncode, "5 passed, 5 skipped" in result.stdout), result.stdout + result.stderr
