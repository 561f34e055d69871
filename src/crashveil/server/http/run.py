"""Serve the ingest API on uvicorn: TLS 1.2+ by default, client certificates when required.

``crashveil server run`` (``server/cli/server.py``) loads the settings and calls :func:`run_server`.

Choices, each for a reason:

- TLS on by default with ``ssl_cert_reqs=CERT_REQUIRED`` and the server directory's CA as the
  only trust anchor: the DSN ships inside apps, so the client certificate is what tells our
  clients from the rest of the internet. Minimum TLS 1.2 (TLS 1.3 is what our SDK negotiates).
- Access log off, uvicorn's proxy headers off: the server never stores or logs client
  addresses (design principle 4), and ``X-Forwarded-For`` from an untrusted peer is a lie
  anyway. Forwarded headers from the ``trusted_proxies`` are read by ``forwarded.py`` (web
  listener only). Logging is ``crashveil.server.logs`` (text or JSON lines, each once); our
  own log lines (``crashveil.server``) carry route templates and error codes only.
- Two listeners in one process: ``port`` serves the native report API and requires client
  certificates; ``web_port`` serves people and Sentry SDKs (dashboard, public summary,
  receipts, Sentry-compatible ingest) with server-only TLS and never the native report API.
  A browser cannot be asked for a client certificate, and the native API must not be
  reachable without one. ``run_server`` owns SIGINT/SIGTERM and stops both gracefully.
- uvloop and httptools (``uvicorn[standard]``). One process by default. With ``workers``
  above 1 (the setting, or ``crashveil server run --workers N``; :func:`run_processes`), N
  *front* processes serve HTTP and prepare reports (open, validate, redact, encrypt: the
  CPU work, which one Python process cannot spread over cores) and one *writer* process
  stores them: each commit carries what every front has ready, and the write lock is held
  for SQL and fsync only. Fronts listen on the same ports with ``SO_REUSEPORT`` (the
  kernel spreads connections); each talks to the writer over its end of an inherited
  socketpair. Rate limits are in-memory per front, so each front applies 1/N of the
  project and installation budgets (and, with several hosts, 1 / live hosts of that:
  ``ratelimit.HOST_SHARE``). Children die with the parent (``PR_SET_PDEATHSIG``);
  if any child dies, the server stops (the service manager restarts it). Retention runs in
  the first front, under the database lease that lets one host of the server run it per hour.
- One ``run`` per directory and port: before anything binds, ``run_server`` takes the lock
  file of each port in the server directory (``cluster/instance_lock.py``); a second ``run``
  stops with the PID that serves it (fronts share ports with ``SO_REUSEPORT``, so a second
  server's fronts would bind without an error and the kernel split connections between the
  two). It also checks that the directory and the database belong to the same server and
  registers the host (``cluster/membership.py``).
- Metrics with several fronts: a scrape of ``/metrics`` reaches one front, so each front
  keeps its values in files (prometheus_client's multiprocess mode) in a fresh private
  directory (``tempfile.mkdtemp``: empty, mode 0700) that the parent makes at start and
  removes at exit, and answers the totals of all fronts (``metrics.py``). The fronts get
  ``PROMETHEUS_MULTIPROC_DIR`` in the environment they are spawned with, so it is set
  before they import prometheus_client (which picks its value class at import). The
  writer records no metrics. No gauge needs ``mark_process_dead``: there are none, and a
  dead front stops the whole server, directory included.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import os
import shutil
import signal
import socket
import ssl
import tempfile
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn

from crashveil.errors import ConfigError, CrashveilError
from crashveil.server.http.connections import (
    ConnectionLimits,
    ListenerGuard,
    RevokedSerials,
    TimedH11Protocol,
    TimedHttpToolsProtocol,
)
from crashveil.server.http.forwarded import TrustedProxies
from crashveil.server.logs import log_config
from crashveil.server.settings import PRIVATE_UMASK, Settings

if TYPE_CHECKING:
    from multiprocessing.context import SpawnContext

    from starlette.routing import BaseRoute
    from starlette.types import ASGIApp

    from crashveil.server.storage.store import Storage

__all__ = ["LOG_CONFIG", "run_processes", "run_server", "uvicorn_config"]

#: The text logging of a server process (``crashveil.server.logs``; ``log_format`` picks JSON).
LOG_CONFIG: dict[str, Any] = log_config("text")

#: Largest request head (request line and headers) h11 accepts; ours are a few hundred bytes.
MAX_HEAD_BYTES = 16 * 1024


def _tls_context_factory(config: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's context (cert, key, CA, verify mode), hardened: TLS 1.2 minimum, no renegotiation."""
    context = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    return context


def uvicorn_config(settings: Settings, app: ASGIApp, *, web: bool = False, revoked: RevokedSerials | None = None,
                   listeners: int | None = None) -> uvicorn.Config:
    """The uvicorn configuration for ``settings`` serving ``app`` (loaded).

    With ``web`` it is the web listener: ``web_port``, and no client certificate asked.
    Its ``http_protocol_class`` is a :class:`~crashveil.server.http.connections.ListenerGuard`
    that admits connections, does the TLS handshake (its ``tls`` context; ``config.ssl``
    stays None so that uvicorn does not wrap twice), refuses ``revoked`` client
    certificates (mutual-TLS listener only) and bounds heads and bodies in time.
    ``listeners`` (default: 2 if ``web_port`` else 1) share the descriptor budget.

    Raises:
        ConfigError: TLS is on and a certificate, key or CA file is missing.
    """
    kwargs: dict[str, Any] = dict(
        host=(settings.web_host or settings.host) if web else settings.host,
        port=settings.web_port if web else settings.port, access_log=False, proxy_headers=False,
        server_header=False,
        log_config=log_config(settings.log_format), lifespan="off", timeout_keep_alive=settings.keep_alive_s,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
    )
    mutual = settings.tls and settings.require_client_cert and not web
    if settings.tls:
        for name in ("server_cert_path", "server_key_path", "ca_cert_path"):
            if not getattr(settings, name).is_file():
                raise ConfigError(name, f"{getattr(settings, name)} does not exist",
                                  "a server directory made by 'crashveil server init DIR'")
        kwargs.update(
            ssl_certfile=str(settings.server_cert_path), ssl_keyfile=str(settings.server_key_path),
            ssl_ca_certs=str(settings.ca_cert_path),
            ssl_cert_reqs=ssl.CERT_REQUIRED if mutual else ssl.CERT_NONE,
            ssl_context_factory=_tls_context_factory,
        )
    config = uvicorn.Config(app, **kwargs)
    config.load()
    count = listeners if listeners is not None else (2 if settings.web_port else 1)
    tls, config.ssl = config.ssl, None
    # uvicorn types it as a Protocol class; it only calls it, so a factory serves (ListenerGuard.__call__)
    config.http_protocol_class = ListenerGuard(  # type: ignore[assignment]
        ConnectionLimits.from_settings(settings, listeners=count), tls, revoked if mutual else None,
        TimedHttpToolsProtocol if _has_httptools() else TimedH11Protocol,
        TrustedProxies.from_settings(settings) if web else None)
    return config


def _has_httptools() -> bool:
    import importlib.util

    return importlib.util.find_spec("httptools") is not None


class _SharedSignalServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``run_server`` (which stops all servers)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def _log_started_message(self, listeners: Sequence[socket.SocketType]) -> None:
        """uvicorn's line, with the scheme of the guard's TLS (``config.ssl`` is None on purpose)."""
        import logging

        guard = self.config.http_protocol_class
        scheme = "https" if isinstance(guard, ListenerGuard) and guard.tls is not None else "http"
        for sock in listeners:
            host, port = sock.getsockname()[:2]
            logging.getLogger("uvicorn.error").info("Uvicorn running on %s://%s:%d (Press CTRL+C to quit)",
                                                    scheme, host, port)


def run_server(settings: Settings, *, workers: int | None = None) -> None:
    """Open storage, build the apps and serve both listeners until SIGINT/SIGTERM (blocks).

    ``workers`` (default: ``settings.workers``) above 1 serves with that many front
    processes and a writer process (:func:`run_processes`); :class:`CrashveilError` if one
    of them died on its own.
    """
    count = settings.workers if workers is None else workers
    if count < 1:
        raise ConfigError("workers", f"{count} is out of range", "an integer >= 1")
    # The database, its WAL and shared memory, the audit head, the dashboard secret, keys
    # made at run time: for the server's user only (its worker processes inherit the umask).
    from crashveil.server.cluster.instance_lock import instance_lock

    old_umask = os.umask(PRIVATE_UMASK)
    try:
        with instance_lock(settings.server_dir, [settings.port, *([settings.web_port] if settings.web_port else [])]):
            _join(settings)
            _run_server(settings, count)
    finally:
        os.umask(old_umask)


def _join(settings: Settings) -> None:
    """The directory and the database belong to the same server; this host is registered."""
    from crashveil.server.cluster.membership import join
    from crashveil.server.storage.store import Storage

    storage = Storage.open(settings)
    try:
        join(storage, settings)
    finally:
        storage.close()


def _run_server(settings: Settings, count: int) -> None:
    from crashveil.server.http.app import create_app
    from crashveil.server.storage.store import Storage

    if count > 1:
        if run_processes(settings, count):
            raise CrashveilError("a server process exited on its own; the others were stopped")
        return
    storage = Storage.open(settings)
    try:
        surface = "ingest" if settings.web_port else "all"
        revoked = RevokedSerials(storage.engine, refresh_s=settings.revocation_refresh_s)
        apps = [create_app(settings, storage, surface=surface)]
        servers = [_SharedSignalServer(uvicorn_config(settings, apps[0], revoked=revoked))]
        if settings.web_port:
            apps.append(create_app(settings, storage, surface="web"))
            servers.append(_SharedSignalServer(uvicorn_config(settings, apps[1], web=True)))
        hooks = [app.state.ingestor.run_stop_hooks for app in apps]
        _run_loop(servers[0].config, _serve_all(servers, storage, settings, revoked=revoked, stop_hooks=hooks))
    finally:
        storage.close()


def _run_loop(config: uvicorn.Config, main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on the event loop uvicorn is configured for (uvloop when installed)."""
    from uvicorn._compat import asyncio_run

    asyncio_run(main, loop_factory=config.get_loop_factory())


async def _serve_all(servers: Sequence[uvicorn.Server], storage: Storage, settings: Settings, *,
                     sockets: Sequence[socket.socket | None] = (), host_wide: bool = True,
                     revoked: RevokedSerials | None = None, stop_hooks: Sequence[Callable[[], None]] = ()) -> None:
    from crashveil.server.cluster.membership import HostJobs

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, _stop_all, servers, sig)
    # Retention runs inside the server too (hourly, one host at a time under its lease), so
    # expired data goes even when nobody schedules `crashveil retention run`.
    jobs = HostJobs(storage, settings, host_wide=host_wide)
    jobs.start()
    refresher = asyncio.get_running_loop().create_task(revoked.run()) if revoked is not None else None
    from crashveil.server.keys.hosts import KekHeartbeat

    # Which KEKs this process holds, for 'keys rotate' on any host (keys/hosts.py).
    heartbeat = KekHeartbeat(storage.engine, storage.keys.provider, host=settings.this_host,
                             interval_s=settings.kek_heartbeat_s)
    await asyncio.to_thread(heartbeat.start)
    try:
        await asyncio.gather(*(server.serve(sockets=[sock] if sock is not None else None)
                               for server, sock in zip(servers, list(sockets) + [None] * len(servers), strict=False)))
    finally:
        if refresher is not None:
            refresher.cancel()
        await jobs.stop()
        for hook in stop_hooks:  # counters kept in memory (Sentry outcomes) reach the database
            hook()
        heartbeat.stop()


# --- several processes ----------------------------------------------------------------------------


def _make_shared_secrets(settings: Settings, storage: Storage) -> None:
    """The audit key and dashboard secret, made (or read) before the processes fork. A host
    whose KEK set lacks their KEK still starts: its pages and ``/readyz`` say so (503)."""
    from crashveil.errors import KeyUnavailableError
    from crashveil.server.dashboard.csrf import load_shared_secret
    from crashveil.server.governance.audit import AuditTrail

    try:
        _ = AuditTrail.for_server_dir(storage.engine, settings.server_dir, provider=storage.keys).public_key
        if settings.web_port:
            load_shared_secret(storage.engine, storage.keys, settings.server_dir / "keys" / "dashboard.secret")
    except KeyUnavailableError:
        pass  # noted in storage.keys.faults and logged there


def run_processes(settings: Settings, fronts: int, *,
                  extra_routes: Callable[[], list[BaseRoute]] | None = None) -> int:
    """Serve with ``fronts`` front processes and one writer process until SIGINT/SIGTERM.

    Returns 0 after a requested stop, 1 if a child died on its own (all are stopped then).
    ``extra_routes`` (a module-level function, it is pickled by name) adds routes to the
    first app of every front (the benchmarks' bare route). With more than one front, metrics
    are kept in a temporary directory removed on return (see the module docstring).
    """
    import multiprocessing

    from crashveil.server.storage.store import Storage

    if fronts < 1:
        raise ValueError("fronts must be at least 1")
    storage = Storage.open(settings)  # refuse unsafe durability or an unknown schema before forking
    try:
        _make_shared_secrets(settings, storage)  # made once, not raced
    finally:
        storage.close()
    context = multiprocessing.get_context("spawn")
    metrics_dir = Path(tempfile.mkdtemp(prefix="crashveil-metrics-")) if fronts > 1 else None
    try:
        return _run_children(context, settings, fronts, metrics_dir, extra_routes)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_children(context: SpawnContext, settings: Settings, fronts: int, metrics_dir: Path | None,
                  extra_routes: Callable[[], list[BaseRoute]] | None) -> int:
    """Start the writer and the fronts, wait for a stop or a death, stop and join them all."""
    import multiprocessing.connection

    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(fronts)]
    parent = os.getpid()
    writer = context.Process(target=_writer_main, args=(settings, [a for a, _ in pairs], parent),
                             name="crashveil-writer", daemon=False)
    front_procs = [context.Process(target=_front_main,
                                   args=(settings, index, fronts, b, parent, extra_routes, metrics_dir),
                                   name=f"crashveil-front-{index}", daemon=False)
                   for index, (_, b) in enumerate(pairs)]
    writer.start()
    with _environment(_MULTIPROC_ENV, str(metrics_dir) if metrics_dir is not None else None):
        for proc in front_procs:
            proc.start()
    for a, b in pairs:
        a.close()
        b.close()
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for proc in front_procs:
            if proc.is_alive() and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        children = [writer, *front_procs]
        while not stopping and all(proc.is_alive() for proc in children):
            multiprocessing.connection.wait([proc.sentinel for proc in children])
        if not stopping:
            code = 1
            stop(signal.SIGTERM, None)
    finally:
        for proc in front_procs:
            proc.join(60)
            if proc.is_alive():
                proc.kill()
                proc.join()
        writer.join(60)  # it stores what the fronts sent, then sees their sockets close
        if writer.is_alive():
            writer.kill()
            writer.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def share_limits(settings: Settings, fronts: int) -> Settings:
    """``settings`` with the in-memory rate limits divided among ``fronts`` processes."""
    if fronts <= 1:
        return settings
    return dataclasses.replace(
        settings, project_rate_per_s=settings.project_rate_per_s / fronts,
        project_burst=max(1, math.ceil(settings.project_burst / fronts)),
        pseudonym_rate_per_hour=max(1, math.ceil(settings.pseudonym_rate_per_hour / fronts)))


#: prometheus_client's switch to multiprocess mode (``metrics.MULTIPROC_ENV``; not imported
#: from there so that the parent need not import prometheus_client).
_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextlib.contextmanager
def _environment(name: str, value: str | None) -> Iterator[None]:
    """``os.environ[name] = value`` for processes spawned inside (nothing if ``value`` is None)."""
    if value is None:
        yield
        return
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (a no-op elsewhere)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _writer_main(settings: Settings, sockets: list[socket.socket], parent: int) -> None:
    """The writer process: store what the fronts send (``ingest.serve_writer``)."""
    _die_with_parent(parent)
    # The parent stops the fronts; this process ends when their sockets close, after storing
    # what they sent. A terminal's Ctrl-C reaches the whole group: it must not cut a batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import logging.config

    from crashveil.server.ingest.writer import serve_writer
    from crashveil.server.storage.store import Storage

    logging.config.dictConfig(log_config(settings.log_format))
    storage = Storage.open(settings, processes=len(sockets) + 1)
    try:
        serve_writer(storage.store_rows, sockets)
    finally:
        storage.close()


def _front_main(settings: Settings, index: int, fronts: int, writer_socket: socket.socket, parent: int,
                extra_routes: Callable[[], list[BaseRoute]] | None, metrics_dir: Path | None = None) -> None:
    """A front process: the apps on ``SO_REUSEPORT`` sockets, storing through the writer.

    With ``metrics_dir`` both apps share one multiprocess :class:`~crashveil.server.http.metrics.Metrics`.
    """
    _die_with_parent(parent)
    from crashveil.server.http.app import create_app
    from crashveil.server.http.metrics import Metrics
    from crashveil.server.ingest.writer import WriterClient
    from crashveil.server.storage.store import Storage

    settings = share_limits(settings, fronts)
    metrics = Metrics(multiprocess_dir=metrics_dir) if metrics_dir is not None else None
    storage = Storage.open(settings, processes=fronts + 1)
    client = WriterClient()
    try:
        surface = "ingest" if settings.web_port else "all"
        app = create_app(settings, storage, surface=surface, group_commit=False, metrics=metrics)
        if extra_routes is not None:
            app.router.routes.extend(extra_routes())
        apps = [(app, False)]
        if settings.web_port:
            apps.append((create_app(settings, storage, surface="web", group_commit=False, metrics=metrics), True))
        servers, sockets = [], []
        revoked = RevokedSerials(storage.engine, refresh_s=settings.revocation_refresh_s)
        for each, web in apps:
            each.state.ingestor.committer = client
            config = uvicorn_config(settings, each, web=web, revoked=revoked)
            servers.append(_SharedSignalServer(config))
            sockets.append(_reuse_port_socket(config.host, config.port))

        async def main() -> None:
            await client.connect(writer_socket)
            try:
                await _serve_all(servers, storage, settings, sockets=sockets, host_wide=index == 0, revoked=revoked,
                                 stop_hooks=[each.state.ingestor.run_stop_hooks for each, _ in apps])
            finally:
                client.close()

        _run_loop(servers[0].config, main())
    finally:
        storage.close()


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` that other fronts bind too (``SO_REUSEPORT``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def _stop_all(servers: Sequence[uvicorn.Server], sig: int) -> None:
    for server in servers:
        server.handle_exit(sig, None)
