"""A throwaway PostgreSQL for the benchmarks (Debian's binaries, as tests/server/conftest.py
uses): ``initdb`` into a temporary directory, ``pg_ctl start`` with ``fsync=on`` (the
server refuses fsync off) listening on a Unix socket only, stopped and removed at exit.
As root the binaries run as the ``postgres`` user (``runuser``), as in the tests.

Also: the CPU seconds of a PostgreSQL server's processes (the postmaster and its backends,
from /proc), so a benchmark can count the database's CPU beside the app's.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from _http_load import tree_cpu_seconds

#: ``--database-url`` value that asks for a throwaway PostgreSQL.
TEMPORARY = "temp-postgresql"


def _binary(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise SystemExit("PostgreSQL is not installed (apt-get install -y postgresql)")
    return found[-1]


def _run(args: list[str]) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(prefix + args, check=True, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextlib.contextmanager
def temporary_postgresql() -> Iterator[tuple[str, int]]:
    """(URL of an empty database ``bench``, postmaster pid) of a fresh PostgreSQL server."""
    home = Path(tempfile.mkdtemp(prefix="crashveil-bench-pg-"))
    home.chmod(0o755)
    data, sock = home / "data", home / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
        shutil.chown(sock, "postgres")
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    try:
        _run([_binary("initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8"])
        options = f"-c fsync=on -c listen_addresses='' -c unix_socket_directories={sock} -c max_connections=100"
        _run([_binary("pg_ctl"), "start", "-w", "-D", str(data), "-o", options, "-l", str(home / "log")])
        pid = int((data / "postmaster.pid").read_text().split()[0])
        _run([_binary("createdb"), "-h", str(sock), "-U", user, "bench"])
        yield f"postgresql://{user}@/bench?host={sock}", pid
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            _run([_binary("pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(data)])
        shutil.rmtree(home, ignore_errors=True)


def postgres_cpu_seconds(postmaster: int | None) -> float:
    """CPU seconds of the postmaster ``postmaster`` and its backends; without a pid (an
    external server), of every process named ``postgres`` on this machine."""
    if postmaster is not None:
        return tree_cpu_seconds(postmaster)
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat[stat.index("(") + 1:stat.rindex(")")] == "postgres":
            fields = stat[stat.rindex(")") + 2:].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def process_cpu_seconds(pids: set[int]) -> float | None:
    """User + system CPU seconds of the processes ``pids`` (e.g. the backends serving one
    engine's connections), from /proc; ``None`` when none is visible (a server elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, seen = 0.0, False
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += (int(fields[11]) + int(fields[12])) / tick
        seen = True
    return total if seen else None


def analyze(url: str) -> None:
    """``ANALYZE`` the database of ``url``: what autovacuum does on a live server within its
    first minute (50 rows changed, then its next pass), done at once after a benchmark's warm-up.

    A fresh database has no statistics. Until it has, PostgreSQL's planner cannot tell the
    unique (project, report id) index from the other (project, ...) indexes, and the plan a
    connection prepares for the ingest's report-id lookup may read every report of the project
    for each id (measured: 2 ms of database CPU per batch of 16 at 1,500 reports, growing with
    them). A run of a few seconds on a fresh database would time that, not the steady state.
    The server's writer now asks for them itself after its first 256 reports
    (``storage/statistics.py``); a benchmark's warm-up may store fewer, so it asks too.
    """
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
