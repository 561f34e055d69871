"""A project's crash groups: the filtered list, one group's page, and changing a group's status.

Aggregate pages only: group rows and roll-ups, never a decrypted report. One report's detail
is read through ``reports.py`` (permission, reason, audit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection, Row
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from crashveil.errors import BadQueryParameter, NotFound
from crashveil.server.dashboard import queries as q
from crashveil.server.dashboard.context import DashboardContext
from crashveil.server.dashboard.page import Visit, form_text, render
from crashveil.server.dashboard.pages import triage_actions
from crashveil.server.dashboard.pages.assign import assignable_users
from crashveil.server.dashboard.roles import READ_ROLES, STATUS_ROLES
from crashveil.server.dashboard.triage.actions import expire_ignores
from crashveil.server.dashboard.triage.charts import bar_chart, day_columns
from crashveil.server.dashboard.triage.group_view import DAYS, group_view
from crashveil.server.dashboard.triage.listing import list_page
from crashveil.server.dashboard.triage.params import SORTS, ListQuery, parse_query
from crashveil.server.dashboard.triage.sparkline import sparkline
from crashveil.server.dashboard.triage.titles import title_rules
from crashveil.server.db.dashboard_tables import group_status_changes
from crashveil.server.db.engine import write_tx
from crashveil.server.ingest.grouping import STATUSES
from crashveil.server.insights.aggregates import k_visible
from crashveil.server.insights.anomaly import daily_baseline, score_series

__all__ = ["StatusChange", "apply_status", "group_detail", "groups", "set_status"]

_ACTIONS = {"resolve": "resolved", "ignore": "ignored", "reopen": "open"}


# -- the group list ------------------------------------------------------------------------------


def _load_group_list(ctx: DashboardContext, project_id: str, query: ListQuery, roles: frozenset[str],
                     moment: datetime) -> dict[str, object]:
    project = ctx.storage.project(project_id)
    if project is None:
        raise NotFound
    rules = title_rules(project.policy, roles, now=moment)
    cache = ctx.group_cache
    with ctx.engine.connect() as conn:
        page = list_page(conn, project_id, query, rules, now=moment)
        releases, families = cache.get(("options", project_id), lambda: q.filter_options(conn, project_id, now=moment))
        hour = q.hour_key(moment)
        hourly = cache.get(("hourly", project_id, hour),
                           lambda: q.hourly_series(conn, project_id=project_id, group_id=None, now=moment, hours=72))
        baseline = cache.get(("baseline", project_id, moment.date()),
                             lambda: daily_baseline(conn, project_id, now=moment, settings=ctx.anomaly))
        newest = cache.get(("newest", project_id, hour), lambda: q.latest_release(conn, project_id))
    spikes = []
    if baseline.established(ctx.anomaly):
        spikes = [s for s in score_series(hourly, ctx.anomaly)[-24:] if s.anomalous]
    return dict(page=page, releases=releases, families=families, spikes=spikes, baseline=baseline, newest=newest,
                assignees=assignable_users(ctx, project_id),
                min_k=project.policy.aggregation.min_k, public=project.public_summary, rules=rules)


def _query_of(request: Request, moment: datetime) -> ListQuery:
    names = [name for name, _ in request.query_params.multi_items()]
    return parse_query(request.query_params, now=moment, multi={name: names.count(name) for name in set(names)})


async def groups(ctx: DashboardContext, visit: Visit) -> Response:
    project_id = visit.param("project")
    moment = ctx.now()
    try:
        query = _query_of(visit.request, moment)
    except BadQueryParameter as exc:
        return render(ctx, visit.session, "error.html", 400, title="Bad search or filter", message=str(exc))
    base = f"/dashboard/p/{project_id}/"
    if dict(visit.request.query_params) != query.params():
        # The filter form sends every field, empty ones too: answer with the short URL worth
        # bookmarking (only validated values, so nothing is reflected that was not checked).
        return RedirectResponse(query.url(base), status_code=303)
    await run_in_threadpool(expire_ignores, ctx.engine, project_id, moment)
    data = await run_in_threadpool(_load_group_list, ctx, project_id, query, visit.held, moment)
    return render(ctx, visit.session, "groups.html", title=f"Crash groups · {project_id}", project_id=project_id,
                  query=query, base=base, sorts=SORTS, statuses=STATUSES, k_visible=k_visible,
                  sparkline=sparkline, **data)


# -- one group -----------------------------------------------------------------------------------


def _load_group(ctx: DashboardContext, project_id: str, group_id: int, roles: frozenset[str],
                moment: datetime) -> tuple[Row[Any], dict[str, object]]:
    """The group's row and the rest of its page (``view``: what ``roles`` see of its aggregates)."""
    project = ctx.storage.project(project_id)
    with ctx.engine.connect() as conn:
        row = q.group_row(conn, project_id, group_id)
        if row is None or project is None:
            raise NotFound
        min_k = project.policy.aggregation.min_k
        since = q.hour_key(moment - timedelta(days=DAYS))  # the view's window: it reuses by_release
        hourly = q.hourly_series(conn, project_id=project_id, group_id=group_id, now=moment, hours=168)
        correlation = q.correlate_spike(conn, group_id, hourly, ctx.anomaly)
        recent = q.recent_reports(conn, project_id, group_id)
        history = q.status_history(conn, group_id)
        # The list's cached value (the same key): a DISTINCT over every group's roll-ups of
        # the newest hour, ~2 ms on PostgreSQL at 100k groups, the page's costliest read.
        newest = ctx.group_cache.get(("newest", project_id, q.hour_key(moment)),
                                     lambda: q.latest_release(conn, project_id))
        installs = q.group_installs(conn, group_id, since=since, min_k=min_k)
        by_release = q.distribution(conn, group_id, "release", since=since)
        view = group_view(conn, row, project.policy, roles, now=moment,
                          release_counts=by_release)
    # A trace is one report's detail: the page links the newest report that has one.
    newest_detail = next((r.report_id for r in recent if r.has_detail), None)
    anomalies = [s for s in score_series(hourly, ctx.anomaly) if s.anomalous]
    return row, dict(correlation=correlation, recent=recent, history=history, newest=newest,
                     installs=k_visible(int(installs), min_k), min_k=min_k, newest_detail=newest_detail,
                     anomalies=anomalies, releases_seen=[r for r, _ in by_release], view=view,
                     new_in=row.first_release if row.first_release and row.first_release == newest else None)


async def group_detail(ctx: DashboardContext, visit: Visit) -> Response:
    project_id = visit.param("project")
    group_id: int = visit.request.path_params["group"]
    await run_in_threadpool(expire_ignores, ctx.engine, project_id, ctx.now())
    group, data = await run_in_threadpool(_load_group, ctx, project_id, group_id, visit.held, ctx.now())
    users = await run_in_threadpool(assignable_users, ctx, project_id)
    data["triage"] = await run_in_threadpool(triage_actions.page_context, ctx, group, visit.held, visit.user.actor)
    return render(ctx, visit.session, "group.html", title=f"{group.crash_type} · {project_id}", group=group,
                  project_id=project_id, can_change=bool(visit.held & STATUS_ROLES),
                  can_read=bool(visit.held & READ_ROLES), assignable=users,
                  assignee_name=users.get(group.assignee or "", "a former user") if group.assignee else None,
                  bar_chart=bar_chart, day_columns=day_columns, **data)


# -- status change -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusChange:
    project_id: str
    group_id: int
    status: str
    release: str | None
    actor: str
    at: datetime

    @property
    def resolved_in(self) -> str | None:
        return self.release if self.status == "resolved" else None


def apply_status(ctx: DashboardContext, change: StatusChange) -> None:
    """Set the status, keep the history row, and write the audit entry."""
    with ctx.engine.connect() as conn:
        if q.group_row(conn, change.project_id, change.group_id) is None:
            raise NotFound
    ctx.storage.set_group_status(change.project_id, change.group_id, change.status, release=change.resolved_in,
                                 now=change.at)
    with write_tx(ctx.engine) as conn:
        _record_history(conn, change)
    detail = ({"status": change.status, "release": change.release or ""} if change.status == "resolved"
              else {"status": change.status})
    ctx.audit.record("group.status", actor=change.actor, project_id=change.project_id,
                     subject=f"group:{change.group_id}", detail=detail)


def _record_history(conn: Connection, change: StatusChange) -> None:
    conn.execute(group_status_changes.insert().values(
        group_id=change.group_id, project_id=change.project_id, status=change.status,
        resolved_in=change.resolved_in, changed_by=change.actor, changed_at=change.at))


async def set_status(ctx: DashboardContext, visit: Visit) -> Response:
    """Resolve (optionally in a release), ignore or reopen a group."""
    project_id = visit.param("project")
    group_id: int = visit.request.path_params["group"]
    status = _ACTIONS.get(form_text(visit.form, "action"))
    if status is None:
        return render(ctx, visit.session, "error.html", 400, title="Unknown action",
                      message="Choose resolve, ignore or reopen.")
    release = form_text(visit.form, "release").strip()[:128] or None
    change = StatusChange(project_id, group_id, status, release, visit.user.actor, ctx.now())
    await run_in_threadpool(apply_status, ctx, change)
    return RedirectResponse(f"/dashboard/p/{project_id}/groups/{group_id}", status_code=303)
