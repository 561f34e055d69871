"""``crashveil keys rotate`` with nothing narrowing it (every project, KEK and project keys)
asks first, naming what it would rotate; ``--yes`` skips the question; with no terminal to
ask on and no ``--yes`` it refuses in one line and rotates nothing."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")


def _env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("CRASHVEIL_")}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crashveil", *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, env=_env())


def in_terminal(args: list[str], answer: bytes, *, prompt: bytes = b"Go on?",
                timeout_s: float = 60.0) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal, answer its question, return (exit code, everything it printed)."""
    master, slave = os.openpty()
    process = subprocess.Popen([sys.executable, "-m", "crashveil", *args], stdin=slave, stdout=slave, stderr=slave,
                               env=_env(), close_fds=True)
    os.close(slave)
    seen = b""
    answered = False
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if not answered and prompt in seen:
                os.write(master, answer + b"\n")
                answered = True
            if process.poll() is not None and not ready:
                break
        return process.wait(timeout=30), seen.decode(errors="replace")
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()


def _rotations(root: Path) -> int:
    done = cli("keys", "list", "--server-dir", str(root))
    assert 0 == done.returncode, done.stderr
    return sum(1 for line in done.stdout.splitlines() if "kek" in line)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "srv"
    done = cli("server", "init", str(path), "--suite", "x25519")
    assert 0 == done.returncode, done.stderr
    return path


def test_without_a_terminal_and_without_yes_nothing_is_rotated(root: Path) -> None:
    keks = _rotations(root)
    done = cli("keys", "rotate", "--server-dir", str(root))
    assert 1 == done.returncode and "Traceback" not in done.stderr
    assert ["Error: refusing without confirmation: stdin is not a terminal (pass --yes to go on)"] == \
        done.stderr.strip().splitlines()
    assert keks == _rotations(root)
    assert 0 == cli("keys", "rotate", "--yes", "--server-dir", str(root)).returncode
    assert keks + 1 == _rotations(root)


def test_the_question_names_what_is_rotated_and_no_keeps_everything(root: Path) -> None:
    keks = _rotations(root)
    code, printed = in_terminal(["keys", "rotate", "--server-dir", str(root)], b"n")
    assert 1 == code, printed
    assert "rotate EVERY key: the KEK (all data keys are rewrapped)" in printed
    assert "1 project(s) (demo)" in printed and "nothing done (not confirmed)" in printed
    assert keks == _rotations(root)
    code, printed = in_terminal(["keys", "rotate", "--server-dir", str(root)], b"y")
    assert 0 == code, printed
    assert "project demo: new keys" in printed and keks + 1 == _rotations(root)


def test_a_narrowed_rotation_does_not_ask(root: Path) -> None:
    done = cli("keys", "rotate", "--project", "demo", "--server-dir", str(root))
    assert 0 == done.returncode, done.stderr
