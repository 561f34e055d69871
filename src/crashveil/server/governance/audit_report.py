"""The audit report a privacy officer hands to an auditor (Markdown, HTML or JSON).

Sections: the audit trail's integrity; who can access what (grants and the fields each role
sees, from each project's policy); individual report reads in the period with their
reasons; key ages against the policy's cryptoperiods; pseudonym rotation; the oldest datum
of each retention class against its retention; redaction-regression hits; volume anomalies
(from ``server/insights/anomaly.py``); erasure requests; retention runs; policy version history;
a postmortem per privacy incident (``lifecycle/postmortem.py``).

Built only from ids, counts, dates and field names: the report never contains report
content or pseudonyms. Every string from the database is shown literally in the Markdown
and HTML forms (``crashveil.textsafe``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html import escape
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashveil.policy.model import Policy
from crashveil.server.alerts.forwarding import forwarding_entries, forwarding_table
from crashveil.server.db.engine import read_tx
from crashveil.server.db.governance_tables import retention_runs, retention_stripped
from crashveil.server.db.tables import (
    deletion_requests,
    project_keys,
    project_policies,
    redaction_counters,
    reports,
)
from crashveil.server.feedback.report import feedback_blocks, feedback_section
from crashveil.server.governance.access import AccessStore
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.governance.erasure_by_code.audit_section import erasure_by_code_blocks, erasures_by_code
from crashveil.server.governance.lifecycle.postmortem import incident_blocks, incident_postmortems
from crashveil.server.governance.principals import visible_fields
from crashveil.server.governance.retention import retention_classes
from crashveil.server.insights.public_summary_report import public_summary_blocks, public_summary_section
from crashveil.server.linkability.audit_section import linkability_blocks, linkability_section
from crashveil.server.storage.reading import ProjectReader
from crashveil.server.storage.records import ProjectSummary
from crashveil.textsafe import md_cell, visible

__all__ = ["build_audit_report", "render_audit_report"]

_ROLES = ("viewer", "developer", "privacy-officer", "admin")


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def build_audit_report(storage: ProjectReader, audit: AuditTrail, access: AccessStore, *, since: datetime,
                       until: datetime) -> dict[str, Any]:
    """The report's data for the period ``[since, until)`` as plain JSON-able values."""
    data: dict[str, Any] = {
        "generated_at": until.isoformat(), "period": {"since": since.isoformat(), "until": until.isoformat()},
        "audit_trail": _trail_integrity(audit), "projects": [], "omitted": [],
    }
    data["users"] = [{"name": u.name, "disabled": u.disabled,
                      "grants": {p: sorted(r) for p, r in sorted(u.grants.items())}} for u in access.list_users()]
    data["tokens"] = [{"token_id": t.token_id, "user": t.user, "projects": list(t.projects), "roles": list(t.roles),
                       "created_at": _iso(t.created_at), "expires_at": _iso(t.expires_at), "revoked": t.revoked}
                      for t in access.list_tokens()]
    data["report_reads"] = [{"at": e.at, "actor": e.actor, "project": e.project_id, "report": e.subject,
                             "reason": e.details.get("reason"), "fields": e.details.get("fields")}
                            for e in _entries(audit, since, until, ["report.read"])]
    data["access_changes"] = [{"at": e.at, "action": e.action, "actor": e.actor, "project": e.project_id,
                               "subject": e.subject, "detail": e.details}
                              for e in _entries(audit, since, until, _ACCESS_ACTIONS)]
    try:
        from crashveil.server.insights import anomaly
    except ImportError:
        anomaly = None  # type: ignore[assignment]
        data["omitted"].append("volume anomalies: crashveil.server.insights.anomaly is not installed")
    with read_tx(storage.engine) as conn:
        for summary in storage.list_projects():
            record = storage.project(summary.id, fresh=True)
            if record is None:
                continue
            project = _project_section(conn, summary, record.policy, since=since, until=until)
            if anomaly is not None:
                hours = max(1, min(24 * 90, int((until - since).total_seconds() // 3600)))
                series = anomaly.project_series(conn, summary.id, now=until, hours=hours)
                project["volume_anomalies"] = [{"hour": a.hour, "count": a.count, "expected": round(a.expected, 1)}
                                               for a in anomaly.anomalies(series)]
            data["projects"].append(project)
        data["incidents"] = incident_postmortems(conn, audit, storage, since=since, until=until)
        runs = conn.execute(sa.select(retention_runs).where(retention_runs.c.started_at >= since)
                            .order_by(retention_runs.c.started_at)).all()
    data["retention_runs"] = [{"at": _iso(r.started_at), **_run_summary(r.summary)} for r in runs]
    data["erasures_by_code"] = erasures_by_code(audit, since=since, until=until)
    return data


#: Audit actions listed under "access changes".
_ACCESS_ACTIONS = ["role.grant", "role.revoke", "token.create", "token.revoke", "user.add", "user.disable",
                   "policy.change", "key.rotate", "key.destroy", "login.failure", "login.blocked", "project.create",
                   "sentry_key.create", "sentry_key.revoke", "counts_only.enter", "counts_only.leave"]
_ENTRY_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def _trail_integrity(audit: AuditTrail) -> dict[str, Any]:
    verify = audit.verify()
    return {"ok": verify.ok, "entries": verify.count, "head_seq": verify.head_seq, "head_hash": verify.head_hash,
            "checkpoint_seq": verify.checkpoint_seq, "problem": verify.problem, "audit_public_key": audit.public_key}


def _entries(audit: AuditTrail, since: datetime, until: datetime, actions: list[str]) -> list[Any]:
    return audit.entries(since=since.astimezone(UTC).strftime(_ENTRY_TIME),
                         until=until.astimezone(UTC).strftime(_ENTRY_TIME), actions=actions)


def _project_section(conn: Connection, summary: ProjectSummary, policy: Policy, *, since: datetime,
                     until: datetime) -> dict[str, Any]:
    """One project's part: policy and its history, keys, retention, redaction hits, erasures."""
    project_id = summary.id
    history = conn.execute(sa.select(project_policies.c.version, project_policies.c.digest,
                                     project_policies.c.created_at)
                           .where(project_policies.c.project_id == project_id)
                           .order_by(project_policies.c.created_at)).all()
    return {
        "id": project_id, "policy_version": policy.version, "policy_digest": summary.policy_digest,
        "fields_by_role": {role: list(visible_fields(policy, [role])) for role in _ROLES},
        "policy_history": [{"version": h.version, "digest": h.digest, "since": _iso(h.created_at)} for h in history],
        "keys": _key_ages(conn, project_id, policy, now=until),
        "retention": _retention_state(conn, project_id, policy, now=until),
        "pseudonym_rotation_days": policy.keys.pseudonym_rotation_days,
        "data_key_days": policy.keys.data_key_days,
        "redaction_hits": _redaction_hits(conn, project_id, since=since),
        "erasures": _erasures(conn, project_id, since=since),
        "public_summary": public_summary_section(conn, project_id, policy, since=since, until=until),
        "forwarding": forwarding_entries(policy),
        "feedback": feedback_section(conn, project_id, policy, since=since, until=until),
        "linkability": linkability_section(conn, project_id, policy, since=since, until=until),
    }


def _key_ages(conn: Connection, project_id: str, policy: Policy, *, now: datetime) -> list[dict[str, Any]]:
    """Live keys with their age against the policy's cryptoperiod of their kind."""
    periods = {"hpke": policy.keys.hpke_key_cryptoperiod_days,
               "signing": policy.keys.signing_key_cryptoperiod_days}
    keys = conn.execute(sa.select(project_keys).where(project_keys.c.project_id == project_id,
                                                      project_keys.c.destroyed_at.is_(None))).all()
    return [{"key_id": k.key_id, "kind": k.kind, "algorithm": k.algorithm,
             "age_days": (now - k.created_at).days, "cryptoperiod_days": periods.get(k.kind),
             "over": periods.get(k.kind) is not None and (now - k.created_at).days > periods[k.kind],
             "retired": k.retired_at is not None} for k in keys]


def _retention_state(conn: Connection, project_id: str, policy: Policy, *, now: datetime) -> list[dict[str, Any]]:
    """Each retention class with the age of its oldest datum and whether that is within it."""
    oldest = conn.execute(sa.select(sa.func.min(reports.c.received_at)).where(
        reports.c.project_id == project_id)).scalar()
    longest = max(r.retention_days for r in policy.fields.values())
    classes: list[dict[str, Any]] = [{"retention_days": days, "fields": list(fields)}
                                     for days, fields in retention_classes(policy)]
    classes.append({"retention_days": longest, "fields": ["(all other fields)"]})
    for item in classes:
        age = (now - oldest).days if oldest is not None else None
        if item["retention_days"] < longest and oldest is not None:
            first = _oldest_unstripped(conn, project_id, item["retention_days"])
            age = (now - first).days if first is not None else None
        item["oldest_age_days"] = age
        item["within"] = age is None or age <= item["retention_days"]
    return classes


def _oldest_unstripped(conn: Connection, project_id: str, retention_days: int) -> datetime | None:
    """A shorter class is stripped per day; its oldest datum is the oldest report with detail
    received on a day not yet stripped for it."""
    stripped = set(conn.execute(sa.select(retention_stripped.c.day).where(
        retention_stripped.c.project_id == project_id,
        retention_stripped.c.retention_days == retention_days)).scalars())
    first: datetime | None = conn.execute(sa.select(sa.func.min(reports.c.received_at)).where(
        reports.c.project_id == project_id, reports.c.detail.is_not(None),
        reports.c.day.not_in(stripped) if stripped else sa.true())).scalar()
    return first


def _redaction_hits(conn: Connection, project_id: str, *, since: datetime) -> list[dict[str, Any]]:
    c = redaction_counters.c
    hits = conn.execute(sa.select(c.release, c.field, c.detector, sa.func.sum(c.hits))
                        .where(c.project_id == project_id, c.hour >= since.strftime("%Y-%m-%dT%H:00Z"))
                        .group_by(c.release, c.field, c.detector)).all()
    return [{"release": h[0], "field": h[1], "detector": h[2], "hits": int(h[3])} for h in hits]


def _erasures(conn: Connection, project_id: str, *, since: datetime) -> list[dict[str, Any]]:
    erasures = conn.execute(sa.select(deletion_requests).where(
        deletion_requests.c.project_id == project_id, deletion_requests.c.received_at >= since)).all()
    return [{"request_id": e.request_id, "installs": e.install_count, "reports_deleted": e.deleted_count,
             "received_at": _iso(e.received_at), "processed_at": _iso(e.processed_at)} for e in erasures]


def _run_summary(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return {"reports_deleted": sum(p["reports_deleted"] for p in value["projects"]),
            "keys_destroyed": sum(len(p["keys_destroyed"]) for p in value["projects"]),
            "details_rewritten": sum(p["details_rewritten"] for p in value["projects"]),
            "kek_rotated": value.get("kek_rotated"), "wal": value.get("wal_checkpoint")}


def render_audit_report(data: dict[str, Any], fmt: str = "md") -> str:
    """``data`` from :func:`build_audit_report` as ``md``, ``html`` or ``json``.

    Every value from the database (names, reasons, releases, ids) is shown literally:
    controls and bidi overrides as visible escapes, Markdown metacharacters backslash-escaped
    (``md_cell``) or HTML-escaped, so no value can add a row, a link or markup.
    """
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=True) + "\n"
    if fmt not in ("md", "html"):
        raise ValueError("format must be md, html or json")
    b = _Blocks()
    _access_blocks(b, data)
    for project in data["projects"]:
        _project_blocks(b, project)
    erasure_by_code_blocks(b, data)
    incident_blocks(b, data.get("incidents", []))
    b.h(2, "Retention runs")
    b.table(["at", "reports deleted", "keys destroyed", "details rewritten", "KEK rotated", "WAL"],
            [[r["at"], r["reports_deleted"], r["keys_destroyed"], r["details_rewritten"], r["kek_rotated"], r["wal"]]
             for r in data["retention_runs"]])
    for note in data["omitted"]:
        b.para(f"Omitted: {note}")
    return _to_markdown(b.blocks) if fmt == "md" else _to_html(b.blocks)


class _Blocks:
    """The report as format-neutral blocks: headings, paragraphs, tables."""

    def __init__(self) -> None:
        self.blocks: list[tuple[Any, ...]] = []

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def para(self, *parts: Any) -> None:
        """``parts``: text, or ``(text, "b" | "code")``."""
        self.blocks.append(("p", parts))

    def table(self, head: list[str], rows: list[list[Any]]) -> None:
        self.blocks.append(("table", head, rows) if rows else ("p", ("(none)",)))


def _access_blocks(b: _Blocks, data: dict[str, Any]) -> None:
    """The period, the trail's integrity, who can access what, reads and access changes."""
    trail = data["audit_trail"]
    b.h(1, "crashveil audit report")
    b.para(f"Period: {data['period']['since']} to {data['period']['until']}. Generated {data['generated_at']}.")
    b.h(2, "Audit trail integrity")
    b.para(f"{'Intact' if trail['ok'] else 'NOT INTACT: ' + str(trail['problem'])}. {trail['entries']} entries; "
           f"head {trail['head_seq']} ", (str(trail["head_hash"]), "code"),
           f"; signed checkpoint at {trail['checkpoint_seq']}; audit key ",
           (str(trail["audit_public_key"]), "code"), ".")
    b.h(2, "Who can access what")
    b.table(["user", "disabled", "grants"], [[u["name"], u["disabled"],
                                            "; ".join(f"{p}: {', '.join(r)}" for p, r in u["grants"].items())]
                                           for u in data["users"]])
    b.table(["token", "user", "projects", "roles", "expires", "revoked"],
            [[t["token_id"], t["user"], ",".join(t["projects"]), ",".join(t["roles"]), t["expires_at"], t["revoked"]]
             for t in data["tokens"]])
    for project in data["projects"]:
        b.para("Project ", (project["id"], "b"), f" (policy {project['policy_version']}), fields each role may see:")
        b.table(["role", "fields"],
                [[r, ", ".join(f) or "(aggregates only)"] for r, f in project["fields_by_role"].items()])
    b.h(2, "Individual report reads in the period")
    b.table(["at", "who", "project", "report", "reason", "fields shown"],
            [[r["at"], r["actor"], r["project"], r["report"], r["reason"], ", ".join(r["fields"] or [])]
             for r in data["report_reads"]])
    b.h(2, "Access changes and failed log-ins in the period")
    b.table(["at", "action", "by", "project", "subject"],
            [[c["at"], c["action"], c["actor"], c["project"], c["subject"]] for c in data["access_changes"]])


def _project_blocks(b: _Blocks, project: dict[str, Any]) -> None:
    """One project's keys, retention, redaction hits, anomalies, erasures and policy history."""
    b.h(2, f"Project {project['id']}")
    b.h(3, "Key ages against cryptoperiods")
    b.table(["key", "kind", "algorithm", "age (days)", "cryptoperiod", "over", "retired"],
            [[k["key_id"], k["kind"], k["algorithm"], k["age_days"], k["cryptoperiod_days"], k["over"], k["retired"]]
             for k in project["keys"]])
    b.para(f"Install pseudonyms rotate every {project['pseudonym_rotation_days']} days; details are "
           f"encrypted under one key per {project['data_key_days']} day(s).")
    b.h(3, "Oldest datum of each retention class")
    b.table(["retention (days)", "fields", "oldest (days)", "within"],
            [[c["retention_days"], ", ".join(c["fields"]), c["oldest_age_days"], c["within"]]
             for c in project["retention"]])
    b.h(3, "Redaction-regression hits (server-side)")
    b.table(["release", "field", "detector", "hits"],
            [[x["release"], x["field"], x["detector"], x["hits"]] for x in project["redaction_hits"]])
    if "volume_anomalies" in project:
        b.h(3, "Volume anomalies")
        b.table(["hour", "count", "expected"], [[a["hour"], a["count"], a["expected"]]
                                              for a in project["volume_anomalies"]])
    b.h(3, "Erasure requests")
    b.table(["request", "installs", "reports deleted", "received", "processed"],
            [[e["request_id"], e["installs"], e["reports_deleted"], e["received_at"], e["processed_at"]]
             for e in project["erasures"]])
    b.h(3, "Destinations alerts are forwarded to")
    b.table(*forwarding_table(project.get("forwarding", [])))
    feedback_blocks(b, project)
    b.blocks.extend(linkability_blocks(project["linkability"]))
    b.h(3, "Policy version history")
    b.table(["version", "digest", "since"],
            [[p["version"], p["digest"], p["since"]] for p in project["policy_history"]])
    b.blocks.extend(public_summary_blocks(project["public_summary"]))


#: A value shown in a Markdown code span as it is (a code span cannot hold escapes).
_CODE_SAFE = re.compile(r"[A-Za-z0-9+/=:._-]*")


def _to_markdown(blocks: list[tuple[Any, ...]]) -> str:
    lines: list[str] = []
    for block in blocks:
        if block[0] == "h":
            lines.append(f"{'#' * block[1]} {md_cell(block[2])}")
        elif block[0] == "p":
            lines.append("".join(_md_part(part) for part in block[1]))
        else:
            head, rows = block[1], block[2]
            lines.append("| " + " | ".join(md_cell(c) for c in head) + " |")
            lines.append("|" + "---|" * len(head))
            lines.extend("| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows)
        lines.append("")
    return "\n".join(lines)


def _md_part(part: Any) -> str:
    if isinstance(part, str):
        return md_cell(part)
    text, style = part
    if style == "code" and _CODE_SAFE.fullmatch(text):
        return f"`{text}`"
    return f"**{md_cell(text)}**" if style == "b" else md_cell(text)


def _to_html(blocks: list[tuple[Any, ...]]) -> str:
    """The same blocks as HTML; every value escaped (and its controls made visible)."""
    out = ["<!doctype html><html><head><meta charset=\"utf-8\"><title>crashveil audit report</title></head><body>"]
    esc = lambda value: escape(visible(value))  # noqa: E731
    for block in blocks:
        if block[0] == "h":
            out.append(f"<h{block[1]}>{esc(block[2])}</h{block[1]}>")
        elif block[0] == "p":
            parts = [esc(part) if isinstance(part, str) else
                     f"<{'b' if part[1] == 'b' else 'code'}>{esc(part[0])}</{'b' if part[1] == 'b' else 'code'}>"
                     for part in block[1]]
            out.append(f"<p>{''.join(parts)}</p>")
        else:
            out.append("<table border=\"1\"><tr>" + "".join(f"<th>{esc(c)}</th>" for c in block[1]) + "</tr>")
            out.extend("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in block[2])
            out.append("</table>")
    out.append("</body></html>\n")
    return "\n".join(out)
