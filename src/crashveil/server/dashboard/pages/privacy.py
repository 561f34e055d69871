"""The privacy officer's page: the audit trail's integrity and feed, and the privacy posture.

Posture: key ages and states, data keys, the last retention run, redaction hits by release and
detector, and volume anomalies per project. A privacy role in some projects sees those
projects; one on ``*`` sees everything.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from crashveil.server.dashboard import audit_feed
from crashveil.server.dashboard.context import DashboardContext
from crashveil.server.dashboard.page import Visit, render
from crashveil.server.dashboard.roles import PRIVACY_ROLES
from crashveil.server.db.governance_tables import retention_runs
from crashveil.server.db.tables import redaction_counters
from crashveil.server.governance import in_words
from crashveil.server.governance.principals import Principal
from crashveil.server.insights.anomaly import project_series, score_series

__all__ = ["privacy"]


def _allowed_projects(user: Principal) -> set[str] | None:
    """The projects whose privacy data the user sees; None: all of them."""
    if user.grants.get("*", frozenset()) & PRIVACY_ROLES:
        return None
    return {p for p, r in user.grants.items() if r & PRIVACY_ROLES}


def _last_retention_run(conn: Connection) -> object | None:
    try:
        return conn.execute(sa.select(retention_runs).order_by(retention_runs.c.finished_at.desc()).limit(1)).first()
    except sa.exc.SQLAlchemyError:  # governance tables not migrated in this database
        return None


def _redaction_hits(conn: Connection, allowed: Collection[str] | None) -> list[tuple[str, str | None, str, int]]:
    """The 50 largest (project, release, detector) hit counts."""
    c = redaction_counters.c
    query = (sa.select(c.project_id, c.release, c.detector, sa.func.sum(c.hits))
             .group_by(c.project_id, c.release, c.detector)
             .order_by(sa.func.sum(c.hits).desc()).limit(50))
    return [(p, release, detector, int(n)) for p, release, detector, n in conn.execute(query)
            if allowed is None or p in allowed]


def _volume(ctx: DashboardContext, conn: Connection, moment: datetime,
            allowed: Collection[str] | None) -> list[tuple[str, float, str | None]]:
    """Per project: the latest volume z-score and the hour of the latest anomaly (72 hours)."""
    volume = []
    for project in ctx.storage.list_projects():
        if allowed is not None and project.id not in allowed:
            continue
        scores = score_series(project_series(conn, project.id, now=moment, hours=72), ctx.anomaly)
        flagged = [s for s in scores if s.anomalous]
        volume.append((project.id, scores[-1].z if scores else 0.0, flagged[-1].hour if flagged else None))
    return volume


def posture(ctx: DashboardContext, moment: datetime, allowed: Collection[str] | None) -> dict[str, object]:
    """Key ages, retention state, redaction hits by release, volume anomalies."""
    keys = [k for k in ctx.storage.list_keys() if allowed is None or k.project_id in allowed]
    key_rows = [(k.project_id, k.kind, k.algorithm, k.key_id, (moment - k.created_at).days, k.state(moment))
                for k in keys]
    data_keys = ctx.storage.data_key_summary()
    with ctx.engine.connect() as conn:
        retention = _last_retention_run(conn)
    retention_words = in_words.retention_in_words(in_words.last_retention(ctx.engine), moment) if retention else None
    with ctx.engine.connect() as conn:
        hits = _redaction_hits(conn, allowed)
        volume = _volume(ctx, conn, moment, allowed)
    return dict(key_rows=key_rows, data_keys=data_keys, retention=retention, retention_words=retention_words,
                hits=hits, volume=volume)


def _load(ctx: DashboardContext, user: Principal, action: str | None) -> dict[str, object]:
    verify = ctx.audit.verify()
    allowed = _allowed_projects(user)
    # Known actors' entries apart from anonymous noise (audit_feed.py).
    feed = audit_feed.privacy_feed(ctx.engine, allowed=allowed, action=action, now=ctx.now())
    # Users by name, not by their stored id (in_words.py); the id stays in the cell's title.
    names = in_words.actor_names(ctx.engine, [e.actor for e in feed.entries]
                                   + [e.subject for e in feed.entries if e.subject])
    return dict(verify=verify, entries=feed.entries, feed=feed, actor_names=names,
                posture=posture(ctx, ctx.now(), allowed))


async def privacy(ctx: DashboardContext, visit: Visit) -> Response:
    action = visit.request.query_params.get("action") or None
    data = await run_in_threadpool(_load, ctx, visit.user, action)
    return render(ctx, visit.session, "privacy.html", title="Privacy", action=action, **data)
