"""Privacy incidents: open stops the field, purge (dry run, then confirmed) removes a planted
canary from the database file, its WAL and a backup made afterwards, close and postmortem."""

from __future__ import annotations

import io
import tarfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from crashveil.errors import ConfigError
from crashveil.server.governance.access import AccessStore
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.governance.audit_report import build_audit_report, render_audit_report
from crashveil.server.governance.lifecycle.incidents import close_incident, open_incident
from crashveil.server.governance.lifecycle.purge import plan_purge, run_purge
from crashveil.server.ops.archive import KdfCost, SealedReader
from crashveil.server.ops.backup import DB_SQLITE, make_backup

CANARY = "zebracanaryquokkaword"  # letters only: it survives the title's templating


def _store(storage: Any, make_report: Any, **kwargs: Any) -> Any:
    now = storage._clock()
    report = make_report(**kwargs)
    storage.store_report("demo", report, origin="crashveil-sdk", received_at=now - timedelta(minutes=30),
                         redaction_hits={}, dropped_fields=())
    return report


def _database_bytes(url: str) -> bytes:
    path = Path(url.removeprefix("sqlite:///"))
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_open_purge_close_leaves_no_canary_and_a_postmortem(storage: Any, make_report: Any, settings: Any,
                                                            tmp_path: Path) -> None:
    sqlite = settings.database_url.startswith("sqlite")  # the byte scans of the file, WAL and backup
    now = storage._clock()
    trail = AuditTrail.for_server_dir(storage.engine, settings.server_dir, now=lambda: now)
    leaked = [_store(storage, make_report, message=f"login failed for {CANARY}", install_id=f"{i:02x}" * 16)
              for i in range(2)]
    other = _store(storage, make_report, message="unrelated failure", release="2.0.0", crash_type="OSError")
    if sqlite:
        assert CANARY.encode() in _database_bytes(settings.database_url)  # the title keeps it: the scan can see it

    incident = open_incident(storage.engine, trail, field="message", project_id="demo", releases=("1.0.0",),
                             since=now - timedelta(hours=2), until=now, reason="messages carried user names",
                             actor="cli", now=now)
    assert "message" in storage.project("demo", fresh=True).field_stops
    dry = plan_purge(storage, incident)
    assert {"demo": (2, 2)} == dry.per_project()
    assert CANARY in storage.report_detail("demo", leaked[0].report_id).report.message  # the dry run changed nothing

    done = run_purge(storage, trail, incident, actor="cli", now=now)
    assert (1, [None, None], "unrelated failure") == (
        done.groups_cleared, [storage.report_detail("demo", r.report_id).report.message for r in leaked],
        storage.report_detail("demo", other.report_id).report.message)
    if sqlite:
        storage.engine.dispose()
        assert CANARY.encode() not in _database_bytes(settings.database_url)
        archive = tmp_path / "after.cvbak"
        make_backup(settings, archive, b"passphrase", cost=KdfCost(memory_kib=1024, iterations=1, lanes=1))
        with archive.open("rb") as raw, tarfile.open(fileobj=SealedReader(raw, b"passphrase"), mode="r|") as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
        assert DB_SQLITE in members and not any(CANARY.encode() in data for data in members.values())

    close_incident(storage.engine, trail, incident.id, summary="template fixed in 1.0.1", actor="cli", now=now)
    access = AccessStore(storage.engine, trail, now=lambda: now, hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    data = build_audit_report(storage, trail, access, since=now - timedelta(days=1), until=now + timedelta(hours=1))
    [post] = data["incidents"]
    assert ("fewer than 5", ["incident.open", "incident.purge", "incident.purged", "incident.close"]) == (
        post["installs_affected"], [s["action"] for s in post["steps"]])
    text = render_audit_report(data, "md")
    assert "Incident 1: field message (closed)" in text and CANARY not in io.StringIO(text).getvalue()


def test_open_refuses_a_required_field_and_an_empty_range(storage: Any, settings: Any) -> None:
    now = storage._clock()
    trail = AuditTrail.for_server_dir(storage.engine, settings.server_dir, now=lambda: now)
    for field, since in (("fingerprint", now - timedelta(hours=1)), ("message", now)):
        with pytest.raises(ConfigError):
            open_incident(storage.engine, trail, field=field, project_id=None, releases=(), since=since, until=now,
                          reason="r", actor="cli", now=now)
