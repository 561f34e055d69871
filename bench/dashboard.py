"""Dashboard response times with 1M stored reports in 100k groups, on SQLite or PostgreSQL
(DESIGN.md section 6, issues #17 and #24: group list, search and group page p95 <= 50 ms).

Run: ``python bench/dashboard.py [--database-url PATH|URL|temp-postgresql] [--reports 1000000]
[--groups 100000] [--runs 200] [--cache on,off] [--dir DIR] [--against SRC [--against-database-url
PATH|URL] [--against-dir DIR] [--rounds 3]]``. ``--database-url``: a SQLite
file (kept and reused on the next run, its key file beside it), an empty PostgreSQL database
(reused when it already holds the project ``bench``: give the same ``--dir`` for its key
file), or ``temp-postgresql`` for a throwaway server (``_postgres.py``, as bench/ingest.py
starts it); default a SQLite file in a temporary directory.

Before and after: ``--against OTHER/src`` runs the same requests with another checkout's
``crashveil`` (e.g. main at an older commit) over its own database (``--against-database-url``,
``--against-dir``; the schemas may differ: with ``temp-postgresql`` a second database of the
same server, by default a second SQLite file), the two trees alternating ``--rounds`` times
in child processes, and prints one table: wall p50/p95 of both, and CPU per request (app +
database) of both with their ratio. Both databases get the same generated data.

The data is generated straight into the real schema (``_triage_data.py``: executemany on
SQLite, COPY on PostgreSQL), never through the ingest path; one real, encrypted report in
each measured group (its newest) is stored through ``Storage.store_report`` so the group
page links its trace.

Requests go through the whole ASGI app in process (routing, session lookup, CSRF token,
templates, queries), signed in as a developer (whose search also looks at culprits, modules
and message templates); the network is left out on purpose. "p50" and "p95" are wall-clock
per request; "app cpu" is the median CPU time of this process per request (user + system,
all threads); "db cpu" is the CPU time of the PostgreSQL backends serving the app's
connections (from /proc), per request, averaged over the row (SQLite runs in the app's
process: its CPU is in "app cpu"). On a busy machine, trust the CPU columns. "cache": the
list's project-wide parts (filter choices, the 72-hour chart, the baseline, the newest
release) are cached for 60 s, or not at all (every request pays them, as when requests
are a minute apart).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _postgres import TEMPORARY, process_cpu_seconds, temporary_postgresql
from _table import print_table
from _triage_data import PostgresSink, SqliteSink, generate

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
HERE = Path(__file__).resolve().parents[1] / "src"
TARGET_MS = 50.0


@dataclass
class Bench:
    """What the requests run against."""

    url: str
    root: Path
    storage: Any
    access: Any
    audit: Any
    group_ids: list[int]
    load_s: float
    backends: set[int]

    @property
    def engine_name(self) -> str:
        return "SQLite" if self.url.startswith("sqlite") else "PostgreSQL"


def _hour(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:00Z")


def store_representatives(storage: Any, project_id: str, group_ids: list[int]) -> int:
    """One real, encrypted report per group of ``group_ids``, the group's newest, through
    ``Storage.store_report`` (so the group page finds a report with details to link, as in
    normal mode). The group is given the report's fingerprint first. Groups that already
    hold a report with details (a reused database) are skipped; returns how many were stored."""
    import sqlalchemy as sa

    from crashveil.policy import default_policy, policy_digest
    from crashveil.server.db.tables import crash_groups, reports
    from crashveil.server.ingest.grouping import report_fingerprint
    from crashveil.wire import Environment, Frame, Report, Stack

    stored = 0
    for gid in group_ids:
        with storage.engine.begin() as conn:
            if conn.execute(sa.select(reports.c.id).where(reports.c.group_id == gid,
                                                          reports.c.detail.is_not(None)).limit(1)).first():
                continue
            crash_type = conn.execute(sa.select(crash_groups.c.crash_type).where(crash_groups.c.id == gid)).scalar()
            # The group's id in a frame: a fingerprint of its own (on a reused database the
            # 10,000th group can be another group of the type of last time's).
            frames = tuple(Frame(f"app/module{i}.py", f"step{i}_{gid}", 10 + i, i % 3 != 0) for i in range(30))
            report = Report(schema_version=1, policy_digest=policy_digest(default_policy()),
                            consent_level="diagnostic", report_id=str(uuid.uuid4()), crash_type=crash_type,
                            fingerprint="", stack=Stack(frames), release="1.3.4", install_id=f"{gid:032x}",
                            message=None, occurred_hour=_hour(NOW),
                            environment=Environment("linux", "6.1", "cpython", "3.11", "x86_64"))
            conn.execute(crash_groups.update().where(crash_groups.c.id == gid)
                         .values(fingerprint=report_fingerprint(report)))
        storage.store_report(project_id, report, origin="crashveil-sdk", received_at=NOW, redaction_hits={},
                             dropped_fields=())
        stored += 1
    return stored


def _page_url(client: Any, url: str, page: int) -> str:
    """The URL of page ``page`` of a list, by following its 'Next page' links."""
    import html

    for _ in range(page - 1):
        found = re.search(r'rel="next" href="([^"]+)"', client.get(url).text)
        assert found is not None, "fewer pages than asked for"
        url = html.unescape(found.group(1))
    return url


def _load(url: str, root: Path, n_reports: int, n_groups: int) -> tuple[Any, list[int], float]:
    """Open storage over ``url``, generating the data unless the project is there already."""
    import sqlalchemy as sa

    from crashveil.server.db.engine import create_engine, migrate
    from crashveil.server.db.tables import crash_groups, projects
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.settings import Settings
    from crashveil.server.storage.store import Storage

    settings = Settings(server_dir=root, database_url=url, sealing_suite="x25519", project_cache_s=30.0)
    engine = create_engine(url)
    migrate(engine)
    with engine.connect() as conn:
        reuse = conn.execute(sa.select(projects.c.id).where(projects.c.id == "bench")).first() is not None
    engine.dispose()
    if not settings.kek_path.exists():
        FileKeyProvider.create(settings.kek_path, now=NOW - timedelta(days=100))
    storage = Storage.open(settings, clock=lambda: NOW)
    started = time.perf_counter()
    if reuse:
        with storage.engine.connect() as conn:
            group_ids = list(conn.execute(sa.select(crash_groups.c.id).where(crash_groups.c.project_id == "bench")
                                          .order_by(crash_groups.c.total_count.desc(), crash_groups.c.id)).scalars())
    else:
        storage.create_project("bench", now=NOW - timedelta(days=100))
        with storage.engine.connect() as conn:
            first_id = (conn.execute(sa.select(sa.func.max(crash_groups.c.id))).scalar() or 0) + 1
        sink = SqliteSink(sa.engine.make_url(url).database) if url.startswith("sqlite") else PostgresSink(url)
        group_ids = generate(sink, "bench", n_reports, n_groups, NOW, first_id=first_id)
    return storage, group_ids, time.perf_counter() - started


def _open(url: str, root: Path, n_reports: int, n_groups: int) -> Bench:
    from argon2 import PasswordHasher
    from sqlalchemy import event

    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit import AuditTrail

    storage, group_ids, load_s = _load(url, root, n_reports, n_groups)
    backends: set[int] = set()
    if not url.startswith("sqlite"):
        @event.listens_for(storage.engine, "connect")
        def _backend(dbapi_connection: Any, _record: Any) -> None:
            backends.add(int(dbapi_connection.info.backend_pid))

        storage.engine.dispose()  # connections made from now on are counted
    audit = AuditTrail.for_server_dir(storage.engine, root, now=lambda: NOW)
    access = AccessStore(storage.engine, audit, now=lambda: NOW,
                         hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    if "dev" not in {user.name for user in access.list_users()}:
        access.add_user("dev", "dev-password-123", actor="cli")
        access.grant("dev", "bench", "developer", actor="cli")
    return Bench(url, root, storage, access, audit, group_ids, load_s, backends)


def _client(bench: Bench, cache_s: float) -> Any:
    from starlette.applications import Starlette

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from crashveil.server.dashboard import dashboard_routes

    app = Starlette(routes=dashboard_routes(bench.storage, access=bench.access, audit=bench.audit, secret=b"b" * 32,
                                            secure_cookies=False, now=lambda: NOW, cache_s=cache_s))
    client = TestClient(app, base_url="http://bench")
    page = client.get("/dashboard/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    client.post("/dashboard/login", data={"nonce": nonce, "name": "dev", "password": "dev-password-123"},
                headers={"Origin": "http://bench"})
    return client


def cases(bench: Bench, client: Any) -> list[tuple[str, str]]:
    """(page, path) of every measured request: each sort, filters, searches, ranges, group pages."""
    top, mid = bench.group_ids[0], bench.group_ids[min(len(bench.group_ids) - 1, 10_000)]
    base = "/dashboard/p/bench/"
    since30, since90 = (NOW - timedelta(days=29)).date(), (NOW - timedelta(days=89)).date()
    return [
        ("list, last seen (default), page 1", base),
        ("list, by events", f"{base}?sort=events"),
        ("list, by installations", f"{base}?sort=installs"),
        ("list, by trend", f"{base}?sort=trend"),
        ("list, by first seen", f"{base}?sort=first_seen"),
        ("list, by events, page 20 (cursor)", _page_url(client, f"{base}?sort=events", 20)),
        ("list, release 1.3.4", f"{base}?release=1.3.4"),
        ("list, status resolved", f"{base}?status=resolved"),
        ("list, env staging", f"{base}?env=staging"),
        ("list, release 1.3.4 + env staging", f"{base}?release=1.3.4&env=staging"),
        ("list, last seen in 30 days", f"{base}?last_after={since30}"),
        ("list, last seen in 90 days", f"{base}?last_after={since90}"),
        ("list, 30 days, by events", f"{base}?last_after={since30}&sort=events"),
        ("list, 90 days, by installations", f"{base}?last_after={since90}&sort=installs"),
        ("search, common 'TimeoutError'", f"{base}?q=TimeoutError"),
        ("search, common 'declined' by events", f"{base}?q=declined&sort=events"),
        ("search, rare 'mod123.handler'", f"{base}?q=mod123.handler"),
        ("search, rare 'handler4242'", f"{base}?q=handler4242"),
        ("search, no match", f"{base}?q=no-such-crash"),
        ("group page, largest group", f"{base}groups/{top}"),
        ("group page, 10,000th group", f"{base}groups/{mid}"),
    ]


def measure(bench: Bench, client: Any, path: str, runs: int) -> tuple[list[float], list[float], float | None]:
    """Wall and app CPU ms of each of ``runs`` requests (after 5 warm-ups), and db CPU ms per request."""
    for _ in range(5):
        assert client.get(path).status_code == 200, path
    db_before = process_cpu_seconds(bench.backends)
    times, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        answer = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        assert answer.status_code == 200, path
    db_after = process_cpu_seconds(bench.backends)
    db_ms = None if db_before is None or db_after is None else (db_after - db_before) * 1000 / runs
    return times, cpu, db_ms


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


@dataclass
class Sample:
    """One row's measurements: wall and app CPU ms per request, db CPU ms per request (mean)."""

    wall: list[float]
    cpu: list[float]
    db: float | None

    def cpu_total(self) -> float:
        """Median app CPU plus the database's CPU per request: the figure to trust when busy."""
        return statistics.median(self.cpu) + (self.db or 0.0)


def measure_cases(bench: Bench, runs: int, caches: list[str]) -> dict[tuple[str, str], Sample]:
    """(cache mode, page) -> its :class:`Sample`, every case of :func:`cases` per cache mode."""
    out = {}
    for label in caches:
        client = _client(bench, 60.0 if label == "on" else 0.0)
        for name, path in cases(bench, client):
            times, cpu, db_ms = measure(bench, client, path, runs if label == "on" else max(5, runs // 4))
            out[(label, name)] = Sample(times, cpu, db_ms)
    return out


def run(bench: Bench, runs: int, caches: list[str]) -> None:
    print(f"{len(bench.group_ids):,} groups on {bench.engine_name}, data ready in {bench.load_s:.1f} s; {runs} "
          f"requests per row (cache off: {max(5, runs // 4)}) after 5 warm-ups, in-process ASGI; target p95 <= "
          f"{TARGET_MS:.0f} ms\n")
    rows = []
    for (label, name), got in measure_cases(bench, runs, caches).items():
        p95 = _p95(got.wall)
        rows.append((name, bench.engine_name, label, f"{statistics.median(got.wall):.1f}", f"{p95:.1f}",
                     f"{TARGET_MS:.0f}", "pass" if p95 <= TARGET_MS else "FAIL", f"{statistics.median(got.cpu):.1f}",
                     f"{_p95(got.cpu):.1f}", "-" if got.db is None else f"{got.db:.1f}"))
    print_table(("page", "engine", "cache", "p50 ms", "p95 ms", "target", "result", "app cpu med", "app cpu p95",
                 "db cpu/req"), rows)


def _resolve(url: str | None, root: Path, name: str) -> tuple[str, Path]:
    """(database URL, server directory) for ``--database-url``-style ``url`` (see the module docstring)."""
    if url is None:
        return f"sqlite:///{root / (name + '.db')}", root
    if not url.startswith(("sqlite:", "postgresql:", "postgres:")):
        path = Path(url).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}", path.parent
    return url, root


def _child_samples(src: str, url: str, root: Path, args: argparse.Namespace, runs: int
                   ) -> dict[tuple[str, str], Sample]:
    """Run this script over ``url`` in a child process whose ``crashveil`` is the tree ``src``."""
    command = [sys.executable, __file__, "--child", "--database-url", url, "--dir", str(root), "--runs", str(runs),
               "--cache", args.cache, "--reports", str(args.reports), "--groups", str(args.groups)]
    done = subprocess.run(command, env={**os.environ, "PYTHONPATH": src}, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the child over {url} with {src} failed:\n{done.stderr[-3000:]}")
    out = done.stdout
    raw = json.loads(out.strip().splitlines()[-1])
    return {(row["cache"], row["page"]): Sample(row["wall"], row["cpu"], row["db"]) for row in raw}


def compare(args: argparse.Namespace, mine: tuple[str, Path], theirs: tuple[str, Path]) -> None:
    """This tree over ``mine`` against ``--against`` over ``theirs``, alternating ``--rounds``
    times (a child process per tree and round), then one table of both."""
    runs = max(5, args.runs // args.rounds)
    trees = {"this": (str(HERE), *mine), "against": (args.against, *theirs)}
    got: dict[str, dict[tuple[str, str], Sample]] = {"this": {}, "against": {}}
    for _ in range(args.rounds):
        for name, (src, url, root) in trees.items():
            for key, sample in _child_samples(src, url, root, args, runs).items():
                had = got[name].setdefault(key, Sample([], [], 0.0))
                had.wall += sample.wall
                had.cpu += sample.cpu
                had.db = None if sample.db is None else (had.db or 0.0) + sample.db / args.rounds
    engine = "SQLite" if mine[0].startswith("sqlite") else "PostgreSQL"
    print(f"{engine}; this tree against {args.against}, {args.rounds} alternating rounds of {runs} requests per row "
          f"(cache off: {max(5, runs // 4)}); cpu/req = median app CPU + db CPU per request; target p95 <= "
          f"{TARGET_MS:.0f} ms\n")
    rows = []
    for key, new in got["this"].items():
        old = got["against"][key]
        rows.append((key[1], key[0], f"{statistics.median(old.wall):.1f}", f"{_p95(old.wall):.1f}",
                     f"{statistics.median(new.wall):.1f}", f"{_p95(new.wall):.1f}",
                     "pass" if _p95(new.wall) <= TARGET_MS else "FAIL", f"{old.cpu_total():.1f}",
                     f"{new.cpu_total():.1f}", f"{new.cpu_total() / old.cpu_total():.2f}"))
    print_table(("page", "cache", "before p50", "before p95", "p50 ms", "p95 ms", "result", "before cpu/req",
                 "cpu/req", "ratio"), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--database-url", default=None,
                        help="a SQLite file path or sqlite:/// URL, a PostgreSQL URL, or 'temp-postgresql'")
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--cache", default="on,off", help="which cache modes to measure: on, off or on,off")
    parser.add_argument("--dir", type=Path, default=None,
                        help="the server directory (its key file) to keep for a PostgreSQL database reused later")
    parser.add_argument("--against", default=None, help="another tree's src directory to compare with (before)")
    parser.add_argument("--against-database-url", default=None,
                        help="the other tree's database (its own: the schemas may differ); with temp-postgresql, "
                             "a second database of the same server; default a SQLite file beside this one's")
    parser.add_argument("--against-dir", type=Path, default=None, help="the other tree's server directory")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the two trees (--against)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    caches = [c.strip() for c in args.cache.split(",") if c.strip()]
    with contextlib.ExitStack() as stack:
        root = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        root.mkdir(parents=True, exist_ok=True)
        url, other_url = args.database_url, args.against_database_url
        if url == TEMPORARY:
            url, _ = stack.enter_context(temporary_postgresql())
            if args.against is not None and other_url is None:
                other_url = _second_database(url, "against")
        if args.against is not None:
            other_root = args.against_dir or root / "against"
            other_root.mkdir(parents=True, exist_ok=True)
            compare(args, _resolve(url, root, "bench"), _resolve(other_url, other_root, "against"))
            return
        url, root = _resolve(url, root, "bench")
        bench = _open(url, root, args.reports, args.groups)
        stack.callback(bench.storage.close)
        store_representatives(bench.storage, "bench", [bench.group_ids[0],
                                                       bench.group_ids[min(len(bench.group_ids) - 1, 10_000)]])
        if args.child:
            print(json.dumps([dict(cache=cache, page=page, wall=got.wall, cpu=got.cpu, db=got.db)
                              for (cache, page), got in measure_cases(bench, args.runs, caches).items()]))
            return
        run(bench, args.runs, caches)


def _second_database(url: str, name: str) -> str:
    """The URL of a new, empty database ``name`` on the server of ``url``."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return url.replace("/bench?", f"/{name}?")


if __name__ == "__main__":
    main()
