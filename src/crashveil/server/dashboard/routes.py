"""The dashboard's URL table: builds the :class:`DashboardContext` and binds each page to it.

Every page and plot is scoped by a project the signed-in user holds a role on, and anything
else is a 404 (RELIABILITY D.32: nothing to enumerate). Roles (``crashveil.policy.ROLES``):
viewer sees aggregates; developer and admin change group status; developer, privacy-officer
and admin may open one report, after stating a reason, which is written to the audit trail
before anything is decrypted, and see only the fields the policy gives their roles;
privacy-officer and admin see the privacy pages.

Crash strings are attacker-controlled. They are rendered by Jinja2 with autoescape, never
through ``|safe``; plots are separate SVG images (``pages/plots.py``). Responses carry
``headers.CSP`` and never reference another origin.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles

import crashveil.server.dashboard.pages.erasure as erasure
import crashveil.server.dashboard.pages.feedback as feedback
import crashveil.server.dashboard.pages.triage_actions as triage
from crashveil.server.cluster.cache_versions import GROUPS
from crashveil.server.dashboard import csrf
from crashveil.server.dashboard.context import DashboardContext, TtlCache
from crashveil.server.dashboard.headers import SecurityHeaders
from crashveil.server.dashboard.login_flow import CookieSpec, LoginGuard, NonceLedger
from crashveil.server.dashboard.page import NotFoundApp, Page
from crashveil.server.dashboard.pages import assign, groups, login, overview, plots, privacy, releases, reports, sentry
from crashveil.server.dashboard.roles import PRIVACY_ROLES, READ_ROLES, STATUS_ROLES
from crashveil.server.dashboard.templating import PACKAGE, templates
from crashveil.server.dashboard.unavailable import Unavailable, unavailable_page
from crashveil.server.governance.access import SESSION_COOKIE, AccessStore
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.http.ratelimit import KeyedLimiter
from crashveil.server.insights.anomaly import AnomalySettings
from crashveil.server.storage.store import Storage

__all__ = ["dashboard_routes"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def build_context(storage: Storage, *, access: AccessStore, audit: AuditTrail, secret: bytes,
                  secure_cookies: bool = True, now: Callable[[], datetime] = _utc_now,
                  anomaly_settings: AnomalySettings | None = None, cache_s: float = 60.0,
                  login_per_peer: KeyedLimiter | None = None) -> DashboardContext:
    """The context every page shares (arguments as :func:`dashboard_routes`)."""
    session_name = SESSION_COOKIE if secure_cookies else "crashveil-session"
    login_name = "__Host-cv_login" if secure_cookies else "cv_login"
    ledger = NonceLedger(storage.engine, max_age=timedelta(seconds=csrf.LOGIN_MAX_AGE_S), now=now)
    return DashboardContext(
        storage=storage, access=access, audit=audit, env=templates(), secret=secret,
        session_cookie=CookieSpec(session_name, secure=secure_cookies),
        login_cookie=CookieSpec(login_name, secure=secure_cookies),
        login_guard=LoginGuard(ledger, access.anonymous_audit, per_peer=login_per_peer),
        now=now, anomaly=anomaly_settings if anomaly_settings is not None else AnomalySettings(),
        group_cache=TtlCache(cache_s, version=lambda: storage.versions.current(GROUPS)))


def _page_routes(ctx: DashboardContext) -> list[BaseRoute]:
    return [
        Route("/login", partial(login.login, ctx), methods=["GET", "POST"]),
        Route("/logout", Page(ctx, login.logout, project=False, post=True).serve, methods=["POST"]),
        Route("/", Page(ctx, overview.projects, project=False).serve),
        Route("/privacy", Page(ctx, privacy.privacy, roles=PRIVACY_ROLES, project=False).serve),
        Route("/p/{project}/", Page(ctx, groups.groups).serve),
        Route("/p/{project}/plots/{kind}.svg", Page(ctx, plots.plot).serve),
        Route("/p/{project}/sentry", Page(ctx, sentry.sentry_keys).serve),
        Route("/p/{project}/releases", Page(ctx, releases.releases).serve),
        Route("/p/{project}/groups/{group:int}", Page(ctx, groups.group_detail).serve),
        Route("/p/{project}/groups/{group:int}/plots/{kind}.svg", Page(ctx, plots.plot).serve),
        Route("/p/{project}/groups/{group:int}/status",
              Page(ctx, groups.set_status, roles=STATUS_ROLES, post=True).serve, methods=["POST"]),
        Route("/p/{project}/groups/{group:int}/assign",
              Page(ctx, assign.assign, roles=STATUS_ROLES, post=True).serve, methods=["POST"]),
        Route("/p/{project}/reports/{report}", Page(ctx, reports.report_reason, roles=READ_ROLES).serve),
        Route("/p/{project}/reports/{report}", Page(ctx, reports.report_open, roles=READ_ROLES, post=True).serve,
              methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=str(PACKAGE / "static")), name="dashboard-static"),
        *_triage_routes(ctx),
        Route("/p/{project}/erasure", Page(ctx, erasure.erasure_form).serve),
        Route("/p/{project}/erasure", Page(ctx, erasure.erasure_post, post=True).serve, methods=["POST"]),
        Route("/p/{project}/erasure/confirmation", Page(ctx, erasure.confirmation_download, post=True).serve,
              methods=["POST"]),
        *_feedback_routes(ctx),
    ]


def _feedback_routes(ctx: DashboardContext) -> list[BaseRoute]:
    """The privacy feedback inbox (``pages/feedback.py``): reads behind a reason, CSRF-checked posts."""
    base, roles = "/p/{project}/feedback", feedback.FEEDBACK_ROLES
    return [
        Route(base, Page(ctx, feedback.inbox, roles=roles).serve),
        Route(f"{base}/{{item:int}}", Page(ctx, feedback.item_reason, roles=roles).serve),
        Route(f"{base}/{{item:int}}", Page(ctx, feedback.item_open, roles=roles, post=True).serve, methods=["POST"]),
        Route(f"{base}/{{item:int}}/reply", Page(ctx, feedback.reply, roles=roles, post=True).serve, methods=["POST"]),
        Route(f"{base}/{{item:int}}/close", Page(ctx, feedback.close, roles=roles, post=True).serve, methods=["POST"]),
    ]


def _triage_routes(ctx: DashboardContext) -> list[BaseRoute]:
    """The group page's triage forms (``pages/triage_actions.py``): CSRF-checked posts, triage roles."""
    base = "/p/{project}/groups/{group:int}"
    posts = (("resolve", triage.resolve), ("ignore", triage.ignore), ("reopen", triage.reopen),
             ("notes", triage.add_note), ("notes/{note:int}/delete", triage.delete_note),
             ("merge", triage.merge_into), ("unmerge", triage.unmerge), ("link", triage.link))
    return [Route(f"{base}/{path}", Page(ctx, handler, roles=STATUS_ROLES, post=True).serve, methods=["POST"])
            for path, handler in posts]


def dashboard_routes(storage: Storage, *, access: AccessStore, audit: AuditTrail, secret: bytes,
                     secure_cookies: bool = True, now: Callable[[], datetime] = _utc_now,
                     anomaly_settings: AnomalySettings | None = None, cache_s: float = 60.0,
                     login_per_peer: KeyedLimiter | None = None) -> list[BaseRoute]:
    """The dashboard's routes, to add to the app's one route table.

    Args:
        storage: projects, groups, keys and sealed reports.
        access: users, sessions and audited report reads (``crashveil.server.governance.access``).
        audit: the audit trail (``record`` is called for report reads and status changes).
        secret: from :func:`~crashveil.server.dashboard.csrf.load_or_create_secret`.
        secure_cookies: ``Secure`` + ``__Host-`` cookies (off only for plain-HTTP tests).
        now: the clock.
        anomaly_settings: of the volume anomaly scores (default: ``AnomalySettings()``).
        cache_s: how long the group list's expensive parts (filter choices, affected
            installations) are reused per project and filter. With 1M reports on SQLite they
            cost about 1 s and 0.2 s cold (bench/dashboard.py); a minute-old count of
            installations is good enough for triage. 0 turns the cache off.
        login_per_peer: the bucket of log-in posts per peer (``login_flow.LoginGuard``).
    """
    ctx = build_context(storage, access=access, audit=audit, secret=secret, secure_cookies=secure_cookies, now=now,
                        anomaly_settings=anomaly_settings, cache_s=cache_s, login_per_peer=login_per_peer)
    router = Router(routes=_page_routes(ctx), default=NotFoundApp(ctx))
    return [Mount("/dashboard", app=SecurityHeaders(Unavailable(router, unavailable_page(ctx.env))))]
