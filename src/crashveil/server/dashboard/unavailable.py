"""A clear 503 page, not a 500, when the database cannot serve a page.

Every dashboard request writes (the session's idle timer, sign-in, audit entries), so a
database that answers reads but refuses writes (a read-only mount, a full disk, a
PostgreSQL standby or ``default_transaction_read_only``) or does not answer at all fails
every page. :class:`Unavailable` wraps a router: such an error, raised before the response
has started, becomes a 503 page with ``Retry-After``. Other errors (bugs) stay 500s. The
log line names the error's type only, never its text (it may quote parameters).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import jinja2
import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crashveil.errors import AuditTamperedError, KeyUnavailableError, StorageError
from crashveil.server.http.errors import STORAGE_RETRY_AFTER_S

__all__ = ["AUDIT_MESSAGE", "KEYS_MESSAGE", "UNAVAILABLE_MESSAGE", "Unavailable", "UntilKeysArrive",
           "database_unavailable", "unavailable_page"]

#: What the 503 page says.
UNAVAILABLE_MESSAGE = ("The database is not accepting changes right now (it may be read-only, full or "
                       "restarting), so this page cannot be served. Nothing was changed. Try again in a minute; "
                       "if it persists, tell the operator.")

#: What the 503 page says when the audit trail cannot be written (its checkpoint is ahead of
#: the database, e.g. after a restore of an older copy): audited pages (sign-in, reading a
#: report) must not work unaudited.
AUDIT_MESSAGE = ("The audit trail cannot be written: the database is older than the trail's signed checkpoint "
                 "(it was restored from an earlier copy?). Audited actions, signing in included, are refused "
                 "until an operator restores with 'crashveil server restore' or re-anchors the trail with "
                 "'crashveil server reanchor-audit'.")

#: What the 503 page says when this host lacks a key it needs (its KEK set is not the others').
KEYS_MESSAGE = ("This server cannot use a key it needs yet (its KEK set is not the one the other servers use). "
                "Nothing was changed. Try again in a minute; if it persists, tell the operator ('/readyz' "
                "names the key).")

logger = logging.getLogger("crashveil.server.dashboard")

#: SQLSTATE classes of a database that is up but cannot take this work now: read-only
#: transaction (25006), insufficient resources (53: disk full, out of memory, too many
#: connections), operator intervention (57: shutdown, recovery), connection exceptions (08).
_PG_UNAVAILABLE = ("25006", "53", "57", "08")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot serve now (as opposed to a bug)."""
    if isinstance(exc, (StorageError, sa.exc.OperationalError, sa.exc.TimeoutError)):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        state = getattr(exc.orig, "sqlstate", None) or ""
        return any(state.startswith(prefix) for prefix in _PG_UNAVAILABLE)
    return False


class Unavailable:
    """ASGI wrapper answering ``page()`` (a 503 response) when the database is unavailable."""

    def __init__(self, app: ASGIApp, page: Callable[[str], HTMLResponse]) -> None:
        self.app = app
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            audit = isinstance(exc, AuditTamperedError)
            keys = isinstance(exc, KeyUnavailableError)
            if started or not (audit or keys or database_unavailable(exc)):
                raise
            if keys:
                logger.error("page answered 503: %s", exc)  # key and KEK ids only
                await self.page(KEYS_MESSAGE)(scope, receive, send)
                return
            if audit:
                logger.error("page answered 503: the audit trail is behind its signed checkpoint; restore with "
                             "'crashveil server restore' or re-anchor with 'crashveil server reanchor-audit'")
            else:
                logger.warning("page answered 503: the database is unavailable (%s)", type(exc).__name__)
            await self.page(AUDIT_MESSAGE if audit else UNAVAILABLE_MESSAGE)(scope, receive, send)


def unavailable_page(env: jinja2.Environment) -> Callable[[str], HTMLResponse]:
    """The 503 response factory for :class:`Unavailable`: the dashboard's error page."""
    def page(message: str = UNAVAILABLE_MESSAGE) -> HTMLResponse:
        body = env.get_template("error.html").render(title="Temporarily unavailable", message=message,
                                                     user=None, csrf="")
        return HTMLResponse(body, status_code=503, headers={"Retry-After": str(STORAGE_RETRY_AFTER_S)})
    return page


class UntilKeysArrive:
    """ASGI app answering 503 until ``build()`` stops raising :class:`KeyUnavailableError`,
    then the app it built (the dashboard, which needs the shared dashboard secret).

    A host whose KEK set lacks the KEK of the shared secret still starts: the dashboard
    answers 503 with ``Retry-After`` and ``/readyz`` names the key, and once the operator's
    KEK set arrives the next request builds it (tried at most every ``retry_s``), no restart.
    """

    def __init__(self, build: Callable[[], ASGIApp], *, retry_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._build = build
        self._retry_s = retry_s
        self._clock = clock
        self._next_try = float("-inf")
        self._app: ASGIApp | None = None
        self._try()

    def _try(self) -> ASGIApp | None:
        if self._app is None and self._clock() >= self._next_try:
            try:
                self._app = self._build()
            except KeyUnavailableError as exc:
                self._next_try = self._clock() + self._retry_s
                logger.error("the dashboard answers 503 until this host can use the dashboard secret: %s", exc)
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app if self._app is not None else await run_in_threadpool(self._try)
        if app is None:
            answer = PlainTextResponse(KEYS_MESSAGE, status_code=503,
                                       headers={"Retry-After": str(STORAGE_RETRY_AFTER_S), "Cache-Control": "no-store",
                                                "Content-Security-Policy": "default-src 'none'"})
            await answer(scope, receive, send)
            return
        await app(scope, receive, send)
