"""The group page's figures: affected installations from the day sketches (issue 6), the
30-day window to the hour, k-suppression and the release distribution (what the page
may not show: test_group_access.py)."""

from __future__ import annotations

import re
import warnings
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from crashveil.server.dashboard import queries as q
from crashveil.server.db.rollup_tables import _register
from crashveil.server.db.tables import reports

from .conftest import NOW, Seeder
from .test_views import ORIGIN, _login

#: The sketch's stated relative standard error for large counts (db.rollup_tables).
SKETCH_RSE = 0.046
#: The group page's window: 30 days back from now, to the hour.
SINCE = q.hour_key(NOW - timedelta(days=30))


@pytest.fixture
def client(dash: Any) -> TestClient:
    return TestClient(dash.app, base_url=ORIGIN)


def _installs_shown(page: str) -> str:
    return re.search(r"<dt>Installations \(30 days\)</dt><dd>([^<]*)</dd>", page).group(1)


def _truth(engine: Any, group_id: int) -> int:
    """Distinct install pseudonyms of the group's reports in the page's window."""
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count(sa.distinct(reports.c.install_id))).where(
            reports.c.group_id == group_id, reports.c.hour >= SINCE)).scalar_one()


def _apart(prefix: str, n: int, taken: set[int]) -> list[str]:
    """``n`` install ids whose sketch registers differ from each other and from ``taken``
    (the sketch is then exact, so a test about the window is not one about accuracy)."""
    out = []
    i = 0
    while len(out) < n:
        install = f"{prefix}{i:08x}".ljust(32, "0")
        index, _ = _register(install)
        if index not in taken:
            taken.add(index)
            out.append(install)
        i += 1
    return out


def test_installations_match_the_truth_within_the_sketch_error(client: TestClient, dash: Any) -> None:
    """3,000 installations over 30 days (plus older ones, outside): the page shows the sketch's
    figure, within 3 standard errors of the distinct pseudonyms in the reports."""
    seed = Seeder(dash.storage.engine)
    gid = seed.group("demo", "bulk", "BulkError")
    releases, families = ["1.0.0", "1.1.0", "1.2.0"], ["linux", "windows", "macos"]
    for day in range(30):
        installs = [f"{day:04x}{i:028x}" for i in range(100)]
        seed.reports("demo", gid, when=NOW - timedelta(days=day, hours=1), count=150, installs=installs,
                     release=releases[day % 3], os_family=families[(day // 3) % 3])
    seed.reports("demo", gid, when=NOW - timedelta(days=33), count=500,
                 installs=[f"old{i:029x}" for i in range(500)])
    _login(client, "dev")
    shown = _installs_shown(client.get(f"/dashboard/p/demo/groups/{gid}").text)
    truth = _truth(dash.storage.engine, gid)
    with dash.storage.engine.connect() as conn:
        sketched = q.group_installs(conn, gid, since=SINCE, min_k=5)
    assert (3000, str(sketched), True) == (truth, shown, abs(int(shown) - truth) <= 3 * SKETCH_RSE * truth)


def test_the_window_is_thirty_days_to_the_hour(client: TestClient, dash: Any) -> None:
    """Installations and releases count reports from the hour 30 days back on, not from the
    start of that day (sketches cover whole days, that day's hours come from the reports)."""
    seed = Seeder(dash.storage.engine)
    gid = seed.group("demo", "edges", "EdgeError")
    taken: set[int] = set()
    recent, edge, early, old = (_apart(p, n, taken) for p, n in (("a", 6), ("b", 2), ("c", 3), ("d", 4)))
    seed.reports("demo", gid, when=NOW - timedelta(hours=3), count=6, installs=recent, release="2.0")
    seed.reports("demo", gid, when=NOW - timedelta(days=30) + timedelta(hours=1), count=2, installs=edge,
                 release="1.9")
    seed.reports("demo", gid, when=NOW - timedelta(days=30, hours=2), count=3, installs=early, release="1.8")
    seed.reports("demo", gid, when=NOW - timedelta(days=31), count=4, installs=old, release="1.7")
    _login(client, "dev")
    page = client.get(f"/dashboard/p/demo/groups/{gid}").text
    bars = client.get(f"/dashboard/p/demo/groups/{gid}/plots/releases.svg").text
    seen = re.search(r"<dt>Releases \(30 days\)</dt><dd>([^<]*)</dd>", page).group(1)
    assert ("8", 8, "2.0, 1.9", True, False, False) == (
        _installs_shown(page), _truth(dash.storage.engine, gid), seen, ">1.9<" in bars, ">1.8<" in bars,
        ">1.7<" in bars)


def test_installations_below_k_are_hidden_on_the_group_page(client: TestClient, dash: Any) -> None:
    """Four installations in 30 days (k = 5): "fewer than 5", whatever the reports count."""
    seed = Seeder(dash.storage.engine)
    gid = seed.group("demo", "few", "FewError")
    seed.reports("demo", gid, when=NOW - timedelta(hours=5), count=40, installs=_apart("e", 4, set()))
    _login(client, "dev")
    page = client.get(f"/dashboard/p/demo/groups/{gid}").text
    assert ("fewer than 5", "40") == (_installs_shown(page),
                                      re.search(r"<dt>Reports \(all time\)</dt><dd>(\d+)</dd>", page).group(1))


def test_the_group_page_reads_at_most_one_day_of_reports_for_installations(client: TestClient, dash: Any) -> None:
    """Every statement of the group page that reads a group's install pseudonyms from the
    reports is bounded above by an hour (the window's first, partial day): no scan of 30 days."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    _login(client, "dev")
    sa.event.listen(dash.storage.engine, "before_cursor_execute", record)
    try:
        page = client.get(f"/dashboard/p/demo/groups/{dash.group_ids['fetch']}")
    finally:
        sa.event.remove(dash.storage.engine, "before_cursor_execute", record)
    reading = [s for s in statements if "reports.install_id" in s and "reports.group_id =" in s]
    assert (200, []) == (page.status_code, [s for s in reading if "reports.hour <" not in s])


def test_the_group_list_filters_still_apply(dash: Any) -> None:
    """The group list's installations follow the release, OS family and time range filters (few
    installations, on distinct registers: the sketch is exact there)."""
    seed = Seeder(dash.storage.engine)
    gid = seed.group("demo", "filtered", "FilteredError")
    taken: set[int] = set()
    linux, windows, older = (_apart(p, n, taken) for p, n in (("f", 3), ("g", 4), ("h", 2)))
    seed.reports("demo", gid, when=NOW - timedelta(hours=2), count=30, installs=linux, release="3.1",
                 os_family="linux")
    seed.reports("demo", gid, when=NOW - timedelta(hours=3), count=40, installs=windows, release="3.1",
                 os_family="windows")
    seed.reports("demo", gid, when=NOW - timedelta(days=10), count=20, installs=older, release="3.0",
                 os_family="linux")

    def installs(**flt: Any) -> int:
        with dash.storage.engine.connect() as conn:
            rows = q.list_groups(conn, "demo", q.GroupFilter(**flt), now=NOW)
        return {r.id: r.installs for r in rows}.get(gid, 0)

    assert [7, 9, 5, 3, 4, 2] == [installs(range="24h"), installs(range="30d"), installs(range="30d",
                                      os_family="linux"), installs(range="7d", os_family="linux"),
                                      installs(range="24h", release="3.1", os_family="windows"),
                                      installs(range="30d", release="3.0")]
