"""The audit report's postmortem of each privacy incident (``audit_report.py`` calls in).

Per incident open during the report's period: what leaked (the field, its scope and the
reason given), how long (the first and last report received in the incident's scope), how
many installations were affected, as a k-anonymous count (below the policy's ``min_k`` it
reads "fewer than k"), and what was done: the incident's entries in the audit trail, in
order. Ids, counts, times and field names only; never report content or pseudonyms.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashveil.server.db.governance_tables import privacy_incidents
from crashveil.server.db.tables import reports
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.governance.lifecycle.incidents import incident_of_row, scope_filter
from crashveil.server.storage.reading import ProjectReader

__all__ = ["INCIDENT_ACTIONS", "incident_blocks", "incident_postmortems"]

INCIDENT_ACTIONS = ["incident.open", "incident.purge", "incident.purged", "incident.close"]
#: Used when no project's policy is at hand (an incident over every project with none left).
_DEFAULT_K = 5


class Blocks(Protocol):
    """What the audit report renders with (its headings, paragraphs and tables)."""

    def h(self, level: int, text: str) -> None: ...
    def para(self, *parts: Any) -> None: ...
    def table(self, head: list[str], rows: list[list[Any]]) -> None: ...


def _min_k(storage: ProjectReader, project_id: str | None) -> int:
    """The policy's k of the incident's project; over every project, the largest (the strictest)."""
    ids = [project_id] if project_id is not None else [p.id for p in storage.list_projects()]
    ks = [record.policy.aggregation.min_k for pid in ids if (record := storage.project(pid)) is not None]
    return max(ks, default=_DEFAULT_K)


def incident_postmortems(conn: Connection, audit: AuditTrail, storage: ProjectReader, *, since: datetime,
                         until: datetime) -> list[dict[str, Any]]:
    """Plain data of every incident opened before ``until`` and not closed before ``since``."""
    c = privacy_incidents.c
    rows = conn.execute(sa.select(privacy_incidents).where(
        c.opened_at < until, sa.or_(c.closed_at.is_(None), c.closed_at >= since)).order_by(c.id)).all()
    steps = audit.entries(actions=INCIDENT_ACTIONS) if rows else []
    out = []
    for row in rows:
        incident = incident_of_row(row)
        first, last, installs = conn.execute(sa.select(
            sa.func.min(reports.c.received_at), sa.func.max(reports.c.received_at),
            sa.func.count(sa.distinct(reports.c.install_id))).where(scope_filter(incident))).one()
        k = _min_k(storage, incident.project_id)
        out.append({
            "id": incident.id, "field": incident.field, "project": incident.project_id,
            "releases": list(incident.releases), "reason": incident.reason, "status": incident.status,
            "scope": {"since": incident.since.isoformat(), "until": incident.until.isoformat()},
            "first_affected": first.isoformat() if first else None,
            "last_affected": last.isoformat() if last else None,
            "installs_affected": str(installs) if installs >= k else f"fewer than {k}",
            "summary": incident.summary,
            "steps": [{"at": e.at, "action": e.action, "actor": e.actor, "project": e.project_id,
                       "detail": e.details} for e in steps if e.subject == f"incident:{incident.id}"],
        })
    return out


def incident_blocks(b: Blocks, incidents: list[dict[str, Any]]) -> None:
    """The postmortem section: one heading, facts and the steps taken per incident."""
    b.h(2, "Privacy incidents")
    if not incidents:
        b.para("(none)")
    for item in incidents:
        releases = ", ".join(item["releases"]) or "every release"
        b.h(3, f"Incident {item['id']}: field {item['field']} ({item['status']})")
        b.para("What leaked: field ", (item["field"], "code"), f" of {item['project'] or 'every project'}, "
               f"{releases}, received {item['scope']['since']} to {item['scope']['until']}. Reason: ", item["reason"])
        b.para(f"How long: first affected report {item['first_affected'] or '(none stored)'}, last "
               f"{item['last_affected'] or '(none stored)'}. Installations affected: {item['installs_affected']}.")
        if item["summary"]:
            b.para("Summary: ", item["summary"])
        b.table(["at", "step", "by", "project", "detail"],
                [[s["at"], s["action"], s["actor"], s["project"],
                  "; ".join(f"{k}={v}" for k, v in sorted(s["detail"].items()) if k not in ("reason", "summary"))]
                 for s in item["steps"]])
