"""The ASGI app of the ingest API: the one route table, two pure-ASGI middlewares.

``create_app(settings, storage)`` builds it; ``run.py`` serves it on uvicorn. The contract
is ``openapi.yaml`` beside this file (served at ``/openapi.json``;
``tests/server/http/test_app_contract.py`` checks every route and status against it).

==========================================================  ====  ================================
route                                                        verb  answer
==========================================================  ====  ================================
``/api/v1/projects/{project}/reports``                       POST  201/200 ``{receipt, status}``
``/api/v1/projects/{project}/deletion-requests``             POST  202 signed confirmation
``/api/v1/projects/{project}/adoption``                      POST  202 ``{status}`` (counted or seen)
``/api/v1/projects/{project}/config``                        GET   200 signed remote config
``/api/v1/projects/{project}/feedback``                      POST  202 ``{status}`` (stored, or a retry)
``/api/v1/projects/{project}/feedback/replies``              GET   200 ``{replies}`` for reply handles
``/api/v1/receipts/{receipt}``                               GET   200 public status, no content
``/healthz`` ``/readyz`` ``/metrics`` ``/openapi.json``      GET
==========================================================  ====  ================================

Privacy: ``forget_client`` drops the peer address from the ASGI scope before routing, so no
handler, log line or stored row can hold it (design principle 4). ``run.py`` turns uvicorn's
access log off for the same reason.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from crashveil.server.governance.lifecycle.field_stops import project_stops
from crashveil.server.http import peer_tag
from crashveil.server.http.body import read_body
from crashveil.server.http.errors import Handler, handle_error, timed
from crashveil.server.http.forwarded import TrustedProxies
from crashveil.server.http.metrics import ADDRESS_ALLOWED_KEY, CONTENT_TYPE, Metrics, MetricsAccess
from crashveil.server.http.peer import CREDENTIAL_KEY, PeerCredential
from crashveil.server.http.readiness import Readiness, answer_body, default_checks
from crashveil.server.http.routes.reports import ReportRoute, accept_report
from crashveil.server.ingest.pipeline import Ingestor
from crashveil.server.ingest.rejections import check_project_id
from crashveil.server.keys.cert_expiry import CertificateExpiryCollector, expiry_details, served_certificates
from crashveil.wire.canonical import canonical_json
from crashveil.wire.protocol import API_PREFIX, MAX_CONFIG_SIGNATURES

if TYPE_CHECKING:
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.sentry.routes import SentryLimits
    from crashveil.server.settings import Settings
    from crashveil.server.storage.records import ProjectRecord
    from crashveil.server.storage.store import Storage

__all__ = ["create_app", "build_config", "load_openapi", "CONFIG_TTL"]

#: How long an SDK may use a config before it must fetch a new one.
CONFIG_TTL = timedelta(hours=24)
_RECEIPT_RE = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
_NO_STORE = {"Cache-Control": "no-store"}
#: Seconds a /readyz answer (a write probe) is reused: a load balancer polling every second
#: costs one short transaction per process every two seconds.
READY_CACHE_S = 2.0
#: Group commit: most reports one transaction stores, and how long the writer waits for more.
GROUP_COMMIT_MAX_BATCH = 256
GROUP_COMMIT_MAX_WAIT_S = 0.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@functools.lru_cache(maxsize=1)
def load_openapi() -> dict[str, Any]:
    """The API contract (``openapi.yaml``, package data) as a dict."""
    from importlib.resources import files

    import yaml

    text = files("crashveil.server.http").joinpath("openapi.yaml").read_text(encoding="utf-8")
    # libyaml when PyYAML has it: the pure-Python loader takes about half a second on this file.
    loader = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    contract: dict[str, Any] = yaml.load(text, Loader=loader)  # both loaders are the safe ones
    return contract


@functools.lru_cache(maxsize=1)
def openapi_json() -> bytes:
    """The contract as served; made on the first request, not at every process start."""
    return json.dumps(load_openapi()).encode()


def build_config(project: ProjectRecord, counts_only: list[str], *, now: datetime,
                 stopped_fields: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The remote config of ``project`` before signing (format: ``crashveil.sdk.remote.config``).

    The policy's own sampling is repeated (the SDK applies ``min(policy, remote)``, so this
    changes nothing); what the server adds is ``counts_only``, the groups in mass-failure
    mode for the client asking (project-wide, or its credential's own: ``credential_weight``),
    and ``stopped_fields``, the fields no app may collect now (``governance/lifecycle/field_stops.py``).
    ``version`` is the issue time in seconds, so a newer config always has a higher one.
    """
    policy = project.policy
    issued = int(now.timestamp())
    return {
        "project": project.id,
        "version": issued,
        "issued_at": issued,
        "expires_at": issued + int(CONFIG_TTL.total_seconds()),
        "sample_rate": policy.sampling.rate,
        "sample_rates": [{"release": o.release, "cohort": o.cohort, "rate": o.value}
                         for o in policy.sampling.overrides],
        "modules": {"environment": True, "breadcrumbs": True, "deep_stack": True},
        "counts_only": sorted(counts_only),
        "request_level": {},
        "stopped_fields": sorted(stopped_fields),
    }


#: Where the dashboard is mounted (``dashboard/routes.py``): the only paths that need the peer tag.
DASHBOARD_PREFIX = "/dashboard"


class ForgetClient:
    """Pure ASGI middleware: remove the peer address from the scope before anything sees it.

    The client is the peer, or behind ``proxies`` (``forwarded.TrustedProxies``, the one place
    the client's address is derived) whom they name; their scheme replaces the scope's. On
    dashboard paths it leaves only ``crashveil.server.http.peer_tag``'s keyed, in-memory tag of
    the client, for the log-in limit per address; on ``/metrics`` only whether ``metrics``
    (``MetricsAccess``) lets that address scrape. Nothing else reads them, so other routes
    (report ingest above all) do not pay the tag's HMAC (~20 us a request, measured on the
    bare route), nor, with no trusted proxy configured, any header parsing."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies | None = None,
                 metrics: MetricsAccess | None = None) -> None:
        self.app = app
        self.proxies = proxies or TrustedProxies()
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = dict(scope)
            path = scope.get("path", "")
            dashboard = path.startswith(DASHBOARD_PREFIX)
            scrape = self.metrics is not None and path == "/metrics"
            if self.proxies.networks or dashboard or scrape:
                client = self.proxies.client(scope)
                if scope["type"] == "http":
                    scope["scheme"] = client.scheme
                if dashboard:
                    scope[peer_tag.SCOPE_KEY] = peer_tag.tag_of(client.address)
                elif scrape and self.metrics is not None:
                    scope[ADDRESS_ALLOWED_KEY] = self.metrics.address_allowed(client.address)
            scope["client"] = None
        await self.app(scope, receive, send)


async def _erasure_answer_time(started: float, step_s: float) -> None:
    """Hold an erasure's answer until the next multiple of ``step_s`` since ``started``.

    Deleting an installation's reports takes longer than finding none (the delete, the
    install sketches' rebuild, a larger commit: ~15 ms more for three reports on SQLite), and
    the request proves nothing about who sends it, so the time of the answer would tell
    whether a pseudonym has reports. Erasures are rare (``revoke()``), so they all wait for
    the same step; only an erasure longer than one step falls in a later one.
    """
    if step_s <= 0:
        return
    import asyncio

    elapsed = time.monotonic() - started
    await asyncio.sleep(step_s * (int(elapsed // step_s) + 1) - elapsed)


def create_app(settings: Settings, storage: Storage, *, now: Callable[[], datetime] = _utc_now,
               clock: Callable[[], float] = time.monotonic, body_timeout_s: float | None = None,
               sentry_limits: SentryLimits | None = None, surface: str = "all", group_commit: bool = True,
               metrics: Metrics | None = None) -> Starlette:
    """The ingest API for ``storage`` under ``settings``; ``now``/``clock`` are injectable.

    Args:
        settings: the server's settings.
        storage: the open storage of the same server directory.
        now: wall clock (UTC, aware) for replay windows, receive times and config dates.
        clock: monotonic seconds for the rate limiters.
        body_timeout_s: a body that has not fully arrived after this long is answered 408
            (default: the ``body_timeout_s`` setting).
        sentry_limits: a ``crashveil.server.sentry.routes.SentryLimits`` (default: Sentry's own limits).
        surface: ``ingest`` (the native API, behind mutual TLS), ``web`` (dashboard, public
            summary, receipts, Sentry-compatible ingest: no client certificate needed; never
            the native report API) or ``all`` (both, for tests and single-listener setups).
        group_commit: store reports (native and Sentry) by group commit (one writer thread,
            many reports per transaction); off, each report is its own transaction, unless
            the caller sets ``app.state.ingestor.committer`` (``run.run_processes`` sets a
            ``WriterClient`` to its writer process).
        metrics: the app's :class:`Metrics`; by default a new one with a registry of its
            own. ``run.run_processes`` passes each front's multiprocess ``Metrics`` to both
            of its apps (values of one process live in one file, so they must be one set).
    """
    if surface not in ("all", "ingest", "web"):
        raise ValueError(f"surface must be 'all', 'ingest' or 'web', not {surface!r}")
    if body_timeout_s is None:
        body_timeout_s = settings.body_timeout_s
    owns_registry = metrics is None  # a web app sharing the ingest app's registry has the gauge already
    metrics = Metrics() if metrics is None else metrics
    ingestor = _build_ingestor(settings, storage, metrics, now=now, clock=clock, group_commit=group_commit)
    api = _NativeApi(settings, storage, ingestor, metrics, now=now, clock=clock, body_timeout_s=body_timeout_s)
    access = MetricsAccess.from_settings(settings) if surface == "web" else None
    routes: list[BaseRoute] = _api_routes(api, metrics, surface=surface, web_metrics=access)
    # the certificate gauge goes where /metrics is served, once per registry
    if surface != "web" or (access is not None and access.enabled and owns_registry):
        metrics.registry.register(CertificateExpiryCollector(api.certificates, now))
    if surface != "ingest":
        routes += _product_routes(settings, storage, ingestor=ingestor, metrics=metrics, now=now,
                                  body_timeout_s=body_timeout_s, sentry_limits=sentry_limits)
    # Forwarded headers are read on the listeners people and Sentry SDKs reach, never on the
    # mutual-TLS one (a proxy in front of it could not pass client certificates through).
    proxies = TrustedProxies.from_settings(settings) if surface != "ingest" else None
    app = _assemble(routes, metrics=metrics, ingestor=ingestor, proxies=proxies,
                    metrics_access=access if access is not None and access.enabled else None)
    if surface != "web":  # the report route answered without Starlette's layers (routes/reports.py)
        app.add_middleware(ReportRoute, ingestor=ingestor, settings=settings, metrics=metrics,
                           body_timeout_s=body_timeout_s)
    return app


def _build_ingestor(settings: Settings, storage: Storage, metrics: Metrics, *, now: Callable[[], datetime],
                    clock: Callable[[], float], group_commit: bool) -> Ingestor:
    """The ingestor, with the server directory's audit trail and (if asked) its group-commit writer."""
    from crashveil.server.governance.audit import AuditTrail

    ingestor = Ingestor(settings, storage, metrics, now=now, clock=clock)
    ingestor.audit = AuditTrail.for_server_dir(storage.engine, settings.server_dir, provider=storage.keys)
    if group_commit:
        # One writer thread stores whatever reports are queued in one transaction; each
        # answer waits for its batch's commit (ingest.GroupCommitter). Stopped by
        # ``app.state.ingestor.close()``; a daemon thread otherwise.
        ingestor.start_group_commit(max_batch=GROUP_COMMIT_MAX_BATCH, max_wait_s=GROUP_COMMIT_MAX_WAIT_S)
    return ingestor




class _NativeApi:
    """The handlers of the native API, health checks, metrics and the contract."""

    def __init__(self, settings: Settings, storage: Storage, ingestor: Ingestor, metrics: Metrics, *,
                 now: Callable[[], datetime], clock: Callable[[], float], body_timeout_s: float) -> None:
        self.settings = settings
        self.storage = storage
        self.ingestor = ingestor
        self.metrics = metrics
        self.now = now
        self.body_timeout_s = body_timeout_s
        assert ingestor.audit is not None, "_build_ingestor sets it"
        self.readiness = Readiness(default_checks(storage, ingestor.audit, now=now), clock, cache_s=READY_CACHE_S)
        self.certificates = served_certificates(settings)  # what this process serves: read once

    async def _read_body(self, request: Request) -> bytes:
        settings = self.settings
        return await read_body(request, max_body_bytes=settings.max_body_bytes,
                               max_decompressed_bytes=settings.max_decompressed_bytes, timeout_s=self.body_timeout_s)

    async def post_report(self, request: Request) -> Response:
        """Reached only without :class:`ReportRoute` in front (it answers this path itself)."""
        settings = self.settings
        receipt, created = await accept_report(self.ingestor, request, request.path_params["project"],
                                               max_body_bytes=settings.max_body_bytes,
                                               max_decompressed_bytes=settings.max_decompressed_bytes,
                                               timeout_s=self.body_timeout_s)
        return JSONResponse({"receipt": receipt, "status": "stored"}, status_code=201 if created else 200)

    async def post_deletion(self, request: Request) -> Response:
        project_id = request.path_params["project"]
        check_project_id(project_id)
        self.ingestor.check_project_rate(project_id)
        body = await self._read_body(request)
        started = time.monotonic()
        answer = await run_in_threadpool(self.ingestor.delete, project_id, body)
        await _erasure_answer_time(started, self.settings.erasure_answer_step_s)
        return JSONResponse(answer, status_code=202)

    async def post_adoption(self, request: Request) -> Response:
        """One adoption ping (``ingest/adoption.py``): the same 202 whether counted or already seen."""
        from crashveil.server.ingest.adoption import count_adoption

        project_id = request.path_params["project"]
        check_project_id(project_id)
        self.ingestor.check_project_rate(project_id)
        body = await self._read_body(request)
        answer = await run_in_threadpool(count_adoption, self.ingestor, project_id, body, now=self.now())
        return JSONResponse(answer, status_code=202)

    async def post_feedback(self, request: Request) -> Response:
        """One privacy feedback item (``server/feedback/intake.py``): the same 202 whether new or a retry."""
        from crashveil.server.feedback.intake import accept_feedback

        project_id = request.path_params["project"]
        check_project_id(project_id)
        self.ingestor.check_project_rate(project_id)
        body = await self._read_body(request)
        answer = await run_in_threadpool(accept_feedback, self.ingestor, project_id, body, now=self.now())
        return JSONResponse(answer, status_code=202)

    async def get_feedback_replies(self, request: Request) -> Response:
        """The privacy officer's replies to the feedback of the reply handles in the header."""
        from crashveil.server.feedback.intake import reply_answer
        from crashveil.wire.protocol import REPLY_HANDLES_HEADER

        project_id = request.path_params["project"]
        check_project_id(project_id)
        self.ingestor.check_project_rate(project_id)
        answer = await run_in_threadpool(reply_answer, self.ingestor, project_id,
                                         request.headers.get(REPLY_HANDLES_HEADER))
        return JSONResponse(answer, headers=_NO_STORE)

    def signed_config(self, project_id: str, credential: str | None) -> dict[str, str | list[str]]:
        """The signed config for the client presenting ``credential``: its ``counts_only``
        lists the groups counts-only project-wide and those in that credential's own mode, so
        it differs by credential and is never cached across requests."""
        project = self.ingestor.project(project_id)
        moment = self.now()
        fingerprints = self.storage.counts_only_fingerprints(project.id, now=moment, credential=credential)
        config = build_config(project, list(fingerprints), now=moment, stopped_fields=project_stops(project, moment))
        encoded = canonical_json(config)
        # Every signing key still in its overlap signs too (newest first): apps shipped with an
        # older connection string pin an older key (see sdk/remote/config.py).
        # ``signature`` is the newest key's (signing_keys[0]); Ed25519 is deterministic, so it is
        # the first of ``signatures`` and is not computed twice.
        signatures = [_b64url(key.sign(encoded)) for key in project.signing_keys[:MAX_CONFIG_SIGNATURES]]
        return {"config": _b64url(encoded), "signature": signatures[0], "signatures": signatures}

    async def get_config(self, request: Request) -> Response:
        project_id = request.path_params["project"]
        check_project_id(project_id)
        return JSONResponse(await run_in_threadpool(self.signed_config, project_id, request.scope.get(CREDENTIAL_KEY)),
                            headers=_NO_STORE)

    async def get_receipt(self, request: Request) -> Response:
        receipt = request.path_params["receipt"]
        found = _RECEIPT_RE.match(receipt)
        status = await run_in_threadpool(self.storage.receipt_status, receipt) if found else None
        if status is None:
            return JSONResponse({"error": "unknown_receipt", "field": None, "message": "no such receipt"},
                                status_code=404)
        hour = status.received_hour
        if isinstance(hour, datetime):
            hour = hour.astimezone(UTC).strftime("%Y-%m-%dT%H:00Z")
        return JSONResponse({"receipt": status.receipt, "status": status.status, "fixed_in": status.fixed_in,
                             "received_hour": hour}, headers=_NO_STORE)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        results = self.readiness.cached()
        if results is None:
            results = await run_in_threadpool(self.readiness.check)
        status, body = answer_body(results)
        certificates = expiry_details(self.certificates, self.now())
        body["certificates"] = certificates
        warnings = [{"name": f"certificate.{cert}", "detail": entry["warning"]}
                    for cert, entry in certificates.items() if "warning" in entry]
        if warnings and status == 200:
            body["warnings"] = [*body.get("warnings", []), *warnings]
        return JSONResponse(body, status_code=status, headers={"Retry-After": "5"} if status == 503 else None)

    async def get_metrics(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)

    def guarded_metrics(self, access: MetricsAccess) -> Handler:
        """``/metrics`` behind ``access``: 404 to an address off the allowlist (as if off), 401
        without the bearer token."""
        async def get_metrics(request: Request) -> Response:
            if not request.scope.get(ADDRESS_ALLOWED_KEY, False):
                return JSONResponse({"error": "not_found", "field": None, "message": "no such route"},
                                    status_code=404)
            if not access.token_allowed(request.headers.get("authorization")):
                return JSONResponse({"error": "unauthorized", "field": None, "message": "a bearer token is needed"},
                                    status_code=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
            return await self.get_metrics(request)

        return get_metrics

    async def openapi(self, request: Request) -> Response:
        return Response(openapi_json(), media_type="application/json")


def _api_routes(api: _NativeApi, metrics: Metrics, *, surface: str,
                web_metrics: MetricsAccess | None = None) -> list[BaseRoute]:
    """The native routes of ``surface``: ``web`` has not the project API, and ``/metrics`` only
    behind ``web_metrics`` when it is enabled (a token or an address allowlist)."""
    table: list[tuple[str, list[str], Handler]] = [
        (f"{API_PREFIX}/projects/{{project}}/reports", ["POST"], api.post_report),
        (f"{API_PREFIX}/projects/{{project}}/deletion-requests", ["POST"], api.post_deletion),
        (f"{API_PREFIX}/projects/{{project}}/adoption", ["POST"], api.post_adoption),
        (f"{API_PREFIX}/projects/{{project}}/config", ["GET"], api.get_config),
        (f"{API_PREFIX}/projects/{{project}}/feedback", ["POST"], api.post_feedback),
        (f"{API_PREFIX}/projects/{{project}}/feedback/replies", ["GET"], api.get_feedback_replies),
        (f"{API_PREFIX}/receipts/{{receipt}}", ["GET"], api.get_receipt),
        ("/healthz", ["GET"], api.healthz),
        ("/readyz", ["GET"], api.readyz),
        ("/metrics", ["GET"], api.get_metrics),
        ("/openapi.json", ["GET"], api.openapi),
    ]
    if surface == "web":
        table = [row for row in table if not row[0].startswith(f"{API_PREFIX}/projects/") and row[0] != "/metrics"]
        if web_metrics is not None and web_metrics.enabled:
            table.append(("/metrics", ["GET"], api.guarded_metrics(web_metrics)))
    return [Route(path, timed(path, handler, metrics), methods=methods) for path, methods, handler in table]


def _assemble(routes: list[BaseRoute], *, metrics: Metrics, ingestor: Ingestor, proxies: TrustedProxies | None,
              metrics_access: MetricsAccess | None) -> Starlette:
    """The Starlette app: one error map, state for the runner, the two privacy middlewares."""
    async def http_error(request: Request, exc: Exception) -> Response:
        return await handle_error(request, exc, None)

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.state.metrics = metrics
    app.state.ingestor = ingestor
    app.add_middleware(ForgetClient, proxies=proxies, metrics=metrics_access)
    app.add_middleware(PeerCredential)  # outermost: it reads the connection through uvicorn's receive
    return app


def _product_routes(settings: Settings, storage: Storage, *, ingestor: Ingestor, metrics: Metrics,
                    now: Callable[[], datetime], body_timeout_s: float,
                    sentry_limits: SentryLimits | None) -> list[BaseRoute]:
    """Routes beyond the native ingest API: dashboard, public summary, Sentry-compatible ingest."""
    from crashveil.server.dashboard import dashboard_routes
    from crashveil.server.dashboard.csrf import load_shared_secret
    from crashveil.server.dashboard.public import public_routes
    from crashveil.server.dashboard.unavailable import UntilKeysArrive
    from crashveil.server.governance.access import AccessStore
    from crashveil.server.insights.anomaly import VolumeAnomalyCollector
    from crashveil.server.sentry.routes import sentry_routes

    audit = ingestor.audit
    assert audit is not None, "_build_ingestor sets it"

    def dashboard() -> ASGIApp:
        # Shared by every host over the database (keys/shared_secrets.py): a form from one host
        # posts to another. Until this host can unwrap it, the dashboard answers 503.
        secret = load_shared_secret(storage.engine, storage.keys, settings.server_dir / "keys" / "dashboard.secret")
        # The typed names of failed log-ins are kept as HMACs under the dashboard secret, shared by
        # every process and host (login_guard.account_digest).
        access = AccessStore(storage.engine, audit, account_key=secret)
        mount = dashboard_routes(storage, access=access, audit=audit, secret=secret, secure_cookies=settings.tls,
                                 now=now)[0]
        assert isinstance(mount, Mount)
        return mount.app

    metrics.registry.register(VolumeAnomalyCollector(storage.engine))
    return [
        *sentry_routes(storage, settings, ingestor=ingestor, metrics=metrics, now=now, limits=sentry_limits,
                       body_timeout_s=body_timeout_s),
        *public_routes(storage, now=now),
        Mount("/dashboard", app=UntilKeysArrive(dashboard)),
        *_read_write_api(storage, audit, secure_cookies=settings.tls, now=now),
    ]


def _read_write_api(storage: Storage, audit: AuditTrail, *, secure_cookies: bool,
                    now: Callable[[], datetime]) -> list[BaseRoute]:
    """The token API under ``/api/v1/`` (``crashveil.server.api``), sharing the dashboard's changes.

    Bearer tokens need neither the shared dashboard secret nor the log-in guard's key: the
    API signs no cookie and no form, so its context gets a key of its own that never leaves
    this process (and the API serves while a host still waits for its KEK set)."""
    import secrets

    from crashveil.server.api.routes import api_routes
    from crashveil.server.dashboard.routes import build_context
    from crashveil.server.governance.access import AccessStore

    access = AccessStore(storage.engine, audit)
    dashboard = build_context(storage, access=access, audit=audit, secret=secrets.token_bytes(32),
                              secure_cookies=secure_cookies, now=now)
    return api_routes(storage, access=access, dashboard=dashboard, now=now)
