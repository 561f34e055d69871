"""The aggregates' SQL (a keyset over (day, group, release) and a row-value IN for the install
sketches) on SQLite and PostgreSQL: pages of one give the whole list once, k applied."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from crashveil.server.api.paging import decode_cursor
from crashveil.server.api.projects.aggregates import DailyQuery, daily_page

from ..conftest import NOW, build_report


def test_daily_pages_walk_every_row_once_on_both_databases(storage: Any) -> None:
    for index, (crash_type, release, installs) in enumerate((("KeyError", "1.0", 3), ("KeyError", "1.1", 1),
                                                             ("OSError", "1.0", 2))):
        for n in range(installs):
            storage.store_report("demo", build_report(crash_type=crash_type, release=release,
                                                      install_id=f"{index:02d}{n:030d}"),
                                 origin="crashveil-sdk", received_at=NOW - timedelta(hours=index),
                                 redaction_hits={}, dropped_fields=())
    since = (NOW - timedelta(days=2)).date().isoformat()
    with storage.engine.connect() as conn:
        whole = daily_page(conn, "demo", DailyQuery(since, None, None, None, 100), min_k=2)
        seen: list[dict[str, Any]] = []
        after = None
        while True:
            page = daily_page(conn, "demo", DailyQuery(since, None, None, after, 1), min_k=2)
            seen += page.items
            if page.next is None:
                break
            after = decode_cursor(page.next, "aggregates", (str, int, str))
        only = daily_page(conn, "demo", DailyQuery(since, None, "1.1", None, 100), min_k=2)
    assert (whole.items, None) == (seen, whole.next)
    assert [("1.0", 2, 2), ("1.0", 3, 3), ("1.1", 1, None)] == sorted(
        (r["release"], r["reports"], r["installs"]) for r in whole.items)
    assert [("1.1", 1, None)] == [(r["release"], r["reports"], r["installs"]) for r in only.items]
