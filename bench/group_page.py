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

``--database-url temp-postgresql`` (a throwaway server, ``_postgres.py``) or a PostgreSQL
server URL (a role that may create databases) runs on PostgreSQL instead: each child gets a
fresh database of that server, dropped after; the CPU column then adds the PostgreSQL
backends' CPU (from /proc, when the server is on this machine) to the child's.

    python bench/group_page.py --against ../other/src [--reports 3000] [--groups 30] [--pages 100] [--repeats 3]
        [--database-url temp-postgresql|postgresql://...]
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
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _postgres import TEMPORARY, process_cpu_seconds, temporary_postgresql
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


def child(reports: int, groups: int, pages: int, database_url: str | None = None) -> dict[str, float]:
    """One run in this process's tree: CPU us per stored report, CPU ms per group page (with
    the PostgreSQL backends' CPU when ``database_url`` is one)."""
    from argon2 import PasswordHasher
    from sqlalchemy import event
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
        url = database_url or f"sqlite:///{tmp}/bench.db"
        engine = create_engine(url)
        migrate(engine)
        engine.dispose()
        settings = Settings(server_dir=Path(tmp), database_url=url, sealing_suite="x25519", project_cache_s=0.0)
        FileKeyProvider.create(settings.kek_path, now=NOW - timedelta(days=5))
        storage = Storage.open(settings, clock=lambda: NOW)
        backends: set[int] = set()
        if database_url is not None:
            @event.listens_for(storage.engine, "connect")
            def _backend(dbapi_connection: Any, _record: Any) -> None:
                backends.add(int(dbapi_connection.info.backend_pid))

            storage.engine.dispose()
        cpu = _Cpu(backends)
        storage.create_project("demo", now=NOW - timedelta(days=5))
        pending = [PendingReport("demo", _report(i % groups, i), "crashveil-sdk", NOW, {}) for i in range(reports)]
        started = cpu.seconds()
        for at in range(0, reports, 50):
            storage.store_reports(pending[at:at + 50])
        write_us = (cpu.seconds() - started) / reports * 1e6
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
        db_before = cpu.database()
        for index in range(pages):
            before = time.process_time()
            answer = client.get(f"/dashboard/p/demo/groups/{index % groups + 1}")
            costs.append((time.process_time() - before) * 1e3)
            assert answer.status_code == 200, answer.status_code
        db_ms = (cpu.database() - db_before) * 1e3 / pages  # /proc counts in ticks: a mean, not a median
        storage.close()
    return {"write_us": write_us, "page_ms": median(costs) + db_ms}


class _Cpu:
    """This process's CPU seconds plus those of the PostgreSQL backends ``backends`` (if any)."""

    def __init__(self, backends: set[int]) -> None:
        self.backends = backends

    def database(self) -> float:
        return process_cpu_seconds(self.backends) or 0.0

    def seconds(self) -> float:
        return time.process_time() + self.database()


@contextlib.contextmanager
def _databases(url: str | None) -> Iterator[Callable[[], str | None]]:
    """A callable giving a fresh database URL per child (``None``: SQLite in the child)."""
    if url is None:
        yield lambda: None
        return
    with contextlib.ExitStack() as stack:
        if url == TEMPORARY:
            url, _ = stack.enter_context(temporary_postgresql())
        import psycopg

        admin = stack.enter_context(psycopg.connect(url, autocommit=True))
        made: list[str] = []

        def fresh() -> str:
            name = f"group_page_{os.getpid()}_{len(made)}"
            admin.execute(f"CREATE DATABASE {name}")
            made.append(name)
            base, _, query = url.partition("?")
            return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")

        try:
            yield fresh
        finally:
            for name in made:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", required=False, help="another tree's src directory (before)")
    parser.add_argument("--reports", type=int, default=3000)
    parser.add_argument("--groups", type=int, default=30)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database-url", default=None,
                        help="'temp-postgresql' or a PostgreSQL server URL (default: SQLite in a temporary directory)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.reports, args.groups, args.pages, args.database_url)))
        return
    trees = [("this tree", str(HERE))] + ([("against", args.against)] if args.against else [])
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in trees}
    with _databases(args.database_url) as fresh:
        for _ in range(args.repeats):
            for name, src in trees:
                env = {**os.environ, "PYTHONPATH": src}
                url = fresh()
                command = [sys.executable, __file__, "--child", "--reports", str(args.reports), "--groups",
                           str(args.groups), "--pages", str(args.pages)] + (["--database-url", url] if url else [])
                out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
                results[name].append(json.loads(out.strip().splitlines()[-1]))
    print(f"on {'PostgreSQL' if args.database_url else 'SQLite'}; medians of {args.repeats} runs per tree\n")
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
