"""One report, behind a reason: the reason form, then the audited read.

``access.read_report`` checks the permission and the reason, and commits the audit entry
(user, report, reason, fields shown) before anything is returned. The page shows only the
fields the policy gives the user's roles in the project; ``report_view`` turns them into the
trace, the breadcrumb timeline and the policy's field groups.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from crashveil.errors import AccessDenied, NotFound, NotVisible
from crashveil.server.dashboard.context import DashboardContext
from crashveil.server.dashboard.page import Visit, form_text, render
from crashveil.server.dashboard.report_view import build_report_view
from crashveil.server.db.tables import reports
from crashveil.server.governance.principals import Principal, visible_fields
from crashveil.wire.report import REPORT_FIELDS, REQUIRED_FIELDS, Report

__all__ = ["read_report", "report_open", "report_reason"]

_REASON_TITLE = "Why do you need this report?"


def report_exists(engine: Engine, project_id: str, report_id: str) -> bool:
    if len(report_id) > 36:
        return False
    with engine.connect() as conn:
        return conn.execute(sa.select(reports.c.id).where(reports.c.project_id == project_id,
                                                          reports.c.report_id == report_id)).first() is not None


async def report_reason(ctx: DashboardContext, visit: Visit) -> Response:
    """The form asking why the user needs the report."""
    project_id = visit.param("project")
    report_id = visit.param("report")
    if not await run_in_threadpool(report_exists, ctx.engine, project_id, report_id):
        raise NotFound
    return render(ctx, visit.session, "reason.html", title=_REASON_TITLE, project_id=project_id,
                  report_id=report_id, error=None, reason="")


def read_report(ctx: DashboardContext, user: Principal, held: frozenset[str], project_id: str, report_id: str,
          reason: str) -> dict[str, object]:
    """The audited read, then the page's view of the fields shown, those fields as JSON values
    (in policy order) and the names of those withheld."""
    project = ctx.storage.project(project_id)
    if project is None or not report_exists(ctx.engine, project_id, report_id):
        raise NotFound
    policy = project.policy
    opened: list[Report] = []

    def fetch(pid: str, rid: str) -> dict[str, object] | None:
        detail = ctx.storage.report_detail(pid, rid)
        if detail is None:
            return None
        # Chained messages belong to the ``message`` field: gone when the roles may not see it.
        report = detail.report.restricted_to(visible_fields(policy, held) + REQUIRED_FIELDS)
        opened.append(report)
        # A policy may declare a field this server's report format does not have: never shown.
        return {name: getattr(report, name) for name in policy.fields if name in REPORT_FIELDS}

    shown = ctx.access.read_report(user, project_id, report_id, reason, policy=policy, fetch=fetch)
    fields = visible_fields(policy, held)
    plain = opened[0].to_dict()  # the restricted report as JSON values (the token API answers these)
    return dict(view=build_report_view(opened[0], shown, policy),
                fields=[(name, plain.get(name)) for name in fields if name in shown],
                hidden=sorted(set(policy.fields) - set(fields)))


async def report_open(ctx: DashboardContext, visit: Visit) -> Response:
    """The posted reason: the report's visible fields, or the form again with what was wrong."""
    project_id = visit.param("project")
    report_id = visit.param("report")
    reason = form_text(visit.form, "reason")
    try:
        data = await run_in_threadpool(read_report, ctx, visit.user, visit.held, project_id, report_id, reason)
    except NotVisible:
        raise
    except AccessDenied as exc:
        return render(ctx, visit.session, "reason.html", 400, title=_REASON_TITLE, project_id=project_id,
                      report_id=report_id, reason=" ".join(reason.split())[:500], error=str(exc))
    return render(ctx, visit.session, "report.html", title="Report", project_id=project_id, report_id=report_id,
                  reason=" ".join(reason.split()), **data)
