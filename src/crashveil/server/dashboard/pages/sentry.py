"""A project's Sentry DSN keys: level, events stored, and what was dropped and why.

Counts only (``sentry.outcomes``): never a key (its eight-character prefix), never event
content. Field paths and reasons come from fixed vocabularies and are escaped like every
other string. Any role on the project sees it, as it sees the group list.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from crashveil.server.dashboard.context import DashboardContext
from crashveil.server.dashboard.page import NotFound, Visit, render
from crashveil.server.sentry.keys import SentryKeyInfo, SentryKeys, default_level
from crashveil.server.sentry.outcomes import KeyOutcomes, key_outcomes

__all__ = ["sentry_keys"]


@dataclass(frozen=True)
class KeyView:
    """One key's row and its outcome tables."""

    info: SentryKeyInfo
    level: str
    outcomes: KeyOutcomes


def _load(ctx: DashboardContext, project_id: str) -> list[KeyView]:
    project = ctx.storage.project(project_id)
    if project is None:
        raise NotFound
    infos = SentryKeys(ctx.engine).list_keys(project_id)
    counts = key_outcomes(ctx.engine, [info.key_id for info in infos])
    fallback = f"{default_level(project.policy)} (default)"
    return [KeyView(info, info.level or fallback, counts[info.key_id]) for info in infos]


async def sentry_keys(ctx: DashboardContext, visit: Visit) -> Response:
    project_id = visit.param("project")
    keys = await run_in_threadpool(_load, ctx, project_id)
    return render(ctx, visit.session, "sentry_keys.html", title=f"Sentry keys · {project_id}",
                  project_id=project_id, keys=keys)
