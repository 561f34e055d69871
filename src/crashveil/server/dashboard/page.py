"""The gate in front of every signed-in page: session, CSRF on posts, project roles, 404s.

A page handler is a module-level ``async def handler(ctx, visit) -> Response``; :class:`Page`
binds it to the :class:`~crashveil.server.dashboard.context.DashboardContext` and runs the
checks first. Anything the user may not see is the same 404 as anything that does not
exist (RELIABILITY D.32: nothing to enumerate); handlers raise :class:`NotFound` for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from crashveil.errors import NotFound, NotVisible
from crashveil.server.dashboard import csrf
from crashveil.server.dashboard.context import DashboardContext
from crashveil.server.governance.principals import Principal

__all__ = ["NotFoundApp", "Page", "PageHandler", "Session", "Visit", "form_text", "not_found",
           "own_origin", "render"]


@dataclass(frozen=True)
class Session:
    """A signed-in user and the session id their cookie carries (the CSRF token derives from it)."""

    principal: Principal
    session_id: str


@dataclass(frozen=True)
class Visit:
    """A request that passed the gate.

    Attributes:
        request: the request.
        session: who is signed in.
        held: their roles in the path's project (empty for pages outside a project).
        form: the posted form (empty for GET pages).
    """

    request: Request
    session: Session
    held: frozenset[str]
    form: FormData

    @property
    def user(self) -> Principal:
        return self.session.principal

    def param(self, name: str) -> str:
        """A path parameter as text."""
        return str(self.request.path_params[name])


PageHandler = Callable[[DashboardContext, Visit], Awaitable[Response]]


def form_text(form: FormData, name: str) -> str:
    """A form field as text (absent or a file: empty)."""
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def render(ctx: DashboardContext, session: Session | None, name: str, status: int = 200, /,
           **context: object) -> HTMLResponse:
    """Template ``name`` with the signed-in user and their CSRF token (both overridable)."""
    context.setdefault("user", session.principal if session else None)
    context.setdefault("csrf", csrf.session_token(ctx.secret, session.session_id) if session else "")
    return HTMLResponse(ctx.env.get_template(name).render(**context), status_code=status)


def not_found(ctx: DashboardContext, session: Session | None) -> HTMLResponse:
    return render(ctx, session, "error.html", 404, title="Not found", message="There is nothing here.")


def own_origin(request: Request) -> str:
    """This server's origin as the browser addressed it (for the exact Origin check)."""
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


async def current_session(ctx: DashboardContext, request: Request) -> Session | None:
    """The session the request's cookie names, if it is live."""
    session_id = request.cookies.get(ctx.session_cookie.name)
    if not session_id:
        return None
    principal = await run_in_threadpool(ctx.access.load_session, session_id)
    return None if principal is None else Session(principal, session_id)


@dataclass(frozen=True)
class Page:
    """A signed-in page: its handler and who may reach it.

    Attributes:
        ctx: the dashboard context handed to the handler.
        handler: the page.
        roles: roles of which the user needs one (in the path's project, or in any project
            when ``project`` is False); None: any role.
        project: the path has a ``{project}`` the user must hold a role in.
        post: a form post (the CSRF token and Origin are checked before the handler runs).
    """

    ctx: DashboardContext
    handler: PageHandler
    roles: frozenset[str] | None = None
    project: bool = True
    post: bool = False

    async def serve(self, request: Request) -> Response:
        """The Starlette endpoint (a bound method, so Starlette passes it the request)."""
        ctx = self.ctx
        session = await current_session(ctx, request)
        if session is None:
            return RedirectResponse("/dashboard/login", status_code=303)
        form = FormData()
        if self.post:
            form = await request.form()
            if not (csrf.origin_allowed(request.headers, own_origin(request))
                    and csrf.check_session_token(ctx.secret, session.session_id, form_text(form, "csrf"))):
                return render(ctx, session, "error.html", 403, title="Refused",
                              message="This form is out of date or came from another site. Reload and try again.")
        held = self._held(session.principal, request)
        if held is None:
            return not_found(ctx, session)
        try:
            return await self.handler(ctx, Visit(request, session, held, form))
        except (NotFound, NotVisible):
            return not_found(ctx, session)

    def _held(self, user: Principal, request: Request) -> frozenset[str] | None:
        """The user's roles in the path's project; None when the page is not theirs to see."""
        roles = self.roles
        if self.project:
            held = user.roles_in(request.path_params["project"])
            if not held or (roles is not None and not held & roles):
                return None
            return held
        if roles is not None and not any(r & roles for r in user.grants.values()):
            return None
        return frozenset()


@dataclass(frozen=True)
class NotFoundApp:
    """The router's default: the 404 page, with the user's name if they are signed in."""

    ctx: DashboardContext

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = await current_session(self.ctx, Request(scope, receive))
        await not_found(self.ctx, session)(scope, receive, send)
