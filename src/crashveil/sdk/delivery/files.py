"""The durable file operations under the SDK's queue and limiter state.

An exclusive ``flock`` on a fresh file description (threads and forked processes exclude each
other; a forked child closes the locks it inherited at once), an exclusive-create write that
is fsynced before it is renamed into place, a directory fsync, and an unlink that never
raises. Standard library only; ``fcntl`` is imported on first lock.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["flock", "fsync_dir", "try_unlink", "write_durably"]


@contextmanager
def flock(path: Path, *, blocking: bool) -> Iterator[bool]:
    """An exclusive ``flock`` on a fresh file description; yields whether it was taken.

    Without ``fcntl`` (Windows) this yields ``True`` and locks nothing.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield True
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    _held_fds.add(fd)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        if fd in _held_fds:  # not if a forked child already closed its copy (see below)
            _held_fds.discard(fd)
            os.close(fd)  # closing the last descriptor releases the lock


# An flock belongs to the open file description, which fork() shares: a child would keep a
# lock that a parent thread holds at the moment of the fork alive until the child exits,
# blocking the parent and the child. The child closes its copies at once.
_held_fds: set[int] = set()


def _close_inherited_locks() -> None:
    for fd in list(_held_fds):
        try:
            os.close(fd)
        except OSError:
            pass
    _held_fds.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


def write_durably(path: Path, data: bytes, *, sync: bool = True) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def try_unlink(path: Path) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError:
        return False
    return True
