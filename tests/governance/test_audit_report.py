"""The audit report: every section present, reads with reasons, no content or pseudonyms, HTML escaped."""

from __future__ import annotations

import json
from datetime import timedelta

from argon2 import PasswordHasher

from crashveil.policy import default_policy
from crashveil.server.governance.access import AccessStore
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.governance.audit_report import build_audit_report, render_audit_report
from crashveil.server.governance.retention import run_retention

INSTALL = "3c" * 16


def _setup(storage, make_report, server_dir):
    now = storage._clock()
    trail = AuditTrail.for_server_dir(storage.engine, server_dir, now=lambda: now)
    access = AccessStore(storage.engine, trail, now=lambda: now, hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    access.add_user("dana", "correct horse battery", actor="cli")
    access.grant("dana", "demo", "developer", actor="cli")
    report = make_report(install_id=INSTALL, message="secret message canary")
    storage.store_report("demo", report, origin="crashveil-sdk", received_at=now - timedelta(hours=1),
                         redaction_hits={("message", "email"): 2}, dropped_fields=())
    principal, _ = access.login("dana", "correct horse battery")
    access.read_report(principal, "demo", report.report_id, "ticket <script>42</script>", policy=default_policy(),
                       fetch=lambda p, r: storage.report_detail(p, r).report.to_dict())
    run_retention(storage, trail, now=now)
    data = build_audit_report(storage, trail, access, since=now - timedelta(days=1), until=now + timedelta(hours=1))
    return data


def test_report_has_every_section(storage, make_report, server_dir) -> None:
    """The JSON form holds integrity, grants, reads with reasons, keys, retention, hits, anomalies, history."""
    data = _setup(storage, make_report, server_dir)
    project = data["projects"][0]
    assert (True, {"demo": ["developer"]}, "ticket <script>42</script>", 1, True, True, 2, True, ["1.2.0"]) == (
        data["audit_trail"]["ok"], data["users"][0]["grants"], data["report_reads"][0]["reason"],
        len(data["retention_runs"]), len(project["keys"]) >= 2, all(c["within"] for c in project["retention"]),
        project["redaction_hits"][0]["hits"], "volume_anomalies" in project,
        [h["version"] for h in project["policy_history"]])


def test_report_never_holds_content_or_pseudonyms(storage, make_report, server_dir) -> None:
    """No format of the report contains the message or the install pseudonym."""
    data = _setup(storage, make_report, server_dir)
    texts = [render_audit_report(data, fmt) for fmt in ("md", "html", "json")]
    assert [False] * 6 == [needle in text for text in texts for needle in ("secret message canary", INSTALL)]


def test_html_escapes_database_strings(storage, make_report, server_dir) -> None:
    """A reason holding markup is escaped in the HTML form."""
    html = render_audit_report(_setup(storage, make_report, server_dir), "html")
    assert (False, True) == ("<script>" in html, "&lt;script&gt;42&lt;/script&gt;" in html)


def test_json_round_trips(storage, make_report, server_dir) -> None:
    """The JSON form parses back to the same data."""
    data = _setup(storage, make_report, server_dir)
    assert data == json.loads(render_audit_report(data, "json"))
