"""``bench/ingest.py --processes 1,2,3``: stored reports/s and CPU per stored report on SQLite
and on one PostgreSQL, for 1, 2 and 3 server processes, interleaved in one run.

Each repeat runs every (source tree, engine, process count) once, in that order, so a
machine that gets busier or quieter during the run weighs on every column alike. Each
(source tree, engine) has its own database, migrated by that tree's code (``--against SRC``
adds a second tree, e.g. a checkout of main, so a change is measured beside its base). A run
starts a fresh server (``--serve`` of ``bench/ingest.py`` with the tree first on
PYTHONPATH), sends a few hundred reports to warm it (not timed), then times ``--seconds`` of
load with reports sealed just before the run. CPU per stored report is the server's
processes plus, on PostgreSQL, the database server's (its postmaster's process tree).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from _http_load import listeners, run_load, tree_cpu_seconds
from _postgres import analyze, postgres_cpu_seconds
from _table import median, print_table

SQLITE, POSTGRESQL = "SQLite", "PostgreSQL"
_BENCH = Path(__file__).resolve().parent
_INGEST = _BENCH / "ingest.py"


@dataclasses.dataclass
class Target:
    """One database of one source tree."""

    tree: str  # "this" or "base"
    src: Path
    engine: str
    server_dir: Path
    url: str | None  # None: SQLite in server_dir


@dataclasses.dataclass
class Sample:
    stored_per_s: float
    cpu_us: float  # server + database server, per stored report
    db_us: float


def _env(src: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(_BENCH)])}


def _create_database(admin_url: str, name: str) -> str:
    """A new database ``name`` on the server of ``admin_url``; its URL."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base, _, query = admin_url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def targets(args: argparse.Namespace, work: Path, pg_url: str) -> list[Target]:
    """The databases to run on, each prepared (migrated, KEK, project) by its own tree."""
    trees = [("this", Path(__file__).resolve().parents[1] / "src")]
    if args.against:
        trees.append(("base", Path(args.against).resolve()))
    out = []
    for tree, src in trees:
        for engine in (SQLITE, POSTGRESQL):
            server_dir = work / f"{tree}-{engine.lower()}"
            server_dir.mkdir()
            url = _create_database(pg_url, f"bench_{tree}") if engine == POSTGRESQL else None
            subprocess.run([sys.executable, str(_INGEST), "--prepare", str(server_dir), "--suite", args.suite]
                           + (["--database-url", url] if url else []), env=_env(src), check=True)
            out.append(Target(tree, src, engine, server_dir, url))
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_once(args: argparse.Namespace, target: Target, processes: int, postmaster: int | None) -> Sample:
    """Serve ``target`` with ``processes`` front processes and time one ingest run."""
    from ingest import _request, seal_many

    port = _free_port()
    cmd = [sys.executable, str(_INGEST), "--serve", str(target.server_dir), str(port), "--suite", args.suite,
           "--workers", str(processes)] + (["--database-url", target.url] if target.url else [])
    sealed = seal_many(target.server_dir, args.suite, int(args.expect_rate * args.seconds) + 300, target.url)
    requests = [_request("/api/v1/projects/demo/reports", body) for body in sealed]
    server = subprocess.Popen(cmd, env=_env(target.src))
    try:
        deadline = time.monotonic() + 60
        while listeners(port) < processes and time.monotonic() < deadline:
            time.sleep(0.1)
        warm, requests = requests[:300], requests[300:]
        asyncio.run(run_load(port, warm, 10.0, args.concurrency))
        if target.url:
            analyze(target.url)  # the statistics a live server has (see _postgres.analyze)
        cpu_before = tree_cpu_seconds(server.pid)
        db_before = postgres_cpu_seconds(postmaster) if target.url else 0.0
        elapsed, _, statuses = asyncio.run(run_load(port, requests, args.seconds, args.concurrency))
        cpu = tree_cpu_seconds(server.pid) - cpu_before
        db_cpu = postgres_cpu_seconds(postmaster) - db_before if target.url else 0.0
    finally:
        server.terminate()
        server.wait(timeout=60)
    stored = statuses.get(201, 0)
    if stored == 0 or set(statuses) - {201}:
        print(f"  {target.tree} {target.engine} x{processes}: statuses {statuses}", file=sys.stderr)
    per = 1e6 / max(1, stored)
    return Sample(stored / elapsed, (cpu + db_cpu) * per, db_cpu * per)


def compare(args: argparse.Namespace, work: Path, pg_url: str, postmaster: int | None) -> None:
    """Run every target at every process count, ``--repeats`` times interleaved; print the tables."""
    runs = targets(args, work, pg_url)
    samples: dict[tuple[str, str, int], list[Sample]] = {}
    for repeat in range(args.repeats):
        for processes in args.processes:
            for target in runs:
                sample = run_once(args, target, processes, postmaster)
                samples.setdefault((target.tree, target.engine, processes), []).append(sample)
                print(f"  repeat {repeat + 1}: {target.tree} {target.engine} x{processes}: "
                      f"{sample.stored_per_s:,.0f}/s, {sample.cpu_us:.0f} us CPU/stored", file=sys.stderr)
    print(f"\n{args.repeats} interleaved runs x {args.seconds:g} s, {args.concurrency} connections, "
          f"{os.cpu_count()} CPUs shared with the client, suite {args.suite}; SQLite synchronous=FULL, "
          "PostgreSQL fsync on (its CPU counted); CPU = server processes + database server, per stored report")
    print_table(["tree", "server processes", "SQLite stored/s", "PostgreSQL stored/s", "PG / SQLite",
                 "SQLite CPU us/stored", "PG CPU us/stored", "of it PG server"], _rows(samples, args.processes))
    if args.against:
        print("\nthis tree / base (medians):")
        print_table(["server processes", "SQLite stored/s", "PostgreSQL stored/s", "SQLite CPU/stored",
                     "PG CPU/stored"], _ratio_rows(samples, args.processes))


def _med(samples: list[Sample], field: str) -> float:
    return median([getattr(s, field) for s in samples])


def _label(processes: int) -> str:
    return "1" if processes == 1 else f"{processes} fronts + writer"


def _rows(samples: dict[tuple[str, str, int], list[Sample]], counts: list[int]) -> list[list[str]]:
    rows = []
    for tree in ("this", "base"):
        for processes in counts:
            lite, pg = samples.get((tree, SQLITE, processes)), samples.get((tree, POSTGRESQL, processes))
            if not lite or not pg:
                continue
            lite_rate, pg_rate = _med(lite, "stored_per_s"), _med(pg, "stored_per_s")
            rows.append([tree, _label(processes), f"{lite_rate:,.0f}", f"{pg_rate:,.0f}", f"{pg_rate / lite_rate:.2f}x",
                         f"{_med(lite, 'cpu_us'):.0f}", f"{_med(pg, 'cpu_us'):.0f}", f"{_med(pg, 'db_us'):.0f}"])
    return rows


def _ratio_rows(samples: dict[tuple[str, str, int], list[Sample]], counts: list[int]) -> list[list[str]]:
    rows = []
    for processes in counts:
        cells = [_label(processes)]
        for field in ("stored_per_s", "cpu_us"):
            for engine in (SQLITE, POSTGRESQL):
                this, base = samples[("this", engine, processes)], samples[("base", engine, processes)]
                cells.append(f"{_med(this, field) / _med(base, field):.2f}x")
        rows.append([cells[0], cells[1], cells[2], cells[3], cells[4]])
    return rows
