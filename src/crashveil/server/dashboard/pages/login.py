"""Signing in and out.

The log-in form is protected by a signed pre-session cookie echoed in the form plus the exact
Origin check (``csrf.py``); each form posts once and posts are limited per peer
(``login_flow.py``). Signing out is an ordinary CSRF-checked page post.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from crashveil.errors import LoginFailed
from crashveil.server.dashboard import csrf
from crashveil.server.dashboard.context import DashboardContext
from crashveil.server.dashboard.page import Visit, form_text, own_origin, render
from crashveil.server.http.ratelimit import retry_after_header

__all__ = ["login", "logout"]

_SESSION_MAX_AGE_S = 12 * 3600
_EXPIRED = "The form expired. Please try again."


def _login_form(ctx: DashboardContext, error: str | None = None, status: int = 200) -> Response:
    cookie_value, nonce = csrf.new_login_pair(ctx.secret)
    response = render(ctx, None, "login.html", status, user=None, login_nonce=nonce, error=error, title="Sign in")
    ctx.login_cookie.set(response, cookie_value)
    return response


async def login(ctx: DashboardContext, request: Request) -> Response:
    """GET: the form. POST: checks in order CSRF, the peer's limit, the nonce, the password."""
    if request.method == "GET":
        return _login_form(ctx)
    form = await request.form()
    raw_nonce = form.get("nonce")
    nonce = raw_nonce if isinstance(raw_nonce, str) else None
    if not (csrf.origin_allowed(request.headers, own_origin(request))
            and csrf.check_login_pair(ctx.secret, request.cookies.get(ctx.login_cookie.name), nonce)):
        return _login_form(ctx, _EXPIRED, 403)
    guard = ctx.login_guard
    wait = guard.throttle(request.scope)
    if wait > 0:
        response = _login_form(ctx, "Too many attempts from here; try again later.", 429)
        response.headers["retry-after"] = retry_after_header(wait)
        return response
    if nonce is None or not await run_in_threadpool(guard.ledger.consume, nonce):
        return _login_form(ctx, _EXPIRED, 403)
    try:
        _, session_id = await run_in_threadpool(ctx.access.login, form_text(form, "name")[:64],
                                                form_text(form, "password")[:1024])
    except LoginFailed as exc:
        return _login_form(ctx, "Wrong name or password, or too many attempts; try again later.", exc.status)
    guard.succeeded(request.scope)
    response = RedirectResponse("/dashboard/", status_code=303)
    ctx.session_cookie.set(response, session_id, max_age=_SESSION_MAX_AGE_S)
    ctx.login_cookie.delete(response)
    return response


async def logout(ctx: DashboardContext, visit: Visit) -> Response:
    """End the session and drop both cookies."""
    await run_in_threadpool(ctx.access.logout, visit.session.session_id)
    response = RedirectResponse("/dashboard/login", status_code=303)
    ctx.session_cookie.delete(response)
    ctx.login_cookie.delete(response)
    return response
