"""The group list finds the same groups, in the same order, on SQLite and on PostgreSQL.

The same reports go through the real write path (``Storage.store_reports``) into a SQLite
file and a PostgreSQL database (migrated to head: trigram indexes on both); then every
sort, filter and search below runs through ``listing.list_page`` on both and the pages
(every page, by cursor) are compared. The searches include LIKE's special characters,
quotes, backslashes, non-ASCII letters in both cases (only ASCII letters fold, on both
engines), very long terms, terms shorter than a trigram, and terms matching more groups
than the trigram candidates (the list then walks the sort's index).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crashveil.policy import compute_fingerprint
from crashveil.server.dashboard.triage import search
from crashveil.server.dashboard.triage.listing import list_page
from crashveil.server.dashboard.triage.params import SORTS, ListQuery
from crashveil.server.dashboard.triage.titles import TitleRules
from crashveil.server.db import engine as db
from crashveil.server.keys.kek import FileKeyProvider
from crashveil.server.storage.records import PendingReport
from crashveil.server.storage.store import Storage
from crashveil.wire import Frame, Stack

from ..conftest import NOW, build_report, make_settings

pytestmark = pytest.mark.postgres

#: (crash type, function, message, deployment): odd texts on purpose.
ODD = [
    ("ValueError", "parse_int", "invalid literal for int() with base 10", "production"),
    ("Percent%Error", "load_100%", "100% of 50% done", "staging"),
    ("Under_score_Error", "a_b_c", "snake_case_name missing", "production"),
    ("QuoteError", "it's", "can't open 'file' \"quoted\"", "production"),
    ("BackslashError", "path_win", "C:\\Users\\x\\AppData not found", "staging"),
    ("StraßeError", "straße", "Straße und STRASSE", "production"),
    ("ÉcoleError", "école", "ÉCOLE école Ecole", "production"),
    ("ДанныеError", "данные", "Данные ДАННЫЕ", "development"),
    ("EmojiError", "emoji", "broke 💥 here", "production"),
    ("TimeoutError", "fetch", "timed out after 30 s", "production"),
    ("LongError", "x" * 60, "y" * 200, "staging"),
]
FAMILIES = ("linux", "windows", "macos")


def _frames(function: str) -> tuple[Frame, ...]:
    return (Frame("app/main.py", "main", 10, True), Frame(f"app/{function[:20]}.py", function, 42, True))


def _batch() -> list[PendingReport]:
    """60 groups: the odd ones, and 49 more of a few common types (so a common term matches
    more groups than one page), over 10 days, several releases, OS families and deployments."""
    specs = list(ODD) + [(("KeyError", "OSError", "TimeoutError")[i % 3], f"handler{i}", f"case {i} failed",
                          ("production", "staging")[i % 2]) for i in range(49)]
    out = []
    for index, (crash_type, function, message, deployment) in enumerate(specs):
        frames = _frames(function)
        for n in range(1 + index % 4):
            moment = NOW - timedelta(hours=3 + (index * 7 + n * 29) % 240)
            report = build_report(crash_type=crash_type, release=f"1.{index % 3}.{n}",
                                  install_id=f"{index:016x}{n:016x}", message=message,
                                  os_family=FAMILIES[(index + n) % 3])
            report = dataclasses.replace(report, stack=Stack(frames), deployment=deployment,
                                         fingerprint=compute_fingerprint(crash_type, frames),
                                         occurred_hour=moment.strftime("%Y-%m-%dT%H:00Z"))
            out.append(PendingReport("demo", report, "crashveil-sdk", moment, {}))
    return out


def _storage(tmp: Path, url: str) -> Storage:
    settings = make_settings(tmp, url)
    FileKeyProvider.create(settings.kek_path, now=NOW - timedelta(days=30))
    store = Storage.open(settings, clock=lambda: NOW)
    store.create_project("demo", now=NOW - timedelta(days=30))
    store.store_reports(_batch())
    with store.engine.begin() as conn:  # a few resolved groups, for the status filter
        from crashveil.server.db.tables import crash_groups
        conn.execute(crash_groups.update().where(crash_groups.c.crash_type.in_(["KeyError", "QuoteError"]))
                     .values(status="resolved"))
        conn.execute(crash_groups.update().where(crash_groups.c.crash_type.in_(["OSError", "EmojiError"]))
                     .values(assignee="user:1"))
    return store


@pytest.fixture
def engines(tmp_path: Path, pg_url: str) -> Iterator[tuple[Storage, Storage]]:
    sqlite_url = f"sqlite:///{tmp_path / 'lite' / 'crashveil.db'}"
    (tmp_path / "lite").mkdir()
    (tmp_path / "pg").mkdir()
    engine = db.create_engine(sqlite_url)
    db.migrate(engine)
    engine.dispose()
    lite, pg = _storage(tmp_path / "lite", sqlite_url), _storage(tmp_path / "pg", pg_url)
    yield lite, pg
    lite.close()
    pg.close()


DEVELOPER = TitleRules(True, NOW - timedelta(days=30))
VIEWER = TitleRules(False, None)
SEARCHES = ["ValueError", "valueerror", "VALUEERROR", "%", "100%", "_", "a_b", "\\", "C:\\Users", "'", "it's",
            "\"quoted\"", "straße", "STRASSE", "strasse", "école", "ÉCOLE", "Ecole", "данные", "ДАННЫЕ", "💥",
            "x" * 59, "y" * 200, "z" * 200, "Er", "e", "error", "handler1", "Timeout", "app.main", "no-such-crash",
            "' OR 1=1 --", "%_%", "\\%"]


def _pages(storage: Storage, query: ListQuery, rules: TitleRules) -> list[list[tuple[object, ...]]]:
    """Every page of ``query`` (following the cursors): each row's title parts and counts."""
    pages = []
    with storage.engine.connect() as conn:
        while True:
            page = list_page(conn, "demo", query, rules, now=NOW)
            pages.append([(r.crash_type, r.culprit, r.message, r.status, r.events, r.installs, r.first_seen,
                           r.last_seen, r.releases, r.daily) for r in page.rows])
            if page.next is None:
                return pages
            query = dataclasses.replace(query, after=page.next)


def _queries() -> Iterator[ListQuery]:
    for sort in SORTS:
        yield ListQuery(sort=sort, limit=7)
        yield ListQuery(sort=sort, limit=7, release="1.1.0", os="linux")
        yield ListQuery(sort=sort, limit=7, env="staging", status="open")
        yield ListQuery(sort=sort, limit=7, q="Error")
    yield ListQuery(last_after=(NOW - timedelta(days=3)).date(), limit=5)
    yield ListQuery(first_before=(NOW - timedelta(days=2)).date(), sort="events", limit=5)
    yield ListQuery(platform="python", status="resolved")
    yield ListQuery(assignee="none", sort="events", limit=7)
    yield ListQuery(assignee="user:1", limit=7)
    for text in SEARCHES:
        yield ListQuery(q=text, limit=5)


def test_every_query_lists_the_same_groups_on_both_engines(engines: tuple[Storage, Storage]) -> None:
    lite, pg = engines
    differing = []
    for rules in (DEVELOPER, VIEWER):
        for query in _queries():
            if _pages(lite, query, rules) != _pages(pg, query, rules):
                differing.append((query.params(), rules.culprit))
    assert [] == differing


def test_search_uses_the_trigram_candidates_on_both_engines(engines: tuple[Storage, Storage],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A rare term takes its candidates from the trigram index (SQLite's FTS5 table,
    PostgreSQL's GIN indexes), and those candidates are the groups found; odd input finds
    what a plain substring test in Python finds (ASCII letters folded only)."""
    calls: list[search.Candidates | None] = []
    real = search.candidates

    def spy(*args: Any) -> search.Candidates | None:
        found = real(*args)
        calls.append(found)
        return found

    monkeypatch.setattr(search, "candidates", spy)
    from crashveil.server.db.tables import crash_groups

    for storage in engines:
        with storage.engine.connect() as conn:
            texts = [(r.crash_type, f"{r.search_code or r.crash_type}\n{r.title_message or ''}") for r in conn.execute(
                sa.select(crash_groups.c.crash_type, crash_groups.c.search_code, crash_groups.c.title_message))]
            for text in ("straße", "ÉCOLE", "100%", "it's", "C:\\Users", "💥 h", "file", "a_b", "<n>"):
                calls.clear()
                rows = list_page(conn, "demo", ListQuery(q=text, limit=100), DEVELOPER, now=NOW).rows
                expected = sorted(t for t, searched in texts if _folded(text) in _folded(searched))
                assert (expected, True) == (sorted(r.crash_type for r in rows), calls[0] is not None), text
            assert len(expected) > 1  # "<n>": message templates are searched


def _folded(text: str) -> str:
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in text)


def test_postgresql_without_trigram_indexes_warns_once_and_finds_the_same(engines: tuple[Storage, Storage],
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    """Without ``pg_trgm``'s indexes (a role that could not create the extension) the list
    still answers, the same groups, and says once in the log why search is slower."""
    lite, pg = engines
    with pg.engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_group_search_text_code_trgm")
    search._TRIGRAM_CHECKED.clear()
    with caplog.at_level("WARNING", logger="crashveil.server.dashboard"):
        for text in ("straße", "timeout", "zzz"):
            assert _pages(lite, ListQuery(q=text), DEVELOPER) == _pages(pg, ListQuery(q=text), DEVELOPER)
    search._TRIGRAM_CHECKED.clear()
    assert 1 == sum("without trigram indexes" in r.getMessage() for r in caplog.records)


def test_postgresql_search_plan_reads_the_trigram_index(engines: tuple[Storage, Storage]) -> None:
    """The candidates' search reads ``group_search_text``'s trigram indexes (migration 0030):
    with table and plain index scans off, PostgreSQL answers each term from its GIN index
    (EXPLAIN; the terms are the indexes' own expressions)."""
    _, pg = engines
    for rules, indexes in ((DEVELOPER, ("ix_group_search_text_code_trgm", "ix_group_search_text_message_trgm")),
                           (VIEWER, ("ix_group_search_text_type_trgm",))):
        _assert_plan_reads(pg, search._pg_candidates("demo", "straße", rules), indexes)


def test_postgresql_search_text_follows_the_group(engines: tuple[Storage, Storage]) -> None:
    """The triggers of migration 0030 keep ``group_search_text`` in step with ``crash_groups``:
    a changed message is found by its new text (and not its old), a deleted group's row goes."""
    lite, pg = engines
    for storage in engines:
        with storage.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE crash_groups SET title_message = 'Renamed QUUXY', title_message_at ="
                                 " last_seen WHERE crash_type = 'TimeoutError'"
                                 " AND substr(title_message, 1, 5) = 'timed'")
    for text in ("quuxy", "timed out"):
        assert _pages(lite, ListQuery(q=text), DEVELOPER) == _pages(pg, ListQuery(q=text), DEVELOPER)
    assert _pages(pg, ListQuery(q="quuxy"), DEVELOPER)
    with pg.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM crash_groups WHERE title_message = 'Renamed QUUXY'")
        left = conn.exec_driver_sql("SELECT count(*) FROM group_search_text WHERE message_folded = 'renamed quuxy'")
        assert left.scalar() == 0


def _assert_plan_reads(pg: Storage, query: sa.Select[Any], indexes: tuple[str, ...]) -> None:
    with pg.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        conn.exec_driver_sql("SET enable_indexscan = off")  # else a 60-row table is read in key order
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
    assert all(index in plan for index in indexes), plan


@pytest.mark.parametrize("text", [str(uuid.UUID(int=7)), "a" * 200])
def test_long_and_absent_terms_find_nothing_on_either_engine(engines: tuple[Storage, Storage], text: str) -> None:
    for storage in engines:
        assert [[]] == _pages(storage, ListQuery(q=text), DEVELOPER)


def test_time_sorts_page_in_index_order_with_ties_on_both_engines(engines: tuple[Storage, Storage]) -> None:
    """Many groups last (and first) seen at the same time: every page, by cursor, is the same
    on both engines, and PostgreSQL reads each page straight from the sort's index (migration
    0031: ``(project_id, last_seen, id)``): no sort of the tied groups, the cursor's row
    comparison an index condition."""
    from crashveil.server.db.tables import crash_groups

    lite, pg = engines
    for storage in engines:
        with storage.engine.begin() as conn:
            conn.execute(crash_groups.update().where(crash_groups.c.id % 3 != 0)
                         .values(last_seen=NOW - timedelta(hours=1), first_seen=NOW - timedelta(days=5)))
    statements: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    for sort in ("last_seen", "first_seen"):
        query = ListQuery(sort=sort, limit=4)
        assert _pages(lite, query, DEVELOPER) == _pages(pg, query, DEVELOPER), sort
        with pg.engine.connect() as conn:
            cursor = list_page(conn, "demo", query, DEVELOPER, now=NOW).next
        assert cursor is not None
        statements.clear()
        sa.event.listen(pg.engine, "before_cursor_execute", keep)
        try:
            with pg.engine.connect() as conn:
                list_page(conn, "demo", dataclasses.replace(query, after=cursor), DEVELOPER, now=NOW)
        finally:
            sa.event.remove(pg.engine, "before_cursor_execute", keep)
        statement, parameters = statements[0]
        with pg.engine.connect() as conn:
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters))
        assert f"ix_crash_groups_project_id_{sort}_id" in plan and "Sort" not in plan, plan
        assert "ROW(" in plan.split("Index Cond:")[1].split("\n")[0], plan
