"""The landing page: the projects the user holds a role in."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from crashveil.server.dashboard.context import DashboardContext
from crashveil.server.dashboard.page import Visit, render
from crashveil.server.dashboard.roles import PRIVACY_ROLES
from crashveil.server.governance.principals import Principal
from crashveil.server.storage.records import ProjectSummary

__all__ = ["projects"]


def _visible_projects(ctx: DashboardContext, user: Principal) -> list[ProjectSummary]:
    return [p for p in ctx.storage.list_projects() if user.roles_in(p.id)]


async def projects(ctx: DashboardContext, visit: Visit) -> Response:
    listed = await run_in_threadpool(_visible_projects, ctx, visit.user)
    privacy = any(r & PRIVACY_ROLES for r in visit.user.grants.values())
    return render(ctx, visit.session, "projects.html", projects=listed, privacy=privacy, title="Projects")
