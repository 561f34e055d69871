"""Alert rules: new group and regression queued in the report's commit, once per incident;
quiet hours hold notifications and release them as one; spikes need a baseline; a release
under its crash-free threshold is reported."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crashveil.errors import BadAlertRule
from crashveil.server.alerts.checks import prune_outbox, run_alert_checks, spike_incidents
from crashveil.server.alerts.rules import add_rule, list_rules, make_rule, remove_rule
from crashveil.server.alerts.tables import alert_outbox
from crashveil.server.alerts.worker import OutboxWorker
from crashveil.server.dashboard.triage import actions
from crashveil.server.db.adoption_tables import release_adoption
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.storage.store import Storage

from ..conftest import NOW
from .conftest import Clock, Directory, Recorder, outbox, store_crash


def _rule(store: Storage, kind: str, destinations: tuple[str, ...] = ("chat",), **options: object) -> int:
    policy = store.project("demo").policy  # type: ignore[union-attr]
    return add_rule(store.engine, make_rule("demo", kind, destinations, policy, **options), now=NOW)  # type: ignore[arg-type]


def _policy_of(store: Storage):  # type: ignore[no-untyped-def]
    return lambda project_id: store.project(project_id).policy  # type: ignore[union-attr]


def test_new_group_fires_once_per_incident_and_destination(store: Storage) -> None:
    _rule(store, "new_group", ("chat", "hook"))
    first = store_crash(store)
    store_crash(store, at=NOW + timedelta(minutes=1))
    store_crash(store, at=NOW + timedelta(days=3))
    second = store_crash(store, function="other")
    rows = outbox(store)
    assert [(f"g{first}", "chat"), (f"g{first}", "hook"), (f"g{second}", "chat"), (f"g{second}", "hook")] == [
        (row.dedupe_key.split(":")[2], row.destination) for row in rows]
    assert {("new_group", "pending", False, f"https://crash.example/p/demo/groups/{first}")} == {
        (row.kind, row.state, row.held, row.link) for row in rows[:2]}
    with store.engine.begin() as conn:  # as if retention had deleted the second group
        conn.execute(alert_outbox.update().where(alert_outbox.c.group_id == second).values(group_id=10**6))
    prune_outbox(store.engine, now=NOW)
    assert {first} == {row.group_id for row in outbox(store)}


def test_regression_fires_after_resolve_only(store: Storage, tmp_path: Path) -> None:
    _rule(store, "regression")
    group = store_crash(store)
    store_crash(store, at=NOW + timedelta(minutes=5))
    before = len(outbox(store))
    audit = AuditTrail.for_server_dir(store.engine, tmp_path, now=lambda: NOW)
    actions.apply_status(store.engine, audit, actions.StatusChange("demo", group, "resolved", "user:1",
                                                                   NOW + timedelta(hours=1)))
    store_crash(store, at=NOW + timedelta(hours=2))
    store_crash(store, at=NOW + timedelta(hours=3))
    rows = outbox(store)
    assert (0, ["regression"], f"r1:regression:g{group}") == (
        before, [row.kind for row in rows], rows[0].dedupe_key.rsplit(":", 1)[0])


@pytest.mark.parametrize("mode", ["digest", "latest"])
def test_quiet_hours_hold_notifications_then_release_one(store: Storage, mode: str) -> None:
    """22:00-07:00 Berlin (UTC+2 in May): three new groups at 23:30 wait until 07:00, then go as one."""
    _rule(store, "new_group", quiet="22:00-07:00", timezone="Europe/Berlin", quiet_mode=mode)
    late = NOW.replace(hour=21, minute=30)
    for index, function in enumerate(("a", "b", "c")):
        store_crash(store, function=function, at=late + timedelta(minutes=index))
    held = outbox(store)
    clock = Clock(late + timedelta(hours=2))
    chat = Recorder("chat")
    worker = OutboxWorker(store.engine, Directory([chat]), _policy_of(store), clock=clock)
    during = worker.run_once()
    clock.now = NOW.replace(day=2, hour=5, minute=0)
    after = worker.run_once()
    assert ({NOW.replace(day=2, hour=5, minute=0)}, {True}, 0, 1) == ({r.due_at for r in held}, {r.held for r in held},
                                                             during, after)
    (sent,) = chat.received
    assert sent.summary.startswith("3 alerts waited") == (mode == "digest")
    assert ["merged", "merged", "sent"] == [row.state for row in outbox(store)]


def test_spike_fires_against_a_baseline_and_not_without_one(store: Storage) -> None:
    rule_id = _rule(store, "spike", threshold=3.0, min_count=5)
    (rule,) = list_rules(store.engine, "demo")
    hour = NOW.replace(minute=0)
    for minute in range(6):
        store_crash(store, function="hot", at=hour + timedelta(minutes=minute))
    judged_at = hour + timedelta(hours=1, minutes=5)
    with store.engine.connect() as conn:
        without = spike_incidents(conn, rule, now=judged_at)
    for days in range(1, 8):
        store_crash(store, function="steady", at=NOW - timedelta(days=days))
    made = [run_alert_checks(store.engine, _policy_of(store), now=judged_at) for _ in range(2)]
    rows = outbox(store)
    assert ([], [1, 0], ["spike"], rule_id) == (without, made, [r.kind for r in rows], rows[0].rule_id)
    assert rows[0].summary.startswith("6 reports in the hour")
    with store.engine.begin() as conn:  # settled long ago: pruned by the next run
        conn.execute(alert_outbox.update().values(state="sent"))
    run_alert_checks(store.engine, _policy_of(store), now=judged_at + timedelta(days=91))
    assert [] == outbox(store)


def test_crash_free_rate_under_the_threshold_fires(store: Storage) -> None:
    """20 installations ran 1.0.0 today, 6 crashed: 70% crash-free, under 99% and not under 50%."""
    _rule(store, "crash_free_rate", threshold=99.0)
    _rule(store, "crash_free_rate", ("hook",), threshold=50.0)
    for index in range(6):
        store_crash(store, install_id=f"{index:02x}" * 16, at=NOW + timedelta(minutes=index))
    with store.engine.begin() as conn:
        conn.execute(sa.insert(release_adoption).values(project_id="demo", release="1.0.0",
                                                        day=NOW.date().isoformat(), installs=20))
    assert 1 == run_alert_checks(store.engine, _policy_of(store), now=NOW + timedelta(hours=1))
    (row,) = outbox(store)
    assert ("chat", "crash_free_rate", '{"release": "1.0.0"}') == (row.destination, row.kind, row.fields)
    assert "70.00%" in row.summary


def test_rules_validate_and_remove(store: Storage) -> None:
    policy = store.project("demo").policy  # type: ignore[union-attr]
    with pytest.raises(BadAlertRule, match="destination"):
        make_rule("demo", "new_group", ["pager"], policy)
    with pytest.raises(BadAlertRule, match="threshold"):
        make_rule("demo", "crash_free_rate", ["chat"], policy)
    with pytest.raises(BadAlertRule, match="quiet"):
        make_rule("demo", "new_group", ["chat"], policy, quiet="25:00-07:00")
    with pytest.raises(BadAlertRule, match="timezone"):
        make_rule("demo", "new_group", ["chat"], policy, quiet="22:00-07:00", timezone="Mars/Olympus")
    rule_id = _rule(store, "new_group")
    assert (True, False, []) == (remove_rule(store.engine, "demo", rule_id), remove_rule(store.engine, "demo", rule_id),
                                 list_rules(store.engine, "demo"))


def test_outbox_and_worker_on_both_engines(storage: Storage) -> None:
    """The suite's ``storage`` (SQLite and PostgreSQL): one new group, twice seen, one delivery."""
    from .conftest import POLICY_TOML

    storage.set_policy("demo", POLICY_TOML, now=NOW + timedelta(seconds=1))  # after the default one
    _rule(storage, "new_group", ("chat", "hook"))
    store_crash(storage)
    store_crash(storage, at=NOW + timedelta(minutes=1))
    chat, hook = Recorder("chat"), Recorder("hook")
    worker = OutboxWorker(storage.engine, Directory([chat, hook]), _policy_of(storage), clock=lambda: NOW)
    assert (2, 0, 1, 1) == (worker.run_once(), worker.run_once(), len(chat.received), len(hook.received))
