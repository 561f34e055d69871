"""The dashboard: server-rendered pages (Jinja2, autoescape), no script, a strict CSP.

Mount it with :func:`dashboard_routes`; every page and plot is scoped by a project the
signed-in user holds a role on, and anything else is a 404 (RELIABILITY D.32: nothing to
enumerate). Roles (``crashveil.policy.ROLES``): viewer sees aggregates; developer and admin
change group status; developer, privacy-officer and admin may open one report, after
stating a reason, which is written to the audit trail before anything is decrypted, and see
only the fields the policy gives their roles; privacy-officer and admin see the privacy
pages.

Crash strings are attacker-controlled. They are rendered by Jinja2 with autoescape, never
through ``|safe``; plots are separate SVG images (``plots.py``). Responses carry
:data:`CSP` and never reference another origin.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crashveil.errors import AccessDenied
from crashveil.server.dashboard import audit_feed, csrf, login_flow, queries as q
from crashveil.server.dashboard.unavailable import Unavailable, unavailable_page
from crashveil.server.db.dashboard_tables import group_status_changes
from crashveil.server.db.engine import write_tx
from crashveil.server.governance.access import (
    SESSION_COOKIE,
    AccessStore,
    LoginFailed,
    NotVisible,
    Principal,
    visible_fields,
)
from crashveil.server.http.ratelimit import KeyedLimiter, retry_after_header
from crashveil.server.insights import plots
from crashveil.server.insights.aggregates import k_visible
from crashveil.server.insights.anomaly import AnomalySettings, score_series

__all__ = ["CSP", "dashboard_routes", "load_or_create_secret", "SecurityHeaders", "templates"]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
_SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
_PACKAGE = resources.files("crashveil.server.dashboard")
# Who may change a group's status; reading reports and the privacy pages follow
# access.PERMISSIONS ("reports.read", "audit.read"/"posture.read").
_STATUS_ROLES = frozenset({"developer", "admin"})
_READ_ROLES = frozenset(r for r, perms in __import__("crashveil.server.governance.access", fromlist=["PERMISSIONS"])
                        .PERMISSIONS.items() if "reports.read" in perms)
_PRIVACY_ROLES = frozenset(r for r, perms in __import__("crashveil.server.governance.access", fromlist=["PERMISSIONS"])
                           .PERMISSIONS.items() if "audit.read" in perms)


class SecurityHeaders:
    """Pure ASGI middleware adding the CSP and related headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def templates() -> jinja2.Environment:
    """The dashboard's template environment: autoescape on for every template."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_PACKAGE / "templates")),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["when"] = lambda d: d.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if d else "–"
    return env


def load_or_create_secret(path: Path) -> bytes:
    """The dashboard secret (CSRF derivation, log-in cookie signing), made once, mode 0600."""
    path = Path(path)
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(32)
    fd = __import__("os").open(path, __import__("os").O_WRONLY | __import__("os").O_CREAT | __import__("os").O_EXCL,
                               0o600)
    with open(fd, "wb") as handle:
        handle.write(value)
    return value


class _NotFound(Exception):
    pass


def dashboard_routes(storage: Any, *, access: AccessStore, audit: Any, secret: bytes,
                     secure_cookies: bool = True, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                     anomaly_settings: AnomalySettings = AnomalySettings(), cache_s: float = 60.0,
                     login_per_peer: KeyedLimiter | None = None) -> list[BaseRoute]:
    """The dashboard's routes, to add to the app's one route table.

    Args:
        storage: a ``crashveil.server.storage.store.Storage``.
        access: users, sessions and audited report reads (``crashveil.server.governance.access``).
        audit: an ``AuditTrail`` (``record`` is called for report reads and status changes).
        secret: from :func:`load_or_create_secret`.
        secure_cookies: ``Secure`` + ``__Host-`` cookies (off only for plain-HTTP tests).
        now: the clock.
        cache_s: how long the group list's expensive parts (filter choices, affected
            installations) are reused per project and filter. With 1M reports on SQLite they
            cost about 1 s and 0.2 s cold (bench/dashboard.py); a minute-old count of
            installations is good enough for triage. 0 turns the cache off.
        login_per_peer: the bucket of log-in posts per peer (``login_flow.LoginGuard``).
    """
    env = templates()
    engine = storage.engine
    cache: dict[Any, tuple[float, Any]] = {}

    def cached(key: Any, compute: Callable[[], Any]) -> Any:
        if cache_s <= 0:
            return compute()
        clock = __import__("time").monotonic()
        hit = cache.get(key)
        if hit is not None and hit[0] > clock:
            return hit[1]
        value = compute()
        if len(cache) > 10_000:
            cache.clear()
        cache[key] = (clock + cache_s, value)
        return value
    cookie = SESSION_COOKIE if secure_cookies else "crashveil-session"
    login_cookie = "__Host-cv_login" if secure_cookies else "cv_login"

    def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        user = getattr(request.state, "principal", None)
        context.setdefault("user", user)
        context.setdefault("csrf", csrf.session_token(secret, request.state.session_id) if user else "")
        return HTMLResponse(env.get_template(name).render(**context), status_code=status)

    def not_found(request: Request) -> HTMLResponse:
        return render(request, "error.html", 404, title="Not found", message="There is nothing here.")

    def own_origin(request: Request) -> str:
        return f"{request.url.scheme}://{request.headers.get('host', '')}"

    async def current(request: Request) -> Principal | None:
        session_id = request.cookies.get(cookie)
        if not session_id:
            return None
        principal = await run_in_threadpool(access.load_session, session_id)
        request.state.principal = principal
        request.state.session_id = session_id
        return principal

    def page(handler: Callable[..., Any], *, roles: frozenset[str] | None = None, project: bool = True,
             post: bool = False) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            user = await current(request)
            if user is None:
                return RedirectResponse("/dashboard/login", status_code=303)
            form: Mapping[str, Any] = {}
            if post:
                form = await request.form()
                if not (csrf.origin_allowed(request.headers, own_origin(request))
                        and csrf.check_session_token(secret, request.state.session_id, form.get("csrf"))):
                    return render(request, "error.html", 403, title="Refused",
                                  message="This form is out of date or came from another site. Reload and try again.")
            held: frozenset[str] = frozenset()
            if project:
                project_id = request.path_params["project"]
                held = user.roles_in(project_id)
                if not held or (roles is not None and not held & roles):
                    return not_found(request)
            elif roles is not None and not any(r & roles for r in user.grants.values()):
                return not_found(request)
            try:
                return await handler(request, user, held, form)
            except (_NotFound, NotVisible):
                return not_found(request)
        return run

    # -- log-in ---------------------------------------------------------------------------------
    # Cookies, single-use nonces and the per-address limit: login_flow.py.
    session_spec = login_flow.CookieSpec(cookie, secure=secure_cookies)
    login_spec = login_flow.CookieSpec(login_cookie, secure=secure_cookies)
    guard = login_flow.LoginGuard(login_flow.NonceLedger(engine, max_age=timedelta(seconds=csrf.LOGIN_MAX_AGE_S),
                                                         now=now),
                                  access.anonymous_audit, per_peer=login_per_peer)

    async def login_form(request: Request, error: str | None = None, status: int = 200) -> Response:
        cookie_value, nonce = csrf.new_login_pair(secret)
        response = render(request, "login.html", status, user=None, login_nonce=nonce, error=error, title="Sign in")
        login_spec.set(response, cookie_value)
        return response

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return await login_form(request)
        form = await request.form()
        nonce = form.get("nonce")
        if not (csrf.origin_allowed(request.headers, own_origin(request))
                and csrf.check_login_pair(secret, request.cookies.get(login_cookie), nonce)):
            return await login_form(request, "The form expired. Please try again.", 403)
        wait = guard.throttle(request.scope)
        if wait > 0:
            response = await login_form(request, "Too many attempts from here; try again later.", 429)
            response.headers["retry-after"] = retry_after_header(wait)
            return response
        if not isinstance(nonce, str) or not await run_in_threadpool(guard.ledger.consume, nonce):
            return await login_form(request, "The form expired. Please try again.", 403)
        try:
            _, session_id = await run_in_threadpool(access.login, str(form.get("name", ""))[:64],
                                                    str(form.get("password", ""))[:1024])
        except LoginFailed as exc:
            return await login_form(request, "Wrong name or password, or too many attempts; try again later.",
                                    exc.status)
        guard.succeeded(request.scope)
        response = RedirectResponse("/dashboard/", status_code=303)
        session_spec.set(response, session_id, max_age=12 * 3600)
        login_spec.delete(response)
        return response

    async def logout(request: Request, user: Principal, held: frozenset[str], form: Any) -> Response:
        await run_in_threadpool(access.logout, request.state.session_id)
        response = RedirectResponse("/dashboard/login", status_code=303)
        session_spec.delete(response)
        login_spec.delete(response)
        return response

    # -- projects and groups ------------------------------------------------------------------------
    def _projects(user: Principal) -> list[Any]:
        summaries = storage.list_projects()
        return [p for p in summaries if user.roles_in(p.id)]

    async def projects(request: Request, user: Principal, held: Any, form: Any) -> Response:
        listed = await run_in_threadpool(_projects, user)
        privacy = any(r & _PRIVACY_ROLES for r in user.grants.values())
        return render(request, "projects.html", projects=listed, privacy=privacy, title="Projects")

    def _filter(request: Request) -> q.GroupFilter:
        params = request.query_params
        rng = params.get("range", "7d")
        sort = params.get("sort", "count")
        status = params.get("status") or None
        return q.GroupFilter(range=rng if rng in q.RANGES else "7d", release=params.get("release") or None,
                             os_family=params.get("os") or None, sort=sort if sort in q.SORTS else "count",
                             status=status if status in ("open", "resolved", "regressed", "ignored") else None)

    async def groups(request: Request, user: Principal, held: frozenset[str], form: Any) -> Response:
        project_id = request.path_params["project"]
        flt = _filter(request)
        moment = now()

        def load() -> dict[str, Any]:
            project = storage.project(project_id)
            if project is None:
                raise _NotFound
            with engine.connect() as conn:
                rows = q.list_groups(
                    conn,
                    project_id,
                    flt,
                    now=moment,
                    installs=lambda ids, since: cached(
                        ("installs", project_id, flt, since, tuple(ids)), lambda: q.installs(conn, ids, since, flt)
                    ),
                )
                releases, families = cached(("options", project_id),
                                            lambda: q.filter_options(conn, project_id, now=moment))
                hourly = q.hourly_series(conn, project_id=project_id, group_id=None, now=moment, hours=72)
                newest = q.latest_release(conn, project_id)
            scores = score_series(hourly, anomaly_settings)
            spikes = [s for s in scores[-24:] if s.anomalous]
            return dict(rows=rows, releases=releases, families=families, spikes=spikes, newest=newest,
                        min_k=project.policy.aggregation.min_k, public=project.public_summary)

        data = await run_in_threadpool(load)
        return render(request, "groups.html", title=f"Crash groups · {project_id}", project_id=project_id,
                      flt=flt, ranges=list(q.RANGES), sorts=q.SORTS, k_visible=k_visible, **data)

    async def group_detail(request: Request, user: Principal, held: frozenset[str], form: Any) -> Response:
        project_id = request.path_params["project"]
        group_id = request.path_params["group"]
        moment = now()

        def load() -> dict[str, Any]:
            project = storage.project(project_id)
            with engine.connect() as conn:
                row = q.group_row(conn, project_id, group_id)
                if row is None or project is None:
                    raise _NotFound
                since = q.hour_key(moment - timedelta(days=30))
                hourly = q.hourly_series(conn, project_id=project_id, group_id=group_id, now=moment, hours=168)
                correlation = q.correlate_spike(conn, group_id, hourly, anomaly_settings)
                recent = q.recent_reports(conn, project_id, group_id)
                history = q.status_history(conn, group_id)
                newest = q.latest_release(conn, project_id)
                installs = q.group_installs(conn, group_id, since=since, min_k=project.policy.aggregation.min_k)
                by_release = q.distribution(conn, group_id, "release", since=since)
            # An aggregate page: only the group row and roll-ups, never a decrypted report. A
            # trace is one report's detail, read through report_open (permission, reason, audit).
            newest_detail = next((r.report_id for r in recent if r.has_detail), None)
            anomalies = [s for s in score_series(hourly, anomaly_settings) if s.anomalous]
            return dict(group=row, correlation=correlation, recent=recent, history=history, newest=newest,
                        installs=k_visible(int(installs), project.policy.aggregation.min_k),
                        min_k=project.policy.aggregation.min_k, newest_detail=newest_detail, anomalies=anomalies,
                        new_in=row.first_release if row.first_release and row.first_release == newest else None,
                        releases_seen=[r for r, _ in by_release])

        data = await run_in_threadpool(load)
        return render(request, "group.html", title=f"{data['group'].crash_type} · {project_id}",
                      project_id=project_id, can_change=bool(held & _STATUS_ROLES), can_read=bool(held & _READ_ROLES),
                      **data)

    async def set_status(request: Request, user: Principal, held: frozenset[str], form: Any) -> Response:
        project_id = request.path_params["project"]
        group_id = request.path_params["group"]
        action = str(form.get("action", ""))
        release = str(form.get("release", "")).strip()[:128] or None
        status = {"resolve": "resolved", "ignore": "ignored", "reopen": "open"}.get(action)
        if status is None:
            return render(
                request, "error.html", 400, title="Unknown action", message="Choose resolve, ignore or reopen."
            )
        moment = now()

        def apply() -> None:
            with engine.connect() as conn:
                if q.group_row(conn, project_id, group_id) is None:
                    raise _NotFound
            storage.set_group_status(project_id, group_id, status, release=release if status == "resolved" else None,
                                     now=moment)
            with write_tx(engine) as conn:
                conn.execute(group_status_changes.insert().values(
                    group_id=group_id, project_id=project_id, status=status,
                    resolved_in=release if status == "resolved" else None, changed_by=user.actor,
                    changed_at=moment))
            audit.record("group.status", actor=user.actor, project_id=project_id,
                         subject=f"group:{group_id}", detail={"status": status, "release": release or ""}
                         if status == "resolved" else {"status": status})

        await run_in_threadpool(apply)
        return RedirectResponse(f"/dashboard/p/{project_id}/groups/{group_id}", status_code=303)

    # -- one report, behind a reason ----------------------------------------------------------------
    async def report_reason(request: Request, user: Principal, held: frozenset[str], form: Any) -> Response:
        project_id = request.path_params["project"]
        report_id = request.path_params["report"]
        exists = await run_in_threadpool(_report_exists, engine, project_id, report_id)
        if not exists:
            raise _NotFound
        return render(request, "reason.html", title="Why do you need this report?", project_id=project_id,
                      report_id=report_id, error=None, reason="")

    async def report_open(request: Request, user: Principal, held: frozenset[str], form: Any) -> Response:
        project_id = request.path_params["project"]
        report_id = request.path_params["report"]
        reason = str(form.get("reason", ""))

        def load() -> dict[str, Any]:
            project = storage.project(project_id)
            if project is None or not _report_exists(engine, project_id, report_id):
                raise _NotFound

            def fetch(pid: str, rid: str) -> dict[str, Any] | None:
                detail = storage.report_detail(pid, rid)
                return None if detail is None else {name: getattr(detail.report, name)
                                                    for name in project.policy.fields
                                                    if hasattr(detail.report, name)}

            # access.read_report checks the permission and the reason, and commits the audit
            # entry (user, report, reason, fields shown) before returning anything.
            shown = access.read_report(user, project_id, report_id, reason, policy=project.policy, fetch=fetch)
            fields = visible_fields(project.policy, held)
            return dict(fields=[(name, _as_plain(shown[name])) for name in fields if name in shown],
                        hidden=sorted(set(project.policy.fields) - set(fields)))

        try:
            data = await run_in_threadpool(load)
        except NotVisible:
            raise
        except AccessDenied as exc:
            return render(request, "reason.html", 400, title="Why do you need this report?", project_id=project_id,
                          report_id=report_id, reason=" ".join(reason.split())[:500], error=str(exc))
        return render(request, "report.html", title="Report", project_id=project_id, report_id=report_id,
                      reason=" ".join(reason.split()), **data)

    # -- plots ------------------------------------------------------------------------------------
    def svg(body: str) -> Response:
        return Response(body, media_type="image/svg+xml", headers={"cache-control": "private, max-age=60"})

    async def plot(request: Request, user: Principal, held: frozenset[str], form: Any) -> Response:
        project_id = request.path_params["project"]
        kind = request.path_params["kind"]
        group_id = request.path_params.get("group")
        moment = now()

        def draw() -> str:
            with engine.connect() as conn:
                if group_id is not None and q.group_row(conn, project_id, group_id) is None:
                    raise _NotFound
                if kind in ("trend", "spark"):
                    hours = 168 if kind == "trend" else 14 * 24
                    hourly = q.hourly_series(conn, project_id=project_id, group_id=group_id, now=moment, hours=hours)
                    if kind == "spark":
                        return plots.sparkline_svg([n for _, n in q.daily_series(hourly)], unit="reports/day")
                    marks = [q.parse_hour(s.hour) for s in score_series(hourly, anomaly_settings) if s.anomalous]
                    points = [(q.parse_hour(h), n) for h, n in hourly]
                    title = "Reports per hour, last 7 days" + ("" if group_id else f" · project {project_id}")
                    return plots.time_series_svg(points, title=title, y_unit="reports per hour", marks=marks)
                if kind in ("releases", "os") and group_id is not None:
                    since = q.hour_key(moment - timedelta(days=30))
                    column = "release" if kind == "releases" else "os_family"
                    items = q.distribution(conn, group_id, column, since=since)
                    title = "By release, last 30 days" if kind == "releases" else "By OS family, last 30 days"
                    return plots.bar_chart_svg(items, title=title, x_unit="reports")
            raise _NotFound

        return svg(await run_in_threadpool(draw))

    # -- privacy officer ----------------------------------------------------------------------------
    async def privacy(request: Request, user: Principal, held: frozenset[str], form: Any) -> Response:
        params = request.query_params
        action = params.get("action") or None

        def load() -> dict[str, Any]:
            verify = audit.verify()
            allowed = None if user.grants.get("*", frozenset()) & _PRIVACY_ROLES else {
                p for p, r in user.grants.items() if r & _PRIVACY_ROLES}
            # Known actors' entries apart from anonymous noise (audit_feed.py).
            feed = audit_feed.privacy_feed(engine, allowed=allowed, action=action, now=now())
            return dict(verify=verify, entries=feed.entries, feed=feed,
                        posture=_posture(storage, engine, now(), allowed, anomaly_settings))

        data = await run_in_threadpool(load)
        return render(request, "privacy.html", title="Privacy", action=action, **data)

    routes: list[BaseRoute] = [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", page(logout, project=False, post=True), methods=["POST"]),
        Route("/", page(projects, project=False)),
        Route("/privacy", page(privacy, roles=_PRIVACY_ROLES, project=False)),
        Route("/p/{project}/", page(groups)),
        Route("/p/{project}/plots/{kind}.svg", page(plot)),
        Route("/p/{project}/groups/{group:int}", page(group_detail)),
        Route("/p/{project}/groups/{group:int}/plots/{kind}.svg", page(plot)),
        Route("/p/{project}/groups/{group:int}/status", page(set_status, roles=_STATUS_ROLES, post=True),
              methods=["POST"]),
        Route("/p/{project}/reports/{report}", page(report_reason, roles=_READ_ROLES)),
        Route("/p/{project}/reports/{report}", page(report_open, roles=_READ_ROLES, post=True), methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=str(_PACKAGE / "static")), name="dashboard-static"),
    ]

    async def fallback(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        await current(request)
        await not_found(request)(scope, receive, send)

    router = Router(routes=routes, default=fallback)
    return [Mount("/dashboard", app=SecurityHeaders(Unavailable(router, unavailable_page(env))))]


def _report_exists(engine: Any, project_id: str, report_id: str) -> bool:
    from crashveil.server.db.tables import reports

    if len(report_id) > 36:
        return False
    with engine.connect() as conn:
        return conn.execute(sa.select(reports.c.id).where(reports.c.project_id == project_id,
                                                          reports.c.report_id == report_id)).first() is not None


def _as_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _as_plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None}
    if isinstance(value, (list, tuple)):
        return [_as_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _as_plain(v) for k, v in value.items()}
    return value


def _posture(storage: Any, engine: Any, moment: datetime, allowed: set[str] | None,
             anomaly_settings: AnomalySettings) -> dict[str, Any]:
    """Key ages, retention state, redaction hits by release, volume anomalies."""
    from crashveil.server.db.tables import redaction_counters
    from crashveil.server.insights.anomaly import project_series

    keys = [k for k in storage.list_keys() if allowed is None or k.project_id in allowed]
    key_rows = [(k.project_id, k.kind, k.algorithm, k.key_id, (moment - k.created_at).days, k.state(moment))
                for k in keys]
    data_keys = storage.data_key_summary()
    retention = None
    try:
        from crashveil.server.db.governance_tables import retention_runs

        with engine.connect() as conn:
            retention = conn.execute(sa.select(retention_runs).order_by(retention_runs.c.finished_at.desc())
                                     .limit(1)).first()
    except (ImportError, sa.exc.SQLAlchemyError):  # governance tables not migrated in this database
        retention = None
    with engine.connect() as conn:
        query = (sa.select(redaction_counters.c.project_id, redaction_counters.c.release,
                           redaction_counters.c.detector, sa.func.sum(redaction_counters.c.hits))
                 .group_by(redaction_counters.c.project_id, redaction_counters.c.release,
                           redaction_counters.c.detector)
                 .order_by(sa.func.sum(redaction_counters.c.hits).desc()).limit(50))
        hits = [r for r in conn.execute(query) if allowed is None or r[0] in allowed]
        volume = []
        for project in storage.list_projects():
            if allowed is not None and project.id not in allowed:
                continue
            scores = score_series(project_series(conn, project.id, now=moment, hours=72), anomaly_settings)
            flagged = [s for s in scores if s.anomalous]
            volume.append((project.id, scores[-1].z if scores else 0.0, flagged[-1].hour if flagged else None))
    return dict(key_rows=key_rows, data_keys=data_keys, retention=retention, hits=hits, volume=volume)
