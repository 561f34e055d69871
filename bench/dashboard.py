"""Dashboard response times with 1M stored reports in 100k groups on SQLite (DESIGN.md section 6:
group list and search p95 <= 50 ms).

Run: ``python bench/dashboard.py [--reports 1000000] [--groups 100000] [--runs 200] [--dir DIR]``
(``--dir``: keep the generated database there and reuse it on the next run).

The data is generated straight into the real schema (``bench/_triage_data.py`` says how), one
``executemany`` per table and batch; one real, encrypted report in each measured group (its
newest) is stored through ``Storage.store_report`` so the group page links its trace.

Requests go through the whole ASGI app in process (routing, session lookup, CSRF token,
templates, queries), signed in as a developer (whose search also looks at culprits, modules
and message templates); the network is left out on purpose. "median" and "p95" are
wall-clock; "cpu ms med" is the median CPU time of this process per request (all its
threads, user + system), the figure to trust on a busy machine.
"""

from __future__ import annotations

import argparse
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

from _triage_data import generate

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)


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


def _page_url(client: Any, url: str, page: int) -> str:
    """The URL of page ``page`` of a list, by following its 'Next page' links."""
    import html
    import re

    for _ in range(page - 1):
        found = re.search(r'rel="next" href="([^"]+)"', client.get(url).text)
        assert found is not None, "fewer pages than asked for"
        url = html.unescape(found.group(1))
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=100_000)
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
            group_ids = generate(root / "bench.db", "bench", args.reports, args.groups, NOW)
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

        top, mid = group_ids[0], group_ids[min(len(group_ids) - 1, 10_000)]
        store_representatives(storage, "bench", [top, mid])
        cases = [
            ("list, last seen, page 1", "/dashboard/p/bench/"),
            ("list, by events", "/dashboard/p/bench/?sort=events"),
            ("list, by installations", "/dashboard/p/bench/?sort=installs"),
            ("list, by trend", "/dashboard/p/bench/?sort=trend"),
            ("list, by events, page 20 (cursor)", ""),
            ("list, release 1.3.4 + staging", "/dashboard/p/bench/?release=1.3.4&env=staging"),
            ("list, open, first seen in 7 days", "/dashboard/p/bench/?status=open&first_after=2026-05-14"),
            ("search, type 'TimeoutError'", "/dashboard/p/bench/?q=TimeoutError"),
            ("search, culprit 'mod123.handler'", "/dashboard/p/bench/?q=mod123.handler"),
            ("search, template 'declined' by events", "/dashboard/p/bench/?q=declined&sort=events"),
            ("search, no match", "/dashboard/p/bench/?q=no-such-crash"),
            ("group detail, largest group", f"/dashboard/p/bench/groups/{top}"),
            ("group detail, 10,000th group", f"/dashboard/p/bench/groups/{mid}"),
        ]
        print(f"{args.reports:,} reports, {len(group_ids):,} groups, generated and loaded in {load_s:.1f} s; "
              f"{args.runs} requests per row after 5 warm-up requests (SQLite, in-process ASGI)\n")
        print(f"{'request':<38} {'cache':>6} {'median ms':>10} {'p95 ms':>8} {'cpu ms med':>11}")
        for cache_s, label, runs in ((60.0, "60 s", args.runs), (0.0, "off", max(5, args.runs // 10))):
            client = client_for(cache_s)
            cases[4] = (cases[4][0], _page_url(client, "/dashboard/p/bench/?sort=events", 20))
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
