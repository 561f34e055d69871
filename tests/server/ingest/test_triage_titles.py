"""Group titles and the triage columns taken at grouping time (ingest.titles, storage.triage)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from crashveil.server.db.tables import crash_groups
from crashveil.server.db.triage_tables import group_facets
from crashveil.server.ingest.titles import message_template, title_parts
from crashveil.server.storage.records import PendingReport
from crashveil.wire import Frame, Stack

from ..conftest import build_report

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


def test_message_templates_keep_the_shape_not_the_values() -> None:
    """Quoted values, numbers and long ids become placeholders; whitespace folds; long text is cut."""
    assert ["invalid literal for int() with base <n>: <str>", "order <n> of <str> failed after <n>s",
            "token <id> expired", None, 200] == [
        message_template("invalid literal for int() with base 10: 'abc'"),
        message_template('order 1234 of "bob"\n  failed after 2.5s'),
        message_template("token 9f86d081884c7d659a2feaa0c55ad015 expired"),
        message_template("   "), len(message_template("word " * 100) or "")]


def test_culprit_is_the_innermost_in_app_frame_and_modules_each_once() -> None:
    """``module.function`` of the innermost in-app frame; library frames are skipped."""
    frames = (Frame("app/main.py", "main", 1, True), Frame("app/billing/charge.py", "charge", 2, True),
              Frame("app/main.py", "helper", 3, True), Frame("requests/api.py", "get", 4, False))
    parts = title_parts(dataclasses.replace(build_report(message="boom 42"), stack=Stack(frames)))
    assert ("app.main.helper", "app.main app.billing.charge", "boom <n>") == (parts.culprit, parts.modules,
                                                                             parts.message)


def test_storing_fills_title_installs_trend_and_facets(storage) -> None:
    """The group gets its culprit, the latest template, an install count, day counts and facets."""
    def store(when: datetime, install: str, message: str | None) -> None:
        report = build_report(function="charge", install_id=install, message=message)
        storage.store_reports([PendingReport("demo", report, "crashveil-sdk", when, {}, ())])

    yesterday = NOW - timedelta(days=1)
    for i in range(3):
        store(yesterday, f"{i:032x}", "first 1")
    for i in range(5):
        store(NOW, f"{i + 10:032x}", "card 4111 declined" if i == 4 else None)
    with storage.engine.connect() as conn:
        row = conn.execute(sa.select(crash_groups)).one()
        facets = sorted(tuple(r) for r in conn.execute(sa.select(group_facets.c.kind, group_facets.c.value)))
    # 8 installs; the count below EXACT_BELOW is the certain lower bound (two may share a register).
    assert ("app.store.charge", "card <n> declined", True, NOW.strftime("%Y-%m-%d"), 5, 3, 2) == (
        row.culprit, row.title_message, 7 <= row.install_count <= 8, row.day_key, row.day_count,
        row.prev_day_count, row.trend)
    assert [("environment", ""), ("os", "linux"), ("platform", "python"), ("release", "1.0.0")] == facets


def test_message_templates_expire_with_the_messages(storage) -> None:
    """A group's template is forgotten once the messages' retention (30 days) has passed, and the
    search index forgets it too; the culprit stays."""
    from crashveil.policy import default_policy
    from crashveil.server.storage.triage import expire_title_messages

    old = NOW - timedelta(days=31)
    report = build_report(function="charge", message="card 4111 declined")
    storage.store_reports([PendingReport("demo", report, "crashveil-sdk", old, {}, ())])
    with storage.engine.begin() as conn:
        cleared = expire_title_messages(conn, "demo", default_policy(), NOW)
        row = conn.execute(sa.select(crash_groups)).one()
        indexed = (conn.exec_driver_sql("SELECT count(*) FROM group_search WHERE message IS NOT NULL").scalar()
                   if conn.dialect.name == "sqlite" else 0)
    assert (1, None, None, "app.store.charge", 0) == (cleared, row.title_message, row.title_message_at, row.culprit,
                                                      indexed)
