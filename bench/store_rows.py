"""The write path alone: ``Storage.store_rows`` on batches of reports, no HTTP, no sealing.

For each batch size (``--batches 8,32``) and engine (a fresh SQLite file; a throwaway
PostgreSQL, or ``--database-url``), a child process of this tree (and with ``--against
OTHER/src`` of that tree too) prepares its database with its own code, builds the rows
(``Storage.row``: fingerprint, detail, sealing) before timing, then stores ``--reports``
of them batch by batch. Runs are interleaved ``--repeats`` times. Prints medians per
stored report: wall time, the writer process's CPU, PostgreSQL's own CPU (its processes,
from /proc), and this tree / base ratios.

The reports cycle through 50 crash types (the groups exist after the first batches, as on
a running server) from new installations, as ``bench/ingest.py`` sends them.

    python bench/store_rows.py [--batches 8,32] [--reports 2000] [--repeats 3]
        [--database-url URL|temp-postgresql] [--against ../main/src]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _engines import _create_database
from _postgres import TEMPORARY, analyze, postgres_cpu_seconds, temporary_postgresql
from _table import median, print_table

_HERE = Path(__file__).resolve()
SQLITE, POSTGRESQL = "SQLite", "PostgreSQL"
#: The table's figures: (engine, field) per column.
_COLUMNS = ((SQLITE, "wall_us"), (SQLITE, "cpu_us"), (POSTGRESQL, "wall_us"), (POSTGRESQL, "cpu_us"),
            (POSTGRESQL, "db_us"))


def child(server_dir: Path, url: str | None, batch: int, count: int, postmaster: int | None) -> dict[str, float]:
    """Store ``count`` new reports in batches of ``batch`` (this process runs one tree's code)."""
    from ingest import _settings, prepare

    from crashveil.policy import compute_fingerprint
    from crashveil.server.storage.records import PendingReport, StoreRow
    from crashveil.server.storage.store import Storage
    from crashveil.wire import Environment, Frame, Report, Stack

    if not any(server_dir.iterdir()):
        prepare(server_dir, "x25519", url)
    storage = Storage.open(_settings(server_dir, "x25519", 0, url))
    try:
        project = storage.project("demo")
        assert project is not None
        now = datetime.now(UTC)
        hour = now.strftime("%Y-%m-%dT%H:00Z")
        frames = tuple(Frame(f"app/module_{i}.py", f"function_{i}", 10 + i, True) for i in range(30))

        def rows(n: int) -> list[StoreRow]:
            out = []
            for index in range(n):
                crash_type = f"ValueError{index % 50}"
                report = Report(schema_version=1, policy_digest=project.digest, consent_level="diagnostic",
                                report_id=str(uuid.uuid4()), crash_type=crash_type,
                                fingerprint=compute_fingerprint(crash_type, frames), stack=Stack(frames),
                                release="1.4.2", environment=Environment("linux", "6", "cpython", "3.11", "x86_64"),
                                occurred_hour=hour, install_id=uuid.uuid4().hex,
                                message="invalid literal for int() with base 10: <quoted>")
                out.append(storage.row(PendingReport("demo", report, "crashveil-sdk", now, {})))
            return out

        warm = rows(10 * batch)  # the groups, the day's data key (then rows are sealed in advance)
        for start in range(0, len(warm), batch):
            storage.store_rows(warm[start:start + batch])
        if url:
            analyze(url)  # the statistics a live server has (see _postgres.analyze)
        timed = rows(count)
        cpu, db_cpu, wall = time.process_time(), postgres_cpu_seconds(postmaster) if url else 0.0, time.perf_counter()
        for start in range(0, len(timed), batch):
            storage.store_rows(timed[start:start + batch])
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
        db_cpu = postgres_cpu_seconds(postmaster) - db_cpu if url else 0.0
    finally:
        storage.close()
    return {"wall_us": wall * 1e6 / count, "cpu_us": cpu * 1e6 / count, "db_us": db_cpu * 1e6 / count}


def _run(src: Path, server_dir: Path, url: str | None, batch: int, count: int, postmaster: int | None
         ) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(_HERE.parent)])}
    cmd = [sys.executable, str(_HERE), "--child", str(server_dir), "--batch", str(batch), "--reports", str(count),
           "--postmaster", str(postmaster or 0)] + (["--database-url", url] if url else [])
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def compare(args: argparse.Namespace, work: Path, pg_url: str, postmaster: int | None) -> None:
    trees = [("this", _HERE.parents[1] / "src")] + ([("base", Path(args.against).resolve())] if args.against else [])
    targets: list[tuple[str, Path, str, int, Path, str | None]] = []
    for tree, src in trees:
        for batch in args.batches:
            for engine in (SQLITE, POSTGRESQL):
                server_dir = work / f"{tree}-{engine.lower()}-{batch}"
                server_dir.mkdir()
                url = _create_database(pg_url, f"rows_{tree}_{batch}") if engine == POSTGRESQL else None
                targets.append((tree, src, engine, batch, server_dir, url))
    samples: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    for repeat in range(args.repeats):
        for tree, src, engine, batch, server_dir, url in targets:
            sample = _run(src, server_dir, url, batch, args.reports, postmaster if url else None)
            samples.setdefault((tree, engine, batch), []).append(sample)
            print(f"  repeat {repeat + 1}: {tree} {engine} batch {batch}: {sample['wall_us']:.0f} us wall, "
                  f"{sample['cpu_us']:.0f} us CPU, {sample['db_us']:.0f} us PG CPU per report", file=sys.stderr)

    def med(key: tuple[str, str, int], field: str) -> float:
        return median([s[field] for s in samples[key]])

    print(f"\n{args.repeats} interleaved runs of {args.reports} reports, {os.cpu_count()} CPUs; medians, us per report")
    rows = []
    for tree, _ in trees:
        for batch in args.batches:
            rows.append([tree, batch] + [f"{med((tree, engine, batch), field):.0f}" for engine, field in _COLUMNS])
    print_table(["tree", "batch", "SQLite wall", "SQLite CPU", "PG wall", "PG writer CPU", "PG server CPU"], rows)
    if args.against:
        print("\nthis tree / base (medians):")
        print_table(["batch", "SQLite wall", "SQLite CPU", "PG wall", "PG writer CPU", "PG server CPU"],
                    [[batch] + [f"{med(('this', engine, batch), field) / med(('base', engine, batch), field):.2f}x"
                                for engine, field in _COLUMNS] for batch in args.batches])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", default="8,32")
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database-url", default=TEMPORARY, help="an empty PostgreSQL server's admin URL, or "
                        "'temp-postgresql' for a throwaway one")
    parser.add_argument("--against", help="also run this source tree (another checkout's src/) and print ratios")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--postmaster", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url = None if args.database_url == TEMPORARY else args.database_url
        print(json.dumps(child(args.child, url, args.batch, args.reports, args.postmaster or None)))
        return
    args.batches = [int(n) for n in args.batches.split(",")]
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        if args.database_url == TEMPORARY:
            pg_url, postmaster = stack.enter_context(temporary_postgresql())
        else:
            pg_url, postmaster = args.database_url, None
        compare(args, Path(tmp), pg_url, postmaster)


if __name__ == "__main__":
    main()
