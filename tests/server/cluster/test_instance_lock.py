"""``run`` refuses a second instance on a port of its directory that is already served."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crashveil.errors import ClusterError
from crashveil.server.cluster.instance_lock import instance_lock

from .conftest import run_cli, servers


def test_a_held_port_lock_names_its_pid(tmp_path: Path) -> None:
    with instance_lock(tmp_path, [8443]):
        with (pytest.raises(ClusterError, match=f"port 8443 of .* is already served by PID {os.getpid()}"),
              instance_lock(tmp_path, [9999, 8443])):
            pass
        with instance_lock(tmp_path, [9999]):  # another port is free; the lock of 9999 was let go above
            pass
    with instance_lock(tmp_path, [8443]):  # released at exit
        pass


@pytest.mark.parametrize("workers", ["1", "2"])
def test_second_run_on_the_same_directory_and_port_is_refused(tmp_path: Path, workers: str) -> None:
    server_dir = servers.init_server_dir(tmp_path / "server")
    first = servers.Server(server_dir, tmp_path / "server.log", environ={"CRASHVEIL_WORKERS": workers}).start()
    try:
        second = run_cli("server", "run", "--server-dir", str(server_dir.path),
                         env={"CRASHVEIL_PORT": str(first.port), "CRASHVEIL_WEB_PORT": str(first.web_port),
                              "CRASHVEIL_WORKERS": workers})
        assert first.process is not None
        last = second.stderr.strip().splitlines()[-1]
        assert (1, True) == (second.returncode, f"already served by PID {first.process.pid}" in last), second.stderr
        assert first.alive()
    finally:
        first.stop()
