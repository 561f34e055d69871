"""CPU per report of the front process alone: the app's ASGI path without sockets or the writer.

``bench/ingest.py`` measures the whole server, whose CPU per stored report is mostly the
writer's SQL and commit on a busy machine, with a noise of +-10 %. This one holds the front's
part still: in one process, the real native-API app (``create_app(surface="ingest")``, every
middleware, the report route, the ingestor: HPKE open, decode, validation, redaction,
fingerprint, detail JSON + zstd + AES) is called as uvicorn calls it, with pre-sealed unique
reports, and its committer answers each row at once (what the writer process's answer does
for a front, minus the socket). Printed: the median over rounds of the CPU microseconds per
report (``time.process_time``), one HPKE open for scale, and with ``--against OTHER/src`` the
same for another checkout, rounds interleaved, and the ratio this / that.

    python bench/front_cpu.py [--reports 2000] [--rounds 5] [--against /tmp/base/src]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _table import median, print_table

SUITE = "mlkem768x25519"


class _InstantCommitter:
    """Answers every row at once, as the writer process would after its commit."""

    writing = False

    def __init__(self) -> None:
        from crashveil.server.storage.records import StoreResult

        self._result = StoreResult
        self.count = 0

    async def writer_pause(self) -> None:
        return None

    def submit_async(self, row: Any) -> asyncio.Future[Any]:
        self.count += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(self._result(f"r{self.count:012d}", True, 1, False))
        return future

    def close(self) -> None:
        return None


def _scope(body: bytes) -> dict[str, Any]:
    """An ASGI scope as uvicorn's httptools protocol builds it for the SDK's POST."""
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "server": ("127.0.0.1", 8443), "client": ("127.0.0.1", 50000), "scheme": "http", "method": "POST",
            "root_path": "", "path": "/api/v1/projects/demo/reports", "raw_path": b"/api/v1/projects/demo/reports",
            "query_string": b"", "state": {},
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/vnd.crashveil.sealed"),
                        (b"x-crashveil-schema", b"1"), (b"content-length", str(len(body)).encode())]}


async def _drive(app: Any, bodies: list[bytes]) -> list[int]:
    statuses = []
    for body in bodies:
        async def receive(body: bytes = body) -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any], sent: list[dict[str, Any]] = sent) -> None:
            sent.append(message)

        await app(_scope(body), receive, send)
        statuses.append(sent[0]["status"])
    return statuses


def child(reports: int, rounds: int) -> None:
    """In this tree (``PYTHONPATH``): the CPU us per report of each round, as one JSON line."""
    from ingest import _settings, prepare, seal_many

    from crashveil.server.http.app import create_app
    from crashveil.server.keys.crypto import open_report
    from crashveil.server.storage.store import Storage

    server_dir = Path(tempfile.mkdtemp(prefix="front-cpu-"))
    prepare(server_dir, SUITE)
    sealed = seal_many(server_dir, SUITE, reports * rounds + 1)
    settings = _settings(server_dir, SUITE, 0)
    storage = Storage.open(settings)
    app = create_app(settings, storage, surface="ingest", group_commit=False)
    ingestor = app.state.ingestor
    ingestor.ingest("demo", sealed.pop())  # the day's data key exists, so the front seals details
    storage.learn_data_key("demo", datetime.now(UTC).strftime("%Y-%m-%d"))
    ingestor.committer = _InstantCommitter()
    project = storage.project("demo")
    assert project is not None
    start = time.process_time()
    for body in sealed[:reports]:
        open_report(body, project.keypairs, project_id="demo", schema_version=1)
    open_us = (time.process_time() - start) / reports * 1e6
    loop = asyncio.new_event_loop()
    loop.run_until_complete(_drive(app, sealed[-50:]))  # warm up
    per_round = []
    for index in range(rounds):
        batch = sealed[index * reports:(index + 1) * reports]
        start = time.process_time()
        statuses = loop.run_until_complete(_drive(app, batch))
        per_round.append((time.process_time() - start) / len(batch) * 1e6)
        if set(statuses) != {201}:
            raise SystemExit(f"unexpected statuses {sorted(set(statuses))}")
    print(json.dumps({"rounds": per_round, "open_us": open_us}))


def _run(src: str, reports: int, rounds: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, __file__, "--child", "--reports", str(reports), "--rounds", str(rounds)],
                         env=env, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=2000, help="reports per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", metavar="SRC", help="also time the front of this source tree, interleaved")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.reports, args.rounds)
        return
    here = str(Path(__file__).resolve().parent.parent / "src")
    trees = {"this tree": here} | ({"against": args.against} if args.against else {})
    samples: dict[str, list[float]] = {name: [] for name in trees}
    opens: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(args.rounds):  # one process per tree per round: rounds interleave the trees
        for name, src in trees.items():
            result = _run(src, args.reports, 3)
            samples[name].append(median(result["rounds"]))
            opens[name].append(result["open_us"])
    print(f"\nfront CPU per report, in-process ASGI, {args.reports} reports x 3 per round, {args.rounds} rounds "
          f"(medians), suite {SUITE}, writer answered at once")
    rows = [[name, f"{median(samples[name]):.0f}", f"{min(samples[name]):.0f}", f"{median(opens[name]):.0f}",
             f"{median(samples[name]) / median(opens[name]):.1f}"] for name in trees]
    print_table(["tree", "CPU us/report", "best round", "HPKE open us", "x HPKE open"], rows)
    if args.against:
        print(f"this / against: {median(samples['this tree']) / median(samples['against']):.2f}")


if __name__ == "__main__":
    main()
