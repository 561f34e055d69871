"""The public summary of a project (HTML and JSON) and the page explaining it to end users.

Off unless the project enables it (``projects.public_summary``); a project that has not is a
404, the same as one that does not exist. Every number comes from a stored differentially
private release (``aggregates.publish_day``): one per finished UTC day, computed once and
served as stored. No report content, no pseudonyms, no exact small counts. Groups appear
under their number only; their titles (exception names) stay on the dashboard.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router

from crashveil.server.dashboard.headers import SecurityHeaders
from crashveil.server.dashboard.templating import templates
from crashveil.server.dashboard.unavailable import Unavailable, unavailable_page
from crashveil.server.insights import plots
from crashveil.server.insights.aggregates import PublishedRelease, public_releases
from crashveil.server.storage.reading import ProjectReader
from crashveil.server.storage.records import ProjectRecord

__all__ = ["public_routes", "DAYS"]

#: Finished days shown.
DAYS = 14
_PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def public_routes(storage: ProjectReader, *, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                  days: int = DAYS) -> list[BaseRoute]:
    """Routes under ``/public``: ``/{project}``, ``/{project}/summary.json``, ``/{project}/plot.svg``, ``/about``."""
    env = templates()

    def releases(project_id: str) -> tuple[ProjectRecord, list[PublishedRelease]] | None:
        if not _PROJECT_RE.match(project_id):
            return None
        project = storage.project(project_id)
        if project is None or not project.public_summary:
            return None
        agg = project.policy.aggregation
        return project, public_releases(storage.engine, project_id, epsilon_per_day=agg.dp_epsilon_per_day,
                                        min_k=agg.min_k, days=days, now=now())

    def missing(request: Request) -> Response:
        return HTMLResponse(env.get_template("public_missing.html").render(title="No public summary"), status_code=404)

    async def summary(request: Request) -> Response:
        found = await run_in_threadpool(releases, request.path_params["project"])
        if found is None:
            return missing(request)
        project, days_ = found
        groups = sorted({g for r in days_ for g in r.groups})
        platforms = sorted({p for r in days_ for p in r.platforms})
        return HTMLResponse(env.get_template("public.html").render(
            title=f"Crash summary · {project.id}", project=project, days=days_, groups=groups, platforms=platforms,
            aggregation=project.policy.aggregation))

    async def summary_json(request: Request) -> Response:
        found = await run_in_threadpool(releases, request.path_params["project"])
        if found is None:
            return JSONResponse({"error": "not_found", "field": None, "message": "no public summary"}, status_code=404)
        project, days_ = found
        return JSONResponse({"project": project.id, "unit": "installations that crashed per UTC day, noised",
                             "explanation": "/public/about", "days": [r.to_json() for r in days_]})

    async def plot(request: Request) -> Response:
        found = await run_in_threadpool(releases, request.path_params["project"])
        if found is None:
            return missing(request)
        _, days_ = found
        points = [(datetime.fromisoformat(r.period).replace(tzinfo=UTC), sum(r.groups.values()))
                  for r in days_]
        body = plots.time_series_svg(points, title="Installations that crashed per day (noised, published groups)",
                                     y_unit="installations per day", x_unit="day (UTC)")
        return Response(body, media_type="image/svg+xml")

    async def about(request: Request) -> Response:
        return HTMLResponse(env.get_template("public_about.html").render(title="How these numbers protect you"))

    router = Router(routes=[
        Route("/about", about),
        Route("/{project}", summary),
        Route("/{project}/summary.json", summary_json),
        Route("/{project}/plot.svg", plot),
    ])
    return [Mount("/public", app=SecurityHeaders(Unavailable(router, unavailable_page(env))))]
