"""``POST /api/v1/projects/{project}/reports`` without Starlette's layers: the hot route.

Every report comes this way, so what the route costs per request is the floor of the
ingest. Through Starlette it paid the router (one regex per route, tried in order), the
request/response wrappers, the exception middleware and two scope copies by the privacy
middlewares: about a third of the HTTP work of a stored report. :class:`ReportRoute`, the
outermost middleware of the native API's app, answers this one path and method itself
with the same steps, in the same order, as the Starlette route did:

1. the peer's credential (``peer.peer_credential``, once per TLS connection) and the
   client's address dropped from the scope (as ``app.ForgetClient``; on the native API no
   route reads the scheme or a forwarded address);
2. the project id (404), the project's rate (429), the body under its limits
   (``body.read_body``: Content-Type 415, schema header, Content-Length, size and
   decompression caps 413, timeout 408);
3. ``Ingestor.ingest_async`` (open, validate, redact, group commit: acknowledged after the
   commit), then ``201``/``200`` ``{"receipt", "status"}`` as Starlette's ``JSONResponse``
   wrote it, byte for byte;
4. every exception through the one error map (``errors.handle_error``: the same body,
   status, headers, counters and log line), and the request's duration into the latency
   histogram under the route template.

Any other request (another path, another method, a trailing slash) goes to the app as before.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING

from starlette.requests import Request

from crashveil.server.http.body import read_body
from crashveil.server.http.errors import handle_error
from crashveil.server.http.peer import CREDENTIAL_KEY, peer_credential
from crashveil.server.ingest.rejections import check_project_id
from crashveil.wire.protocol import API_PREFIX

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from crashveil.server.http.metrics import Metrics
    from crashveil.server.ingest.pipeline import Ingestor
    from crashveil.server.settings import Settings

__all__ = ["REPORTS_ROUTE", "ReportRoute", "accept_report"]

#: The route template (metrics label, log lines), as the Starlette route table names it.
REPORTS_ROUTE = f"{API_PREFIX}/projects/{{project}}/reports"
#: What Starlette's ``{project}`` matches: one path segment.
_PATH_RE = re.compile(f"^{re.escape(API_PREFIX)}/projects/([^/]+)/reports$")
_HEADERS = (b"content-type", b"application/json")


def _answer(receipt: str) -> bytes:
    """The body ``JSONResponse({"receipt": ..., "status": "stored"})`` renders."""
    return json.dumps({"receipt": receipt, "status": "stored"}, ensure_ascii=False, allow_nan=False,
                      indent=None, separators=(",", ":")).encode("utf-8")


class ReportRoute:
    """Pure ASGI middleware: the report route itself, everything else to ``app``."""

    def __init__(self, app: ASGIApp, *, ingestor: Ingestor, settings: Settings, metrics: Metrics,
                 body_timeout_s: float) -> None:
        self.app = app
        self.ingestor = ingestor
        self.max_body_bytes = settings.max_body_bytes
        self.max_decompressed_bytes = settings.max_decompressed_bytes
        self.body_timeout_s = body_timeout_s
        # the labelled child, looked up once (``labels`` takes a lock and hashes its labels)
        self.latency = metrics.latency.labels(REPORTS_ROUTE, "POST")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match = _PATH_RE.match(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        scope = dict(scope)
        scope[CREDENTIAL_KEY] = peer_credential(scope, receive)
        scope["client"] = None
        project_id = match.group(1)
        scope["path_params"] = {"project": project_id}
        request = Request(scope, receive)
        try:
            accepted = await self._ingest(request, project_id)
        except Exception as exc:  # noqa: BLE001 - the HTTP error map is the one place allowed to catch all
            response = await handle_error(request, exc, REPORTS_ROUTE)
            self.latency.observe(time.perf_counter() - started)
            await response(scope, receive, send)
            return
        body = _answer(accepted[0])
        self.latency.observe(time.perf_counter() - started)
        await send({"type": "http.response.start", "status": 201 if accepted[1] else 200,
                    "headers": [(b"content-length", str(len(body)).encode("latin-1")), _HEADERS]})
        await send({"type": "http.response.body", "body": body})

    async def _ingest(self, request: Request, project_id: str) -> tuple[str, bool]:
        return await accept_report(self.ingestor, request, project_id, max_body_bytes=self.max_body_bytes,
                                   max_decompressed_bytes=self.max_decompressed_bytes,
                                   timeout_s=self.body_timeout_s)


async def accept_report(ingestor: Ingestor, request: Request, project_id: str, *, max_body_bytes: int,
                        max_decompressed_bytes: int, timeout_s: float) -> tuple[str, bool]:
    """The steps of the report route up to the commit, for this route and Starlette's
    (``app._NativeApi.post_report``): the receipt and whether it was created."""
    check_project_id(project_id)
    ingestor.check_project_rate(project_id)
    body = await read_body(request, max_body_bytes=max_body_bytes, max_decompressed_bytes=max_decompressed_bytes,
                           timeout_s=timeout_s)
    accepted = await ingestor.ingest_async(project_id, body, credential=request.scope.get(CREDENTIAL_KEY))
    return accepted.receipt, accepted.created
