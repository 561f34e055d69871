"""What the group page's aggregates cost: CPU per stored report on the write path (the
signature, source lines and runtime/environment day counts are written at grouping time) and
CPU per group page request, for this tree against another (``--against``, e.g. main's src).

Each run is a child process with ``PYTHONPATH`` set to one tree: a fresh SQLite database
(WAL, ``synchronous=FULL``), ``--reports`` reports with a stack, source lines, environment and
deployment in ``--groups`` groups stored through ``Storage.store_reports`` in batches of 50,
then ``--pages`` group page requests through the whole ASGI app signed in as a developer.
The trees alternate ``--repeats`` times (interleaved, so load on a busy machine hits both);
the table shows medians of process CPU time (user + system), not wall-clock, and the ratio
this tree / the other.

    python bench/group_page.py --against ../other/src [--reports 3000] [--groups 30] [--pages 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import median, print_table

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
HERE = Path(__file__).resolve().parents[1] / "src"


def _report(group: int, index: int) -> Any:
    from crashveil.policy import compute_fingerprint, default_policy, policy_digest
    from crashveil.wire import Environment, Frame, Report, Stack
    from crashveil.wire.report import SourceLine

    frames = (Frame("app/main.py", "main", 10, True), Frame("lib/http.py", "send", 5, False),
              Frame(f"app/views/v{group}.py", f"view{group}", 40 + group, True))
    crash_type = f"BenchError{group}"
    return Report(schema_version=1, policy_digest=policy_digest(default_policy()), consent_level="diagnostic",
                  report_id=str(uuid.uuid4()), crash_type=crash_type,
                  fingerprint=compute_fingerprint(crash_type, frames), stack=Stack(frames), release=f"1.{index % 4}",
                  install_id=f"{index % 500:032x}", occurred_hour=NOW.strftime("%Y-%m-%dT%H:00Z"),
                  message="payment <str> declined", deployment=("production", "staging")[index % 2],
                  source_context=(SourceLine(0, "run()"), SourceLine(2, f"total = amount / count{group}")),
                  environment=Environment("linux", "6", "cpython", ("3.11", "3.12")[index % 2], "x86_64"))


def child(reports: int, groups: int, pages: int) -> dict[str, float]:
    """One run in this process's tree: CPU us per stored report, CPU ms per group page."""
    from argon2 import PasswordHasher
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from crashveil.server.dashboard import dashboard_routes
    from crashveil.server.db.engine import create_engine, migrate
    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.settings import Settings
    from crashveil.server.storage.records import PendingReport
    from crashveil.server.storage.store import Storage

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        engine = create_engine(url)
        migrate(engine)
        engine.dispose()
        settings = Settings(server_dir=Path(tmp), database_url=url, sealing_suite="x25519", project_cache_s=0.0)
        FileKeyProvider.create(settings.kek_path, now=NOW - timedelta(days=5))
        storage = Storage.open(settings, clock=lambda: NOW)
        storage.create_project("demo", now=NOW - timedelta(days=5))
        pending = [PendingReport("demo", _report(i % groups, i), "crashveil-sdk", NOW, {}) for i in range(reports)]
        started = time.process_time()
        for at in range(0, reports, 50):
            storage.store_reports(pending[at:at + 50])
        write_us = (time.process_time() - started) / reports * 1e6
        audit = AuditTrail.for_server_dir(storage.engine, Path(tmp), now=lambda: NOW)
        access = AccessStore(storage.engine, audit, now=lambda: NOW,
                             hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        access.add_user("dev", "dev-password-123", actor="cli")
        access.grant("dev", "demo", "developer", actor="cli")
        app = Starlette(routes=dashboard_routes(storage, access=access, audit=audit, secret=b"b" * 32,
                                                secure_cookies=False, now=lambda: NOW))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client = TestClient(app, base_url="http://testserver")
        form = client.get("/dashboard/login").text
        nonce = form.split('name="nonce" value="')[1].split('"')[0]
        client.post("/dashboard/login", data={"nonce": nonce, "name": "dev", "password": "dev-password-123"},
                    headers={"Origin": "http://testserver"})
        costs = []
        for index in range(pages):
            before = time.process_time()
            answer = client.get(f"/dashboard/p/demo/groups/{index % groups + 1}")
            costs.append((time.process_time() - before) * 1e3)
            assert answer.status_code == 200, answer.status_code
        storage.close()
    return {"write_us": write_us, "page_ms": median(costs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", required=False, help="another tree's src directory (before)")
    parser.add_argument("--reports", type=int, default=3000)
    parser.add_argument("--groups", type=int, default=30)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.reports, args.groups, args.pages)))
        return
    trees = [("this tree", str(HERE))] + ([("against", args.against)] if args.against else [])
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in trees}
    for _ in range(args.repeats):
        for name, src in trees:
            env = {**os.environ, "PYTHONPATH": src}
            out = subprocess.run([sys.executable, __file__, "--child", "--reports", str(args.reports), "--groups",
                                  str(args.groups), "--pages", str(args.pages)], env=env, check=True,
                                 capture_output=True, text=True).stdout
            results[name].append(json.loads(out.strip().splitlines()[-1]))
    rows = []
    for key, label in (("write_us", "CPU us per stored report"), ("page_ms", "CPU ms per group page")):
        mine = median([r[key] for r in results["this tree"]])
        row: list[object] = [label, f"{mine:.1f}"]
        if args.against:
            other = median([r[key] for r in results["against"]])
            row += [f"{other:.1f}", f"{mine / other:.2f}"]
        rows.append(row)
    print_table(["figure (median)", "this tree", *(("against", "ratio") if args.against else ())], rows)


if __name__ == "__main__":
    main()
