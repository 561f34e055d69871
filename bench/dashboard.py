"""Dashboard response times with 1M stored reports on SQLite (DESIGN.md section 6: p95 <= 50 ms).

Run: ``python bench/dashboard.py [--reports 1000000] [--runs 200] [--dir DIR]`` (``--dir``: keep the
generated database there and reuse it on the next run).

The reports, groups, hourly and daily roll-ups (with install sketches) are generated straight into the tables with one
``executemany`` per batch on a plain sqlite3 connection (synchronous=OFF for the load only;
the server's own connections use FULL): 500 groups with Zipf-like sizes, 90 days, 20
releases, 4 OS families, 50,000 install pseudonyms. Reports are counts-only (no detail), as
in mass-failure mode, except one real, encrypted report in each measured group (its newest),
stored through ``Storage.store_report`` so the group page links its trace (opened with a reason, never
decrypted on the group page itself).

Requests go through the whole ASGI app in process (routing, session lookup, CSRF token,
templates, queries), signed in as a developer; the network is left out on purpose. Times are
wall-clock; "cpu ms med" is the median CPU time of this process per request (all its threads,
user + system), which shows how much of a slow row is waiting for a shared CPU.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)


def _hour(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:00Z")


def generate(db_path: Path, project_id: str, n_reports: int, *, seed: int = 1) -> list[int]:
    """Bulk-insert groups, reports and roll-ups; returns group ids, largest first."""
    rng = random.Random(seed)
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA synchronous=OFF")
    n_groups, days = 500, 90
    weights = [1 / (i + 1) ** 1.1 for i in range(n_groups)]
    releases = [f"1.{i // 5}.{i % 5}" for i in range(20)]
    families = ["linux", "windows", "macos", "freebsd"]
    installs = [f"{rng.getrandbits(128):032x}" for _ in range(50_000)]
    first = NOW - timedelta(days=days)
    group_ids = []
    for g in range(n_groups):
        cur = conn.execute(
            "INSERT INTO crash_groups (project_id, fingerprint, crash_type, first_seen, last_seen, first_release,"
            " last_release, status, total_count, hour_count) VALUES (?,?,?,?,?,?,?,?,?,0)",
            (project_id, f"v1:{g:032x}", f"Error{g}", first.replace(tzinfo=None).isoformat(" "),
             NOW.replace(tzinfo=None).isoformat(" "), releases[0], releases[-1], "open", 0))
        group_ids.append(int(cur.lastrowid))
    from crashveil.server.db.rollup_tables import InstallSketch

    rollups: dict[tuple[int, str, str, str], int] = {}
    daily: dict[tuple[int, str, str, str], list] = {}  # -> [count, sketch]
    day_sketches: dict[tuple[int, str], InstallSketch] = {}
    filters: dict[tuple[str, str], str] = {}
    totals = [0] * n_groups
    batch = []
    hours = days * 24
    chosen = rng.choices(range(n_groups), weights=weights, k=n_reports)
    for i, g in enumerate(chosen):
        back = int(rng.random() ** 1.5 * hours)  # more reports recently
        moment = NOW - timedelta(hours=back)
        hour = _hour(moment)
        release = releases[min(19, int((hours - back) / hours * 20))]
        family = families[rng.randrange(4) if rng.random() < 0.3 else g % 4]
        install = installs[rng.randrange(len(installs))]
        gid = group_ids[g]
        totals[g] += 1
        key = (gid, hour, release, family)
        rollups[key] = rollups.get(key, 0) + 1
        day = hour[:10]
        slot = daily.get((gid, day, release, family))
        if slot is None:
            slot = daily[(gid, day, release, family)] = [0, InstallSketch()]
        slot[0] += 1
        slot[1].add(install)
        sketch = day_sketches.get((gid, day))
        if sketch is None:
            sketch = day_sketches[(gid, day)] = InstallSketch()
        sketch.add(install)
        for kind, value in (("release", release), ("os_family", family)):
            if filters.get((kind, value), "") < day:
                filters[(kind, value)] = day
        batch.append((project_id, str(uuid.UUID(int=rng.getrandbits(128), version=4)), f"{i:032x}", gid,
                      f"v1:{g:032x}", release, family, hour, hour, hour[:10], "crash", "crashveil-sdk", install,
                      "sha256:" + "0" * 64, moment.replace(tzinfo=None).isoformat(" ")))
        if len(batch) == 50_000:
            _insert_reports(conn, batch)
            batch = []
    _insert_reports(conn, batch)
    conn.executemany("INSERT INTO group_rollups (group_id, hour, release, os_family, project_id, count, counts_only)"
                     " VALUES (?,?,?,?,?,?,0)", [(*k, project_id, n) for k, n in rollups.items()])
    # The daily roll-ups, install sketches and filter values that Storage.store_reports keeps.
    conn.executemany("INSERT INTO group_daily_rollups (group_id, day, release, os_family, project_id, count,"
                     " counts_only, installs) VALUES (?,?,?,?,?,?,0,?)",
                     [(*k, project_id, n, sk.to_bytes()) for k, (n, sk) in daily.items()])
    conn.executemany("INSERT INTO group_day_installs (group_id, day, project_id, installs) VALUES (?,?,?,?)",
                     [(*k, project_id, sk.to_bytes()) for k, sk in day_sketches.items()])
    conn.executemany("INSERT INTO project_filter_values (project_id, kind, value, last_seen) VALUES (?,?,?,?)",
                     [(project_id, kind, value, day) for (kind, value), day in filters.items()])
    conn.executemany("UPDATE crash_groups SET total_count = ? WHERE id = ?",
                     [(totals[g], group_ids[g]) for g in range(n_groups)])
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return group_ids


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
            frames = tuple(Frame(f"app/module{i}.py", f"step{i}", 10 + i, i % 3 != 0) for i in range(30))
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


def _insert_reports(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    conn.executemany(
        "INSERT INTO reports (project_id, report_id, receipt, group_id, fingerprint, release, os_family, hour,"
        " received_hour, day, level, origin, install_id, policy_digest, received_at) VALUES"
        " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--dir", type=Path, default=None,
                        help="keep the server directory here and reuse its database on the next run")
    args = parser.parse_args()

    from argon2 import PasswordHasher
    from starlette.applications import Starlette

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from crashveil.server.dashboard import dashboard_routes
    from crashveil.server.db.engine import create_engine, migrate
    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.settings import Settings
    from crashveil.server.storage.store import Storage

    with tempfile.TemporaryDirectory() as tmp:
        root = args.dir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{root / 'bench.db'}"
        settings = Settings(server_dir=root, database_url=url, sealing_suite="x25519", project_cache_s=30.0)
        reuse = (root / "bench.db").exists()
        engine = create_engine(url)
        migrate(engine)
        engine.dispose()
        if not reuse:
            FileKeyProvider.create(settings.kek_path, now=NOW - timedelta(days=100))
        storage = Storage.open(settings, clock=lambda: NOW)
        started = time.perf_counter()
        if reuse:
            import sqlalchemy as sa

            from crashveil.server.db.tables import crash_groups
            with storage.engine.connect() as conn:
                group_ids = list(conn.execute(sa.select(crash_groups.c.id).order_by(crash_groups.c.total_count.desc()))
                                 .scalars())
        else:
            storage.create_project("bench", now=NOW - timedelta(days=100))
            group_ids = generate(root / "bench.db", "bench", args.reports)
        load_s = time.perf_counter() - started
        audit = AuditTrail.for_server_dir(storage.engine, root, now=lambda: NOW)
        access = AccessStore(storage.engine, audit, now=lambda: NOW,
                             hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        if not reuse:
            access.add_user("dev", "dev-password-123", actor="cli")
            access.grant("dev", "bench", "developer", actor="cli")
        import re

        def client_for(cache_s: float) -> TestClient:
            app = Starlette(routes=dashboard_routes(storage, access=access, audit=audit, secret=b"b" * 32,
                                                    secure_cookies=False, now=lambda: NOW, cache_s=cache_s))
            client = TestClient(app, base_url="http://bench")
            page = client.get("/dashboard/login")
            nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
            client.post("/dashboard/login", data={"nonce": nonce, "name": "dev", "password": "dev-password-123"},
                        headers={"Origin": "http://bench"})
            return client

        top, mid = group_ids[0], group_ids[len(group_ids) // 10]
        store_representatives(storage, "bench", [top, mid])
        cases = [
            ("group list, 7 days, by count", "/dashboard/p/bench/"),
            ("group list, 30 days, by installs", "/dashboard/p/bench/?range=30d&sort=installs"),
            ("group list, 90 days, one release", "/dashboard/p/bench/?range=90d&release=1.3.4"),
            ("group detail, largest group", f"/dashboard/p/bench/groups/{top}"),
            ("group detail, 50th group", f"/dashboard/p/bench/groups/{mid}"),
            ("trend plot (SVG), largest group", f"/dashboard/p/bench/groups/{top}/plots/trend.svg"),
            ("releases plot (SVG), largest group", f"/dashboard/p/bench/groups/{top}/plots/releases.svg"),
            ("OS plot (SVG), largest group", f"/dashboard/p/bench/groups/{top}/plots/os.svg"),
        ]
        print(f"{args.reports:,} reports, 500 groups, generated and loaded in {load_s:.1f} s; "
              f"{args.runs} requests per row after 5 warm-up requests (SQLite, in-process ASGI)\n")
        print(f"{'request':<38} {'cache':>6} {'median ms':>10} {'p95 ms':>8} {'cpu ms med':>11}")
        for cache_s, label, runs in ((60.0, "60 s", args.runs), (0.0, "off", max(5, args.runs // 10))):
            client = client_for(cache_s)
            for name, path in cases:
                for _ in range(5):
                    assert client.get(path).status_code == 200
                times, cpu = [], []
                for _ in range(runs):
                    t0, c0 = time.perf_counter(), time.process_time()
                    answer = client.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    cpu.append((time.process_time() - c0) * 1000)
                    assert answer.status_code == 200
                times.sort()
                p95 = times[int(0.95 * (len(times) - 1))]
                print(f"{name:<38} {label:>6} {statistics.median(times):>10.1f} {p95:>8.1f} "
                      f"{statistics.median(cpu):>11.1f}")
        storage.close()


if __name__ == "__main__":
    main()
