"""Bulk data for bench/dashboard.py: N reports in G groups, straight into the real schema.

Rows are generated group after group (memory stays small at 1M reports) and written in
batches by a sink: SQLite, one ``executemany`` per table and batch on a plain sqlite3
connection (synchronous=OFF for the load only); PostgreSQL, one ``COPY`` per table and
batch (psycopg). Group ids are given, not drawn from the sequence, so a group's rows are
all known before it is written. Group sizes are Zipf-like (s = 1.1), 90 days with more
reports recently, 20 releases, 3 environments, 4 OS families, 50,000 install pseudonyms.
Each group gets what ingest would have written (``storage.triage``): culprit, search text,
a message template, an all-time install sketch and count, today's and yesterday's counts,
and its facets; reports (with their deployment and platform), hourly and daily roll-ups and
filter values as ``Storage.store_reports`` writes them. Reports are counts-only (no detail)
and the daily roll-ups carry no per-day install sketches (the list does not read them; 1M
of them would take ~512 MB).
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

TYPES = ("ValueError", "KeyError", "TypeError", "AttributeError", "RuntimeError", "OSError", "TimeoutError",
         "ZeroDivisionError", "IndexError", "PermissionError", "ConnectionError", "UnicodeDecodeError")
TEMPLATES = ("invalid literal for int() with base <n>: <str>", "card <n> declined", "no such table: <str>",
             "timed out after <n> s", "list index out of range", "cannot open <str>", "unexpected state <str>")
RELEASES = [f"1.{i // 5}.{i % 5}" for i in range(20)]
FAMILIES = ("linux", "windows", "macos", "freebsd")
ENVIRONMENTS = ("production", "staging", "development")

GROUP_COLUMNS = ("id", "project_id", "fingerprint", "crash_type", "first_seen", "last_seen", "first_release",
                 "last_release", "status", "total_count", "hour_count", "culprit", "search_code", "title_message",
                 "title_message_at", "installs", "install_count", "day_key", "day_count", "prev_day_count", "trend")
REPORT_COLUMNS = ("project_id", "report_id", "receipt", "group_id", "fingerprint", "release", "os_family", "hour",
                  "received_hour", "day", "level", "origin", "install_id", "policy_digest", "received_at",
                  "deployment", "platform")
HOURLY_COLUMNS = ("group_id", "hour", "release", "os_family", "project_id", "count", "counts_only")
DAILY_COLUMNS = ("group_id", "day", "release", "os_family", "project_id", "count", "counts_only")
FACET_COLUMNS = ("group_id", "kind", "value", "project_id")


class Sink(Protocol):
    """Where the rows go: ``write`` a batch of one table's rows, ``finish`` once at the end."""

    def write(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None: ...

    def finish(self) -> None: ...


class SqliteSink:
    def __init__(self, path: Any) -> None:
        self.conn = sqlite3.connect(path)
        self.conn.execute("PRAGMA synchronous=OFF")

    def write(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        marks = ",".join("?" * len(columns))
        self.conn.executemany(f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})", rows)

    def finish(self) -> None:
        self.conn.commit()
        self.conn.execute("ANALYZE")
        self.conn.close()


class PostgresSink:
    """``COPY ... FROM STDIN`` per batch, one transaction; the id sequence moved past the
    given group ids, then ``ANALYZE``."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))

    def write(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def finish(self) -> None:
        self.conn.execute("SELECT setval(pg_get_serial_sequence('crash_groups', 'id'), max(id)) FROM crash_groups")
        self.conn.commit()
        self.conn.autocommit = True
        self.conn.execute("VACUUM ANALYZE")
        self.conn.close()


def _hour(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:00Z")


def _naive(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


def generate(sink: Sink, project_id: str, n_reports: int, n_groups: int, now: datetime, *, first_id: int = 1,
             seed: int = 1) -> list[int]:
    """Load the data through ``sink``; returns the group ids, largest group first."""
    rng = random.Random(seed)
    installs = [f"{rng.getrandbits(128):032x}" for _ in range(50_000)]
    weights = [1 / (i + 1) ** 1.1 for i in range(n_groups)]
    sizes = Counter(rng.choices(range(n_groups), weights=weights, k=n_reports))
    filters: dict[tuple[str, str], str] = {}
    out = _Batches(sink)
    for g in range(n_groups):
        _group(out, project_id, g, first_id + g, max(1, sizes.get(g, 0)), now, rng, installs, filters)
        out.flush_if_full()
    out.flush()
    sink.write("project_filter_values", ("project_id", "kind", "value", "last_seen"),
               [(project_id, kind, value, day) for (kind, value), day in filters.items()])
    sink.finish()
    ids = [first_id + g for g in range(n_groups)]
    return [gid for _, gid in sorted(zip((-sizes.get(g, 0) for g in range(n_groups)), ids, strict=True))]


def _group(out: _Batches, project_id: str, g: int, gid: int, n: int, now: datetime, rng: random.Random,
           installs: list[str], filters: dict[tuple[str, str], str]) -> None:
    """One group's rows: its reports, roll-ups, facets and the group row itself."""
    from crashveil.server.db.rollup_tables import InstallSketch
    from crashveil.server.storage.triage import install_count

    hours = 90 * 24
    backs = sorted((int(rng.random() ** 1.5 * hours) for _ in range(n)), reverse=True)
    family, env = FAMILIES[g % 4], ENVIRONMENTS[0 if g % 10 else 1 + g % 2]
    sketch = InstallSketch()
    hourly: Counter[tuple[str, str, str]] = Counter()
    daily: Counter[tuple[str, str, str]] = Counter()
    day_counts: Counter[str] = Counter()
    for i, back in enumerate(backs):
        moment = now - timedelta(hours=back)
        hour = _hour(moment)
        release = RELEASES[min(19, int((hours - back) / hours * 20))]
        fam = FAMILIES[rng.randrange(4)] if rng.random() < 0.3 else family
        install = installs[rng.randrange(len(installs))]
        sketch.add(install)
        hourly[(hour, release, fam)] += 1
        daily[(hour[:10], release, fam)] += 1
        day_counts[hour[:10]] += 1
        for kind, value in (("release", release), ("os_family", fam)):
            if filters.get((kind, value), "") < hour[:10]:
                filters[(kind, value)] = hour[:10]
        out.reports.append((project_id, str(uuid.UUID(int=rng.getrandbits(128), version=4)), f"{g:08x}{i:024x}",
                            gid, f"v1:{g:032x}", release, fam, hour, hour, hour[:10], "crash", "crashveil-sdk",
                            install, "sha256:" + "0" * 64, _naive(moment), env, "python"))
    out.hourly += [(gid, *k, project_id, c, 0) for k, c in hourly.items()]
    out.daily += [(gid, *k, project_id, c, 0) for k, c in daily.items()]
    facets = [("release", r) for r in {k[1] for k in daily}] + [("environment", env), ("platform", "python")]
    facets += [("os", f) for f in {k[2] for k in daily}]
    out.facets += [(gid, kind, value, project_id) for kind, value in facets]
    today, yesterday = now.strftime("%Y-%m-%d"), (now - timedelta(days=1)).strftime("%Y-%m-%d")
    day_key = today if day_counts[today] else yesterday if day_counts[yesterday] else max(day_counts)
    prev = day_counts[yesterday] if day_key == today else 0
    first, last = now - timedelta(hours=backs[0]), now - timedelta(hours=backs[-1])
    crash_type, module = TYPES[g % len(TYPES)], f"app.pkg{g % 97}.mod{g % 500}"
    out.groups.append((gid, project_id, f"v1:{g:032x}", crash_type, _naive(first), _naive(last), RELEASES[0],
                       RELEASES[-1], "open" if g % 7 else "resolved", n, 0, f"{module}.handler{g}",
                       f"{crash_type} {module}.handler{g} {module} app.core.main",
                       TEMPLATES[g % len(TEMPLATES)] + f" in step {g % 1000}", _naive(last), sketch.to_bytes(),
                       install_count(sketch.registers), day_key, day_counts[day_key], prev, day_counts[day_key] - prev))


class _Batches:
    """Rows waiting for their batch write (groups first: the other tables refer to them)."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.groups: list[tuple[Any, ...]] = []
        self.reports: list[tuple[Any, ...]] = []
        self.hourly: list[tuple[Any, ...]] = []
        self.daily: list[tuple[Any, ...]] = []
        self.facets: list[tuple[Any, ...]] = []

    def flush_if_full(self) -> None:
        if len(self.reports) >= 50_000:
            self.flush()

    def flush(self) -> None:
        for table, columns, rows in (("crash_groups", GROUP_COLUMNS, self.groups),
                                     ("reports", REPORT_COLUMNS, self.reports),
                                     ("group_rollups", HOURLY_COLUMNS, self.hourly),
                                     ("group_daily_rollups", DAILY_COLUMNS, self.daily),
                                     ("group_facets", FACET_COLUMNS, self.facets)):
            if rows:
                self.sink.write(table, columns, rows)
                rows.clear()
