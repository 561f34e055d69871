"""One ``server run`` per server directory and port.

Several front processes share a port with ``SO_REUSEPORT``, so a second ``server run`` of the
same directory would bind the same ports without an error and the kernel would split the
connections between two servers that know nothing of each other (two writers, two sets of
rate limits, two retention schedules). Before it binds anything, ``run`` takes an exclusive
``flock`` on ``DIR/run/port-PORT.lock`` for each of its ports and writes its PID there; a
second ``run`` finds the lock held and stops with the PID that holds it. The kernel drops the
lock when the holder exits, however it exits: a stale file never blocks a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from crashveil.errors import ClusterError

__all__ = ["instance_lock", "lock_path"]


def lock_path(server_dir: Path, port: int) -> Path:
    return server_dir / "run" / f"port-{port}.lock"


@contextlib.contextmanager
def instance_lock(server_dir: Path, ports: Sequence[int]) -> Iterator[None]:
    """Hold the lock of each of ``ports`` while the block runs.

    Raises:
        ClusterError: another process holds one of them (the message names its PID).
    """
    held: list[int] = []
    try:
        for port in ports:
            held.append(_take(lock_path(server_dir, port), port, server_dir))
        yield
    finally:
        for fd in held:
            os.close(fd)  # closing drops the flock


def _take(path: Path, port: int, server_dir: Path) -> int:
    path.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise ClusterError(f"port {port} of {server_dir} is already served by PID {holder} (another 'crashveil "
                           "server run'); stop that one first, or give this one another port") from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd
