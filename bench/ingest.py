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

Plain HTTP on loopback: TLS costs the same on both routes and would measure the handshake,
not the ingest path. Targets (DESIGN.md): >= 2,000 reports/s with SQLite and >= 40 % of the
bare ceiling.

    python bench/ingest.py [--seconds 5] [--repeats 3] [--concurrency 32] [--workers 1] [--suite mlkem768x25519]
"""

from __future__ import annotations

import argparse
import asyncio
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
from _http_load import listeners as _listeners, percentile, run_load, tree_cpu_seconds
from _table import median, print_table


def _settings(server_dir: Path, suite: str, port: int):  # type: ignore[no-untyped-def]
    from crashveil.server.settings import Settings

    return Settings(server_dir=server_dir, database_url=f"sqlite:///{server_dir / 'crashveil.db'}", tls=False,
                    port=port, web_port=0, sealing_suite=suite, project_rate_per_s=1e9, project_burst=10**9,
                    pseudonym_rate_per_hour=10**9, mass_failure_per_hour=10**9)


def prepare(server_dir: Path, suite: str) -> None:
    """A migrated SQLite database with a KEK and the ``demo`` project."""
    from crashveil.server.db import engine as db
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.storage.store import Storage

    settings = _settings(server_dir, suite, 0)
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


def serve(server_dir: Path, suite: str, port: int, workers: int) -> None:
    """Run the app plus ``/bare`` (the child process): one uvicorn process as ``crashveil
    server run`` does, or its front and writer processes with ``workers`` > 1."""
    import uvicorn

    from crashveil.server.http.app import create_app
    from crashveil.server.http.run import run_processes, uvicorn_config
    from crashveil.server.storage.store import Storage

    settings = _settings(server_dir, suite, port)
    if workers > 1:
        sys.exit(run_processes(settings, workers, extra_routes=bare_routes))
    storage = Storage.open(settings)
    app = create_app(settings, storage)
    app.router.routes.extend(bare_routes())
    config = uvicorn_config(settings, app)
    config.log_level = 30
    uvicorn.Server(config).run()


def seal_many(server_dir: Path, suite: str, count: int) -> list[bytes]:
    from crashveil.policy import compute_fingerprint, policy_digest
    from crashveil.sdk.delivery.seal import seal_report
    from crashveil.server.storage.store import Storage
    from crashveil.wire import Environment, Frame, Report, Stack

    storage = Storage.open(_settings(server_dir, suite, 0))
    project = storage.project("demo")
    storage.close()
    key = project.keypairs[0].public_key()
    digest = policy_digest(project.policy)
    hour = datetime.now(UTC).strftime("%Y-%m-%dT%H:00Z")
    frames = tuple(Frame(f"app/module_{i}.py", f"function_{i}", 10 + i, True) for i in range(30))
    out = []
    for index in range(count):
        crash_type = f"ValueError{index % 50}"
        report = Report(schema_version=1, policy_digest=digest, consent_level="diagnostic",
                        report_id=str(uuid.uuid4()), crash_type=crash_type,
                        fingerprint=compute_fingerprint(crash_type, frames), stack=Stack(frames), release="1.4.2",
                        environment=Environment("linux", "6", "cpython", "3.11", "x86_64"), occurred_hour=hour,
                        install_id=uuid.uuid4().hex, message="invalid literal for int() with base 10: <quoted>")
        out.append(seal_report(report.to_json(), key, project_id="demo", schema_version=1))
    return out


def _request(path: str, body: bytes) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/vnd.crashveil.sealed\r\n"
            f"X-Crashveil-Schema: 1\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--suite", default="mlkem768x25519", choices=("mlkem768x25519", "x25519"))
    parser.add_argument("--workers", type=int, default=1, help="front processes (above 1: plus a writer process)")
    parser.add_argument("--expect-rate", type=int, default=4000, help="reports sealed in advance per second of run")
    parser.add_argument("--serve", nargs=2, metavar=("DIR", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--serve-script", help=argparse.SUPPRESS)  # profiling: run this instead of --serve
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), args.suite, int(args.serve[1]), args.workers)
        return

    with tempfile.TemporaryDirectory() as tmp:
        server_dir = Path(tmp)
        prepare(server_dir, args.suite)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        print(f"sealing {int(args.expect_rate * args.seconds * args.repeats)} reports ({args.suite}) ...",
              file=sys.stderr)
        sealed = seal_many(server_dir, args.suite, int(args.expect_rate * args.seconds * args.repeats))
        serve_cmd = ([sys.executable, args.serve_script, str(server_dir), str(port)] if args.serve_script else
                     [sys.executable, __file__, "--serve", str(server_dir), str(port), "--suite", args.suite,
                      "--workers", str(args.workers)])
        server = subprocess.Popen(serve_cmd, env={**os.environ})
        try:
            for _ in range(300):
                if _listeners(port) >= args.workers:
                    break
                time.sleep(0.1)
            bare_body = sealed[0]
            asyncio.run(run_load(port, [_request("/bare", bare_body)] * 500, 1.0, args.concurrency))  # warm up
            results: dict[str, list[tuple[float, float, float, float]]] = {
                "bare accept-and-drop": [],
                "ingest (stored)": [],
            }
            all_statuses: dict[str, dict[int, int]] = {name: {} for name in results}
            for _ in range(args.repeats):
                for name in results:
                    if name.startswith("bare"):
                        requests = [_request("/bare", bare_body)] * 10**6
                    else:
                        count = int(args.expect_rate * args.seconds)
                        requests = [_request("/api/v1/projects/demo/reports", sealed.pop()) for _ in
                                    range(min(count, len(sealed)))]
                    cpu_before = tree_cpu_seconds(server.pid)
                    elapsed, latencies, statuses = asyncio.run(
                        run_load(port, requests, args.seconds, args.concurrency))
                    server_cpu = tree_cpu_seconds(server.pid) - cpu_before
                    for status, n in statuses.items():
                        all_statuses[name][status] = all_statuses[name].get(status, 0) + n
                    results[name].append((len(latencies) / elapsed, percentile(latencies, 0.5) * 1000,
                                          percentile(latencies, 0.99) * 1000,
                                          server_cpu / max(1, len(latencies)) * 1e6))
        finally:
            server.terminate()
            server.wait(timeout=60)

    bare_rate = median([r[0] for r in results["bare accept-and-drop"]])
    rows = []
    for name, runs in results.items():
        rate = median([r[0] for r in runs])
        rows.append([name, f"{rate:,.0f}", f"{median([r[1] for r in runs]):.2f}",
                     f"{median([r[2] for r in runs]):.2f}", f"{rate / bare_rate:.0%}",
                     f"{median([r[3] for r in runs]):.0f}"])
    processes = ("one uvicorn process" if args.workers == 1 else
                 f"{args.workers} front processes + 1 writer process")
    print(f"\n{args.repeats} runs x {args.seconds:g} s, {args.concurrency} connections, {processes}, "
          f"{os.cpu_count()} CPUs shared with the client, suite {args.suite}, SQLite synchronous=FULL")
    print_table(["route", "req/s (median)", "p50 ms", "p99 ms", "of bare", "server CPU us/req"], rows)
    print("statuses:", json.dumps({k: dict(sorted(v.items())) for k, v in all_statuses.items()}))


if __name__ == "__main__":
    main()
