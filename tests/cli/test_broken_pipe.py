"""Output piped into a reader that stops early ends quietly: no ``BrokenPipeError`` traceback
from any command that prints lists, nor from the help (one guard in ``crashveil.cli.app.main``)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")

CRASHVEIL = [sys.executable, "-m", "crashveil"]


def _run(*args: str) -> str:
    done = subprocess.run([*CRASHVEIL, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CRASHVEIL_NEW_PASSWORD": "pipe-test-password"})
    assert 0 == done.returncode, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A server directory with enough audit entries that ``audit log`` overflows a pipe's buffer."""
    from crashveil.server.db.engine import write_tx
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.settings import Settings
    from crashveil.server.storage.store import Storage

    directory = tmp_path_factory.mktemp("pipe") / "server"
    _run("server", "init", str(directory), "--suite", "x25519")
    _run("server", "issue-client-cert", "app-1", "--server-dir", str(directory))
    _run("user", "add", "pat", "--server-dir", str(directory))
    settings = Settings.load(directory, environ={})
    storage = Storage.open(settings)
    try:
        trail = AuditTrail.for_server_dir(storage.engine, directory)
        with write_tx(storage.engine) as conn:  # one transaction; the checkpoint follows below
            for number in range(1200):
                trail.record("client_cert.issue", actor="os:pipe-test", subject=f"client_cert:{number:040x}",
                             detail={"name": f"bulk-{number}"}, conn=conn)
        trail.checkpoint()
    finally:
        storage.close()
    return directory


LISTS = [
    (),  # no command: the help
    ("server",),
    ("policy", "notice"),
    ("policy", "show"),
    ("server", "list-client-certs", "--server-dir", "{dir}"),
    ("project", "list", "--server-dir", "{dir}"),
    ("keys", "list", "--server-dir", "{dir}"),
    ("user", "list", "--server-dir", "{dir}"),
    ("audit", "log", "--server-dir", "{dir}"),
    ("audit", "report", "--format", "json", "--server-dir", "{dir}"),
]


@pytest.mark.parametrize("args", LISTS, ids=lambda a: " ".join(a[:2]) or "help")
def test_stdout_closed_before_the_first_write_ends_quietly(args: tuple[str, ...], server_dir: Path) -> None:
    """The reader is gone before the command writes a byte (the deterministic case)."""
    argv = [a.format(dir=server_dir) for a in args]
    child = subprocess.Popen([*CRASHVEIL, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    code = child.wait(timeout=120)
    errors = child.stderr.read().decode()
    child.stderr.close()
    assert (1, "") == (code, errors)


def test_piped_into_head_ends_quietly(server_dir: Path, tmp_path: Path) -> None:
    """``crashveil audit log | head -n1``: more than a pipe's buffer, cut after one line."""
    args = ["audit", "log", "--limit", "5000", "--server-dir", str(server_dir)]
    command = " ".join(shlex.quote(a) for a in [*CRASHVEIL, *args])
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {command} 2>err.txt | head -n1; echo rc=$?"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "LC_ALL": "C.UTF-8"})
    first, status = done.stdout.splitlines()
    assert first.strip()
    assert ("rc=1", "") == (status, (tmp_path / "err.txt").read_text())
