"""Sealed reports stored per second over loopback, beside a bare accept-and-drop route.

One uvicorn process (uvloop, httptools) serves the real app (``create_app`` over SQLite in
WAL mode with ``synchronous=FULL``) plus one extra route, ``POST /bare``, that reads the
body and answers 201 without doing anything: the ceiling of the same stack. With
``--workers N`` the server runs as ``crashveil server run`` does with N workers
(``run.run_processes``: N front processes, each with the app and ``/bare``, and one writer
process), so the bare route runs on the same N processes. A client process
with asyncio keeps CONCURRENCY keep-alive connections busy with pre-sealed, unique reports
(each a new report id, so every request is a real insert, not an idempotent retry), for
SECONDS per run, alternating bare and ingest runs REPEATS times. Prints medians of
throughput and latency percentiles, the ratio ingest/bare, and the server's CPU time per
request (all its processes, from /proc; the client's CPU is not in it). The client shares the
CPUs, so the throughput ratio is at most about (server + client CPU per bare request) /
(server + client CPU per stored report): the CPU column shows what bounds it.

One run times each process count of ``--workers`` (default ``1,2``: one front process, then
two fronts and the writer). Besides today's columns (kept, so figures compare across rounds)
the table has: CPU us per *stored* report (server processes plus, on PostgreSQL, the database
server's processes from /proc; per 201 answer), the database's share of it, the server's
resident size (all its processes, VmRSS) at the end of the load and after 2 s idle, and the
ratio of the CPU per stored report to one HPKE open (timed in this process before the runs):
the open is the floor of what a report costs. ``--database-url`` runs on PostgreSQL: an empty
database, or ``temp-postgresql`` for a throwaway server (``_postgres.py``, as the tests start
one); after a warm-up of stored reports it ANALYZEs the database, as autovacuum does on a
live server (``_postgres.analyze``). ``--sustain SECONDS`` then ingests that long with fresh
reports and prints stored/s, CPU per stored report and resident size per step, and after
(memory growth).

Plain HTTP on loopback: TLS costs the same on both routes and would measure the handshake,
not the ingest path. Targets (DESIGN.md): >= 2,000 reports/s with SQLite and >= 40 % of the
bare ceiling. Where the CPU goes: ``bench/profile_ingest.py``.

``--processes 1,2,3`` instead compares the engines: stored reports/s and CPU per stored
report on SQLite and on PostgreSQL for each server process count, runs interleaved, with the
ratio PostgreSQL / SQLite (``_engines.py``); ``--against OTHER/src`` runs another checkout's
server beside this one (each tree migrates its own databases) and adds this / that ratios.

    python bench/ingest.py [--seconds 5] [--repeats 3] [--concurrency 32] [--workers 1,2]
        [--suite mlkem768x25519] [--database-url URL|temp-postgresql] [--sustain 600]
    python bench/ingest.py --processes 1,2,3 [--against ../main/src] [--expect-rate 2500]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _http_load import listeners as _listeners, percentile, run_load, tree_cpu_seconds, tree_rss_bytes
from _postgres import TEMPORARY, analyze, temporary_postgresql
from _table import median, print_table


def _settings(server_dir: Path, suite: str, port: int, url: str | None = None):  # type: ignore[no-untyped-def]
    from crashveil.server.settings import Settings

    return Settings(server_dir=server_dir, database_url=url or f"sqlite:///{server_dir / 'crashveil.db'}", tls=False,
                    port=port, web_port=0, sealing_suite=suite, project_rate_per_s=1e9, project_burst=10**9,
                    pseudonym_rate_per_hour=10**9, mass_failure_per_hour=10**9)


def prepare(server_dir: Path, suite: str, url: str | None = None) -> None:
    """A migrated database (SQLite, or the empty database at ``url``) with a KEK and the ``demo`` project."""
    from crashveil.server.db import engine as db
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.storage.store import Storage

    settings = _settings(server_dir, suite, 0, url)
    FileKeyProvider.create(settings.kek_path, now=datetime.now(UTC))
    engine = db.create_engine(settings.database_url)
    db.migrate(engine)
    engine.dispose()
    storage = Storage.open(settings)
    storage.create_project("demo")
    storage.close()


async def _bare(request: Any) -> Any:
    from starlette.responses import JSONResponse

    await request.body()
    return JSONResponse({"receipt": "bare", "status": "stored"}, status_code=201)


def bare_routes() -> list[Any]:
    """``POST /bare``: read the body, answer 201 (module level: front processes import it)."""
    from starlette.routing import Route

    return [Route("/bare", _bare, methods=["POST"])]


def serve(server_dir: Path, suite: str, port: int, workers: int, url: str | None = None) -> None:
    """Run the app plus ``/bare`` (the child process): one uvicorn process as ``crashveil
    server run`` does, or its front and writer processes with ``workers`` > 1."""
    import uvicorn

    from crashveil.server.http.app import create_app
    from crashveil.server.http.run import run_processes, uvicorn_config
    from crashveil.server.storage.store import Storage

    settings = _settings(server_dir, suite, port, url)
    if workers > 1:
        sys.exit(run_processes(settings, workers, extra_routes=bare_routes))
    storage = Storage.open(settings)
    app = create_app(settings, storage)
    app.router.routes.extend(bare_routes())
    config = uvicorn_config(settings, app)
    config.log_level = 30
    uvicorn.Server(config).run()


def seal_many(server_dir: Path, suite: str, count: int, url: str | None = None, installs: int = 0,
              environments: int = 1) -> list[bytes]:
    """``count`` sealed reports, each with a new report id; each from a new installation, or
    from one of ``installs`` installations (a fleet: their pseudonyms come back); their
    environments cycle through ``environments`` Python patch versions (many: the quasi-identifier
    check's worst case, most combinations shared by fewer than k installations)."""
    from crashveil.policy import compute_fingerprint, policy_digest
    from crashveil.sdk.delivery.seal import seal_report
    from crashveil.server.storage.store import Storage
    from crashveil.wire import Environment, Frame, Report, Stack

    storage = Storage.open(_settings(server_dir, suite, 0, url), check_schema=False)  # another tree's database too
    project = storage.project("demo")
    storage.close()
    key = project.keypairs[0].public_key()
    digest = policy_digest(project.policy)
    hour = datetime.now(UTC).strftime("%Y-%m-%dT%H:00Z")
    frames = tuple(Frame(f"app/module_{i}.py", f"function_{i}", 10 + i, True) for i in range(30))
    fleet = [uuid.UUID(int=n + 1).hex for n in range(installs)]
    out = []
    for index in range(count):
        crash_type = f"ValueError{index % 50}"
        report = Report(schema_version=1, policy_digest=digest, consent_level="diagnostic",
                        report_id=str(uuid.uuid4()), crash_type=crash_type,
                        fingerprint=compute_fingerprint(crash_type, frames), stack=Stack(frames), release="1.4.2",
                        environment=Environment("linux", "6", "cpython",
                                                "3.11" if environments == 1 else f"3.11.{index % environments}",
                                                "x86_64"), occurred_hour=hour,
                        install_id=fleet[index % installs] if installs else uuid.uuid4().hex,
                        message="invalid literal for int() with base 10: <quoted>")
        out.append(seal_report(report.to_json(), key, project_id="demo", schema_version=1))
    return out


def _request(path: str, body: bytes) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/vnd.crashveil.sealed\r\n"
            f"X-Crashveil-Schema: 1\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


#: The route names of the table (those of earlier rounds for one process, so figures compare).
BARE, INGEST = "bare accept-and-drop", "ingest (stored)"


@dataclasses.dataclass
class Run:
    """One timed run of one route."""

    rate: float
    p50_ms: float
    p99_ms: float
    cpu_per_request_us: float
    cpu_per_stored_us: float  # server processes + database server, per 201
    db_per_stored_us: float
    rss_bytes: int


@dataclasses.dataclass
class Config:
    """The runs of one server configuration (process count) and its resident size after them."""

    workers: int
    runs: dict[str, list[Run]]
    statuses: dict[str, dict[int, int]]
    rss_after: int = 0


def hpke_open_us(server_dir: Path, suite: str, sealed: list[bytes], url: str | None) -> float:
    """CPU microseconds of one HPKE open (``open_report``) in this process: the floor of a report's cost."""
    from crashveil.server.keys.crypto import open_report
    from crashveil.server.storage.store import Storage

    storage = Storage.open(_settings(server_dir, suite, 0, url))
    project = storage.project("demo")
    storage.close()
    assert project is not None
    start = time.process_time()
    for body in sealed:
        open_report(body, project.keypairs, project_id="demo", schema_version=1)
    return (time.process_time() - start) / len(sealed) * 1e6


def _wait_listening(port: int, count: int) -> None:
    deadline = time.monotonic() + 60
    while _listeners(port) < count and time.monotonic() < deadline:
        time.sleep(0.1)


def run_config(args: argparse.Namespace, server_dir: Path, workers: int, sealed: list[bytes], url: str | None,
               postmaster: int | None) -> Config:
    """Serve with ``workers`` front processes and time the bare and ingest routes, alternating."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    serve_cmd = ([sys.executable, args.serve_script, str(server_dir), str(port)] if args.serve_script else
                 [sys.executable, __file__, "--serve", str(server_dir), str(port), "--suite", args.suite,
                  "--workers", str(workers)] + (["--database-url", url] if url else []))
    server = subprocess.Popen(serve_cmd, env={**os.environ})
    config = Config(workers, {BARE: [], INGEST: []}, {BARE: {}, INGEST: {}})
    try:
        _wait_listening(port, workers)
        bare_body = sealed[0]
        asyncio.run(run_load(port, [_request("/bare", bare_body)] * 500, 1.0, args.concurrency))  # warm up
        if url:  # stored reports, then the statistics a live server has (see _postgres.analyze)
            warm = [_request("/api/v1/projects/demo/reports", sealed.pop()) for _ in range(min(300, len(sealed) // 4))]
            asyncio.run(run_load(port, warm, 10.0, args.concurrency))
            analyze(url)
        for _ in range(args.repeats):
            for name in (BARE, INGEST):
                if name == BARE:
                    requests = [_request("/bare", bare_body)] * 10**6
                else:
                    count = min(int(args.expect_rate * args.seconds), len(sealed))
                    requests = [_request("/api/v1/projects/demo/reports", sealed.pop()) for _ in range(count)]
                cpu_before, db_before = tree_cpu_seconds(server.pid), postgres_cpu_seconds(postmaster, url)
                elapsed, latencies, statuses = asyncio.run(run_load(port, requests, args.seconds, args.concurrency))
                rss = tree_rss_bytes(server.pid)
                server_cpu = tree_cpu_seconds(server.pid) - cpu_before
                db_cpu = postgres_cpu_seconds(postmaster, url) - db_before
                for status, n in statuses.items():
                    config.statuses[name][status] = config.statuses[name].get(status, 0) + n
                stored = statuses.get(201, 0)
                config.runs[name].append(Run(
                    len(latencies) / elapsed, percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000,
                    server_cpu / max(1, len(latencies)) * 1e6,
                    (server_cpu + db_cpu) / stored * 1e6 if stored else float("nan"),
                    db_cpu / stored * 1e6 if stored else float("nan"), rss))
        time.sleep(2.0)  # idle: what the server keeps after the load
        config.rss_after = tree_rss_bytes(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return config


def postgres_cpu_seconds(postmaster: int | None, url: str | None) -> float:
    """The database server's CPU seconds (0 on SQLite, which runs inside the server processes)."""
    if not url:
        return 0.0
    from _postgres import postgres_cpu_seconds as cpu

    return cpu(postmaster)


def table_rows(configs: list[Config], open_us: float) -> list[list[str]]:
    rows = []
    for config in configs:
        suffix = "" if config.workers == 1 else f", {config.workers} fronts + writer"
        bare_rate = median([r.rate for r in config.runs[BARE]])
        for name, runs in config.runs.items():
            rate = median([r.rate for r in runs])
            stored_us = median([r.cpu_per_stored_us for r in runs]) if name == INGEST else float("nan")
            rows.append([name + suffix, f"{rate:,.0f}", f"{median([r.p50_ms for r in runs]):.2f}",
                         f"{median([r.p99_ms for r in runs]):.2f}", f"{rate / bare_rate:.0%}",
                         f"{median([r.cpu_per_request_us for r in runs]):.0f}",
                         f"{stored_us:.0f}" if name == INGEST else "-",
                         f"{median([r.db_per_stored_us for r in runs]):.0f}" if name == INGEST else "-",
                         f"{max(r.rss_bytes for r in runs) / 2**20:.0f}", f"{config.rss_after / 2**20:.0f}",
                         f"{stored_us / open_us:.1f}" if name == INGEST else "-"])
    return rows


def sustain(args: argparse.Namespace, server_dir: Path, url: str | None, postmaster: int | None) -> None:
    """Ingest for ``--sustain`` seconds, sealing fresh reports as it goes; print stored/s,
    CPU per stored report and resident size per step, and the resident size after."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workers = args.workers[0]
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(server_dir), str(port), "--suite", args.suite,
                               "--workers", str(workers)] + (["--database-url", url] if url else []),
                              env={**os.environ})
    rows = []
    step = max(5.0, args.sustain / 10)
    loaded = 0.0
    total = 0
    try:
        _wait_listening(port, workers)
        while loaded < args.sustain:
            sealed = seal_many(server_dir, args.suite, int(args.sustain_rate * step), url, installs=args.installs)
            requests = [_request("/api/v1/projects/demo/reports", body) for body in sealed]
            cpu_before, db_before = tree_cpu_seconds(server.pid), postgres_cpu_seconds(postmaster, url)
            elapsed, latencies, statuses = asyncio.run(run_load(port, requests, step, args.concurrency))
            cpu = tree_cpu_seconds(server.pid) - cpu_before + postgres_cpu_seconds(postmaster, url) - db_before
            stored = statuses.get(201, 0)
            loaded += elapsed
            total += stored
            rows.append([f"{loaded:.0f}", f"{total:,}", f"{stored / elapsed:,.0f}",
                         f"{cpu / max(1, stored) * 1e6:.0f}", f"{tree_rss_bytes(server.pid) / 2**20:.1f}"])
        time.sleep(2.0)
        rows.append(["after (2 s idle)", f"{total:,}", "-", "-", f"{tree_rss_bytes(server.pid) / 2**20:.1f}"])
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"\nsustained ingest, {workers} front process(es), {args.installs:,} installations, reports sealed "
          f"between steps (the server idles then; its RSS is taken at the end of each step):")
    print_table(["seconds of load", "stored", "stored/s", "CPU us/stored", "server RSS MiB"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--suite", default="mlkem768x25519", choices=("mlkem768x25519", "x25519"))
    parser.add_argument("--workers", type=lambda text: [int(n) for n in text.split(",")], default=[1, 2],
                        help="front process counts to run, comma-separated (above 1: plus a writer process)")
    parser.add_argument("--expect-rate", type=int, default=4000, help="reports sealed in advance per second of run")
    parser.add_argument("--database-url", help="an empty PostgreSQL database, or 'temp-postgresql' for a "
                        "throwaway one (default: a fresh SQLite file)")
    parser.add_argument("--sustain", type=float, default=0.0, help="then ingest this many seconds (memory growth)")
    parser.add_argument("--sustain-rate", type=int, default=1000, help="reports sealed per second of --sustain")
    parser.add_argument("--installs", type=int, default=10_000,
                        help="--sustain: installations the reports come from (the per-installation rate "
                        "limiter keeps up to 100,000 of them in memory, ~250 bytes each)")
    parser.add_argument("--environments", type=int, default=1,
                        help="cycle the reports' Python patch version through this many values (the "
                             "quasi-identifier check's worst case when many)")
    parser.add_argument("--processes", type=lambda text: [int(n) for n in text.split(",")],
                        help="compare SQLite and PostgreSQL (--database-url, default a throwaway one) at these "
                        "server process counts, interleaved (bench/_engines.py), e.g. 1,2,3")
    parser.add_argument("--against", metavar="SRC", help="--processes: also run the server of this source "
                        "tree (the src/ folder of another checkout, e.g. main) and print this tree / that one")
    parser.add_argument("--serve", nargs=2, metavar=("DIR", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--prepare", metavar="DIR", help=argparse.SUPPRESS)  # --processes: by each tree's code
    parser.add_argument("--serve-script", help=argparse.SUPPRESS)  # profiling: run this instead of --serve
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), args.suite, int(args.serve[1]), args.workers[0], args.database_url)
        return
    if args.prepare:
        prepare(Path(args.prepare), args.suite, args.database_url)
        return
    if args.processes:
        from _engines import compare

        with contextlib.ExitStack() as stack:
            url, postmaster = args.database_url, None
            if url is None or url == TEMPORARY:
                url, postmaster = stack.enter_context(temporary_postgresql())
            compare(args, Path(stack.enter_context(tempfile.TemporaryDirectory())), url, postmaster)
        return
    with contextlib.ExitStack() as stack:
        url, postmaster = args.database_url, None
        if url == TEMPORARY:
            url, postmaster = stack.enter_context(temporary_postgresql())
        server_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        prepare(server_dir, args.suite, url)
        total = int(args.expect_rate * args.seconds * args.repeats) * len(args.workers)
        print(f"sealing {total} reports ({args.suite}) ...", file=sys.stderr)
        sealed = seal_many(server_dir, args.suite, total + 300, url, environments=args.environments)
        open_us = hpke_open_us(server_dir, args.suite, sealed[-300:], url)
        del sealed[-300:]
        configs = [run_config(args, server_dir, workers, sealed, url, postmaster) for workers in args.workers]
        database = "PostgreSQL (fsync on; its CPU counted)" if url else "SQLite synchronous=FULL"
        print(f"\n{args.repeats} runs x {args.seconds:g} s, {args.concurrency} connections, {os.cpu_count()} CPUs "
              f"shared with the client, suite {args.suite}, {database}; HPKE open {open_us:.0f} us CPU per report")
        print_table(["route", "req/s (median)", "p50 ms", "p99 ms", "of bare", "server CPU us/req",
                     "CPU us/stored", "DB CPU us/stored", "RSS MiB load", "RSS MiB after", "x HPKE open"],
                    table_rows(configs, open_us))
        print("statuses:", json.dumps({f"{k} ({c.workers})": dict(sorted(v.items()))
                                       for c in configs for k, v in c.statuses.items()}))
        if args.sustain:
            sustain(args, server_dir, url, postmaster)


if __name__ == "__main__":
    main()
