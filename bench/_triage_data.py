"""Bulk data for bench/dashboard.py: N reports in G groups, straight into the real schema.

One plain sqlite3 connection (synchronous=OFF for the load only), one ``executemany`` per
table and batch, groups generated one after another so memory stays small at 1M reports:
group sizes are Zipf-like (s = 1.1), 90 days with more reports recently, 20 releases, 3
environments, 4 OS families, 50,000 install pseudonyms. Each group gets what ingest would
have written (``storage.triage``): culprit, search text, a message template, an all-time
install sketch and count, today's and yesterday's counts, and its facets; reports, hourly
and daily roll-ups and filter values as ``Storage.store_reports`` writes them. Reports are
counts-only (no detail) and the daily roll-ups carry no per-day install sketches (the list
does not read them; 1M of them would take ~512 MB).
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

TYPES = ("ValueError", "KeyError", "TypeError", "AttributeError", "RuntimeError", "OSError", "TimeoutError",
         "ZeroDivisionError", "IndexError", "PermissionError", "ConnectionError", "UnicodeDecodeError")
TEMPLATES = ("invalid literal for int() with base <n>: <str>", "card <n> declined", "no such table: <str>",
             "timed out after <n> s", "list index out of range", "cannot open <str>", "unexpected state <str>")
RELEASES = [f"1.{i // 5}.{i % 5}" for i in range(20)]
FAMILIES = ("linux", "windows", "macos", "freebsd")
ENVIRONMENTS = ("production", "staging", "development")


def _hour(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:00Z")


def _naive(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


def generate(db_path: Any, project_id: str, n_reports: int, n_groups: int, now: datetime, *,
             seed: int = 1) -> list[int]:
    """Load the data; returns the group ids, largest group first."""
    from crashveil.server.db.rollup_tables import InstallSketch
    from crashveil.server.storage.triage import install_count

    rng = random.Random(seed)
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA synchronous=OFF")
    days = 90
    hours = days * 24
    installs = [f"{rng.getrandbits(128):032x}" for _ in range(50_000)]
    weights = [1 / (i + 1) ** 1.1 for i in range(n_groups)]
    sizes = Counter(rng.choices(range(n_groups), weights=weights, k=n_reports))
    today, yesterday = now.strftime("%Y-%m-%d"), (now - timedelta(days=1)).strftime("%Y-%m-%d")
    filters: dict[tuple[str, str], str] = {}
    out = _Batches(conn)
    group_ids = []
    for g in range(n_groups):
        n = max(1, sizes.get(g, 0))
        backs = sorted((int(rng.random() ** 1.5 * hours) for _ in range(n)), reverse=True)
        first, last = now - timedelta(hours=backs[0]), now - timedelta(hours=backs[-1])
        family = FAMILIES[g % 4]
        env = ENVIRONMENTS[0 if g % 10 else 1 + g % 2]
        sketch = InstallSketch()
        hourly: Counter[tuple[str, str, str]] = Counter()
        daily: Counter[tuple[str, str, str]] = Counter()
        releases_seen: set[str] = set()
        day_counts: Counter[str] = Counter()
        gid = out.group(project_id, g, first, last, n, rng)
        group_ids.append(gid)
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
            releases_seen.add(release)
            for kind, value in (("release", release), ("os_family", fam)):
                if filters.get((kind, value), "") < hour[:10]:
                    filters[(kind, value)] = hour[:10]
            out.reports.append((project_id, str(uuid.UUID(int=rng.getrandbits(128), version=4)), f"{g:08x}{i:024x}",
                                gid, f"v1:{g:032x}", release, fam, hour, hour, hour[:10], "crash", "crashveil-sdk",
                                install, "sha256:" + "0" * 64, _naive(moment)))
        out.hourly += [(gid, *k, project_id, c) for k, c in hourly.items()]
        out.daily += [(gid, *k, project_id, c) for k, c in daily.items()]
        facets = [("release", r) for r in releases_seen] + [("environment", env), ("platform", "python")]
        facets += [("os", f) for f in {k[2] for k in daily}]
        out.facets += [(gid, kind, value, project_id) for kind, value in facets]
        day_key = today if day_counts[today] else yesterday if day_counts[yesterday] else max(day_counts)
        prev = day_counts[yesterday] if day_key == today else 0
        out.state.append((sketch.to_bytes(), install_count(sketch.registers), day_key, day_counts[day_key], prev,
                          day_counts[day_key] - prev, gid))
        out.flush_if_full()
    out.flush()
    conn.executemany("INSERT INTO project_filter_values (project_id, kind, value, last_seen) VALUES (?,?,?,?)",
                     [(project_id, kind, value, day) for (kind, value), day in filters.items()])
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return [gid for _, gid in sorted(zip((-sizes.get(g, 0) for g in range(n_groups)), group_ids, strict=True))]


class _Batches:
    """Rows waiting for their ``executemany``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.reports: list[tuple[Any, ...]] = []
        self.hourly: list[tuple[Any, ...]] = []
        self.daily: list[tuple[Any, ...]] = []
        self.facets: list[tuple[Any, ...]] = []
        self.state: list[tuple[Any, ...]] = []

    def group(self, project_id: str, g: int, first: datetime, last: datetime, n: int, rng: random.Random) -> int:
        crash_type = TYPES[g % len(TYPES)]
        module = f"app.pkg{g % 97}.mod{g % 500}"
        cur = self.conn.execute(
            "INSERT INTO crash_groups (project_id, fingerprint, crash_type, first_seen, last_seen, first_release,"
            " last_release, status, total_count, hour_count, culprit, search_code, title_message, title_message_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,0,?,?,?,?)",
            (project_id, f"v1:{g:032x}", crash_type, _naive(first), _naive(last), RELEASES[0], RELEASES[-1],
             "open" if g % 7 else "resolved", n, f"{module}.handler{g}",
             f"{crash_type} {module}.handler{g} {module} app.core.main",
             TEMPLATES[g % len(TEMPLATES)] + f" in step {g % 1000}", _naive(last)))
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def flush_if_full(self) -> None:
        if len(self.reports) >= 50_000:
            self.flush()

    def flush(self) -> None:
        c = self.conn
        c.executemany("INSERT INTO reports (project_id, report_id, receipt, group_id, fingerprint, release, os_family,"
                      " hour, received_hour, day, level, origin, install_id, policy_digest, received_at) VALUES"
                      " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", self.reports)
        c.executemany("INSERT INTO group_rollups (group_id, hour, release, os_family, project_id, count, counts_only)"
                      " VALUES (?,?,?,?,?,?,0)", self.hourly)
        c.executemany("INSERT INTO group_daily_rollups (group_id, day, release, os_family, project_id, count,"
                      " counts_only, installs) VALUES (?,?,?,?,?,?,0,NULL)", self.daily)
        c.executemany("INSERT INTO group_facets (group_id, kind, value, project_id) VALUES (?,?,?,?)", self.facets)
        c.executemany("UPDATE crash_groups SET installs = ?, install_count = ?, day_key = ?, day_count = ?,"
                      " prev_day_count = ?, trend = ? WHERE id = ? ", self.state)
        for rows in (self.reports, self.hourly, self.daily, self.facets, self.state):
            rows.clear()
