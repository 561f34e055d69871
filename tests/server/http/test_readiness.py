"""The readiness checks of /readyz: named results, each failure saying what to do; answers
reused for the cache period; a check that raises counts as failed (its type only)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from crashveil.server.db.engine import write_tx
from crashveil.server.db.governance_tables import retention_runs
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.http.readiness import (
    CheckResult,
    Readiness,
    answer_body,
    audit_check,
    default_checks,
    retention_check,
)
from crashveil.server.storage.store import Storage

from ..conftest import NOW


def _finished(storage: Storage, hours_ago: float) -> None:
    moment = NOW - timedelta(hours=hours_ago)
    with write_tx(storage.engine) as conn:
        conn.execute(retention_runs.insert().values(started_at=moment, finished_at=moment, summary="{}"))


def test_retention_check_fails_when_runs_stopped(storage: Storage) -> None:
    """No run yet passes (a new server); a run within 3 hours passes; an older newest run fails."""
    check = retention_check(storage, now=lambda: NOW)
    fresh = check()
    _finished(storage, 5)
    stale = check()
    _finished(storage, 1)
    assert (True, False, True) == (fresh.ok, stale.ok, check().ok)
    assert "expired data is not being deleted" in stale.detail


def test_audit_check_names_a_checkpoint_the_database_does_not_reach(storage: Storage, tmp_path: Path) -> None:
    trail = AuditTrail.for_server_dir(storage.engine, tmp_path)
    check = audit_check(trail)
    empty = check()
    trail.record("logout", actor="user:1")
    trail.record("logout", actor="user:1")
    ok = check()
    with write_tx(storage.engine) as conn:
        conn.exec_driver_sql("DELETE FROM audit_entries WHERE seq = 2")
    behind = check()
    assert (True, True, False) == (empty.ok, ok.ok, behind.ok)
    assert "crashveil server reanchor-audit" in behind.detail and "crashveil server restore" in behind.detail


def test_answers_and_cache(storage: Storage, tmp_path: Path) -> None:
    """Failures give 503 with their names; warnings ride on a 200; a raising check is a failure
    named by its type; every check runs once per cache period."""
    calls: list[int] = []

    class Boom:
        name = "boom"

        def __call__(self) -> CheckResult:
            calls.append(1)
            raise RuntimeError("secret text that must not show")

    now = [0.0]
    readiness = Readiness([*default_checks(storage, AuditTrail.for_server_dir(storage.engine, tmp_path),
                                           now=lambda: NOW), Boom()], lambda: now[0], cache_s=2.0)
    first = readiness.check()
    again = readiness.cached()
    now[0] += 3
    assert readiness.cached() is None
    status, body = answer_body(first)
    assert (again, 1, 503) == (first, len(calls), status)
    assert body == {"status": "unavailable", "failed": [{"name": "boom", "detail": "the check failed (RuntimeError)"}]}
    warned = answer_body([CheckResult("database", True), CheckResult("certificate", True, "expires in 9 days", True)])
    assert (200, {"status": "ready", "warnings": [{"name": "certificate", "detail": "expires in 9 days"}]}) == warned
    assert ["database", "audit", "retention"] == [r.name for r in first[:3]]
