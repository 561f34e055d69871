"""Assigning a crash group to a user of its project (or to no one), audited with its actor.

A group can be assigned to an enabled user who may change groups in the project (a role in
``roles.STATUS_ROLES`` there, or on every project). The group keeps ``user:<id>`` (the
audit trail's actor form), so renaming nothing and reusing no name can move an assignment;
pages show the user's name. The POST passes the dashboard's CSRF check like every form
(``page.Page``), and each change writes a ``group.assign`` audit entry.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from crashveil.errors import NotFound
from crashveil.server.dashboard import queries as q
from crashveil.server.dashboard.context import DashboardContext
from crashveil.server.dashboard.page import Visit, form_text, render
from crashveil.server.dashboard.roles import STATUS_ROLES
from crashveil.server.db.engine import write_tx
from crashveil.server.db.tables import crash_groups
from crashveil.server.governance.principals import ALL_PROJECTS

__all__ = ["apply_assignment", "assign", "assignable_users"]


def assignable_users(ctx: DashboardContext, project_id: str) -> Mapping[str, str]:
    """``user:<id>`` -> name of the users a group of ``project_id`` may be assigned to, by name."""
    found = {}
    for user in ctx.access.list_users():
        roles = user.grants.get(project_id, frozenset()) | user.grants.get(ALL_PROJECTS, frozenset())
        if not user.disabled and roles & STATUS_ROLES:
            found[f"user:{user.user_id}"] = user.name
    return dict(sorted(found.items(), key=lambda item: item[1]))


def apply_assignment(ctx: DashboardContext, project_id: str, group_id: int, assignee: str | None, actor: str) -> None:
    with write_tx(ctx.engine) as conn:
        if q.group_row(conn, project_id, group_id) is None:
            raise NotFound
        conn.execute(sa.update(crash_groups).where(crash_groups.c.project_id == project_id,
                                                   crash_groups.c.id == group_id).values(assignee=assignee))
    ctx.audit.record("group.assign", actor=actor, project_id=project_id, subject=f"group:{group_id}",
                     detail={"assignee": assignee or ""})


async def assign(ctx: DashboardContext, visit: Visit) -> Response:
    """Assign the group to the posted ``assignee`` (``user:<id>``), or to no one when it is empty."""
    project_id = visit.param("project")
    group_id: int = visit.request.path_params["group"]
    wanted = form_text(visit.form, "assignee").strip() or None
    if wanted is not None:
        users = await run_in_threadpool(assignable_users, ctx, project_id)
        if wanted not in users:
            return render(ctx, visit.session, "error.html", 400, title="Unknown assignee",
                          message="Choose a user who may change groups in this project, or no one.")
    await run_in_threadpool(apply_assignment, ctx, project_id, group_id, wanted, visit.user.actor)
    return RedirectResponse(f"/dashboard/p/{project_id}/groups/{group_id}", status_code=303)
