"""Sentry envelopes ingested per second, beside native sealed reports and a bare route, same run.

One uvicorn process (uvloop, httptools) serves the real app (``create_app`` over SQLite in
WAL mode with ``synchronous=FULL``) with the Sentry routes mounted as ``app.py`` mounts them,
plus ``POST /bare`` (read the body, answer, do nothing). A client process keeps
CONCURRENCY keep-alive connections busy, alternating three kinds of runs REPEATS times:

- ``bare``: the ceiling of the stack;
- ``native``: pre-sealed crashveil reports (HPKE, 30 in-app frames, unique report ids);
- ``sentry``: gzip envelopes built from an event the real ``sentry-sdk`` produced
  (``send_default_pii=True``, local variables, 30 frames, breadcrumbs, request data), each
  with a fresh event id, so every request is mapped, redacted and inserted.

Plain HTTP on loopback: TLS would cost the same on every route. Prints a table of medians:
throughput, latency, the share of the bare ceiling, the server's CPU time per request (all
its processes, from /proc; the client's CPU is not in it) and both as ratios to native
reports. Every Sentry event also counts its outcomes (``sentry/outcomes.py``: in memory,
flushed once a second), so that cost is in the figures.
``--workers N`` serves as ``crashveil server run`` does with N workers (N front processes
with every route, ``/bare`` too, and one writer process; see ``bench/ingest.py``).

    python bench/sentry_ingest.py [--seconds 5] [--repeats 3] [--concurrency 32] [--workers 1] [--suite x25519]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
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


def _settings(server_dir: Path, suite: str, port: int) -> Any:
    from crashveil.server.settings import Settings

    return Settings(server_dir=server_dir, database_url=f"sqlite:///{server_dir / 'crashveil.db'}", tls=False,
                    port=port, web_port=0, sealing_suite=suite, project_rate_per_s=1e9, project_burst=10**9,
                    pseudonym_rate_per_hour=10**9, mass_failure_per_hour=10**9)


def prepare(server_dir: Path, suite: str) -> str:
    """Migrated SQLite, KEK, project ``demo`` and a Sentry key; returns the envelope URL path + key."""
    from crashveil.server.db import engine as db
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.sentry.keys import SentryKeys
    from crashveil.server.storage.store import Storage

    settings = _settings(server_dir, suite, 0)
    FileKeyProvider.create(settings.kek_path, now=datetime.now(UTC))
    engine = db.create_engine(settings.database_url)
    db.migrate(engine)
    engine.dispose()
    storage = Storage.open(settings)
    storage.create_project("demo")
    project, key = SentryKeys(storage.engine).create_key("demo", level="diagnostic")
    storage.close()
    return f"/api/{project.numeric_id}/envelope/?sentry_key={key}"


async def _bare(request: Any) -> Any:
    from starlette.responses import JSONResponse

    await request.body()
    return JSONResponse({"id": "bare"}, status_code=200)


def bare_routes() -> list[Any]:
    """``POST /bare`` (module level: front processes import it)."""
    from starlette.routing import Route

    return [Route("/bare", _bare, methods=["POST"])]


def serve(server_dir: Path, suite: str, port: int, workers: int) -> None:
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


def sentry_event() -> dict[str, Any]:
    """One event as the real sentry-sdk builds it for a 30-frame crash with PII on."""
    import sentry_sdk

    captured: list[dict[str, Any]] = []
    sentry_sdk.init(dsn="https://0123456789abcdef0123456789abcdef@127.0.0.1:9/1", send_default_pii=True,
                    before_send=lambda event, hint: captured.append(event) and None, release="shop@2.0.0",
                    in_app_include=["__main__"], default_integrations=False)
    sentry_sdk.set_user({"id": "user-42", "email": "ann@example.com", "ip_address": "203.0.113.9"})
    sentry_sdk.set_tag("plan", "pro")
    for index in range(10):
        sentry_sdk.add_breadcrumb(category="ui.click", message=f"clicked button {index} as ann@example.com")

    def recurse(depth: int, customer: str) -> None:
        card = "4111 1111 1111 1111"  # noqa: F841 - a local the SDK captures
        if depth == 0:
            raise ValueError(f"cannot charge {customer}")
        recurse(depth - 1, customer)

    try:
        recurse(28, "ann@example.com")
    except ValueError:
        sentry_sdk.capture_exception()
    sentry_sdk.get_client().close()
    event = captured[0]
    event["request"] = {"url": "https://shop.example.com/checkout?u=ann", "method": "POST",
                        "headers": {"Cookie": "session=abc", "User-Agent": "Mozilla/5.0"}, "data": {"card": "x"}}
    return event


def sentry_bodies(count: int) -> list[bytes]:
    event = sentry_event()
    now = datetime.now(UTC).isoformat()
    out = []
    for _ in range(count):
        event_id = uuid.uuid4().hex
        event["event_id"] = event_id
        event["timestamp"] = now
        payload = json.dumps(event, default=str).encode()
        envelope = (json.dumps({"event_id": event_id, "sent_at": now}).encode() + b"\n"
                    + json.dumps({"type": "event", "length": len(payload)}).encode() + b"\n" + payload + b"\n")
        out.append(gzip.compress(envelope, 6))
    return out


def sealed_bodies(server_dir: Path, suite: str, count: int) -> list[bytes]:
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
    for _ in range(count):
        report = Report(schema_version=1, policy_digest=digest, consent_level="diagnostic",
                        report_id=str(uuid.uuid4()), crash_type="ValueError",
                        fingerprint=compute_fingerprint("ValueError", frames), stack=Stack(frames), release="2.0.0",
                        environment=Environment("Linux", "6", "CPython", "3.11", "x86_64"), occurred_hour=hour,
                        install_id=uuid.uuid4().hex, message="cannot charge <email>")
        out.append(seal_report(report.to_json(), key, project_id="demo", schema_version=1))
    return out


def _request(path: str, body: bytes, headers: str) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--suite", default="x25519", choices=("mlkem768x25519", "x25519"))
    parser.add_argument("--expect-rate", type=int, default=3000, help="bodies prepared per second of run")
    parser.add_argument("--workers", type=int, default=1, help="front processes (above 1: plus a writer process)")
    parser.add_argument("--serve", nargs=2, metavar=("DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), args.suite, int(args.serve[1]), args.workers)
        return

    with tempfile.TemporaryDirectory() as tmp:
        server_dir = Path(tmp)
        envelope_path = prepare(server_dir, args.suite)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        count = int(args.expect_rate * args.seconds * args.repeats)
        print(f"preparing {count} sealed reports and {count} Sentry envelopes ...", file=sys.stderr)
        sealed = sealed_bodies(server_dir, args.suite, count)
        envelopes = sentry_bodies(count)
        raw_size = len(gzip.decompress(envelopes[0]))
        gzip_size = len(envelopes[0])
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(server_dir), str(port),
                                   "--suite", args.suite, "--workers", str(args.workers)], env={**os.environ})
        native_headers = "Content-Type: application/vnd.crashveil.sealed\r\nX-Crashveil-Schema: 1\r\n"
        sentry_headers = "Content-Type: application/x-sentry-envelope\r\nContent-Encoding: gzip\r\n"
        try:
            for _ in range(300):
                if _listeners(port) >= args.workers:
                    break
                time.sleep(0.1)
            asyncio.run(run_load(port, [_request("/bare", sealed[0], "")] * 500, 1.0, args.concurrency))  # warm up
            names = ("bare accept-and-drop", "native sealed report", "sentry envelope (gzip)")
            results: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in names}
            all_statuses: dict[str, dict[int, int]] = {name: {} for name in names}
            per_run = int(args.expect_rate * args.seconds)
            for _ in range(args.repeats):
                for name in names:
                    if name.startswith("bare"):
                        requests = [_request("/bare", envelopes[0], sentry_headers)] * 10**6
                    elif name.startswith("native"):
                        requests = [_request("/api/v1/projects/demo/reports", sealed.pop(), native_headers)
                                    for _ in range(min(per_run, len(sealed)))]
                    else:
                        requests = [_request(envelope_path, envelopes.pop(), sentry_headers)
                                    for _ in range(min(per_run, len(envelopes)))]
                    cpu_before = tree_cpu_seconds(server.pid)
                    elapsed, latencies, statuses = asyncio.run(run_load(port, requests, args.seconds, args.concurrency))
                    server_cpu = tree_cpu_seconds(server.pid) - cpu_before
                    for status, n in statuses.items():
                        all_statuses[name][status] = all_statuses[name].get(status, 0) + n
                    results[name].append((len(latencies) / elapsed, percentile(latencies, 0.5) * 1000,
                                          percentile(latencies, 0.99) * 1000,
                                          server_cpu / max(1, len(latencies)) * 1e6))
        finally:
            server.terminate()
            server.wait(timeout=60)

    bare_rate = median([r[0] for r in results[names[0]]])
    native_rate = median([r[0] for r in results[names[1]]])
    native_cpu = median([r[3] for r in results[names[1]]])
    rows = []
    for name, runs in results.items():
        rate, cpu = median([r[0] for r in runs]), median([r[3] for r in runs])
        rows.append([name, f"{rate:,.0f}", f"{median([r[1] for r in runs]):.2f}",
                     f"{median([r[2] for r in runs]):.2f}", f"{rate / bare_rate:.0%}", f"{cpu:.0f}",
                     f"{rate / native_rate:.2f}", f"{cpu / native_cpu:.2f}"])
    processes = ("one uvicorn process" if args.workers == 1 else
                 f"{args.workers} front processes + 1 writer process")
    print(f"\n{args.repeats} runs x {args.seconds:g} s, {args.concurrency} connections, {processes}, "
          f"{os.cpu_count()} CPUs shared with the client, suite {args.suite}, SQLite synchronous=FULL; "
          f"Sentry event {raw_size:,} bytes as JSON, {gzip_size:,} gzipped")
    print_table(["route", "req/s (median)", "p50 ms", "p99 ms", "of bare", "server CPU us/req",
                 "req/s / native", "CPU / native"], rows)
    print("statuses:", json.dumps({k: dict(sorted(v.items())) for k, v in all_statuses.items()}))


if __name__ == "__main__":
    main()
