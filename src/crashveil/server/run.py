"""Serve the ingest API on uvicorn: TLS 1.2+ by default, client certificates when required.

``crashveil server run`` (``server/cli.py``) loads the settings and calls :func:`run_server`.

Choices, each for a reason:

- TLS on by default with ``ssl_cert_reqs=CERT_REQUIRED`` and the server directory's CA as the
  only trust anchor: the DSN ships inside apps, so the client certificate is what tells our
  clients from the rest of the internet. Minimum TLS 1.2 (TLS 1.3 is what our SDK negotiates).
- Access log off, proxy headers off: the server never stores or logs client addresses
  (design principle 4), and ``X-Forwarded-For`` from an untrusted peer is a lie anyway.
  Our own log lines (``crashveil.server``) carry route templates and error codes only.
- Two listeners in one process: ``port`` serves the native report API and requires client
  certificates; ``web_port`` serves people and Sentry SDKs (dashboard, public summary,
  receipts, Sentry-compatible ingest) with server-only TLS and never the native report API.
  A browser cannot be asked for a client certificate, and the native API must not be
  reachable without one. ``run_server`` owns SIGINT/SIGTERM and stops both gracefully.
- One process, uvloop and httptools (``uvicorn[standard]``); more throughput means more
  processes over one database (PostgreSQL), each with its own in-memory rate limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import signal
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from crashveil.errors import ConfigError

__all__ = ["LOG_CONFIG", "run_server", "uvicorn_config"]

#: uvicorn's logging without its access logger (which prints the client address), plus ours.
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"default": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(name)s %(message)s",
                               "use_colors": False}},
    "handlers": {"default": {"formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "loggers": {
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        "crashveil": {"handlers": ["default"], "level": "INFO", "propagate": False},
    },
}

#: Seconds an idle keep-alive connection stays open; SDKs send one request per connection.
KEEP_ALIVE_S = 5
#: Largest request head (request line and headers) h11 accepts; ours are a few hundred bytes.
MAX_HEAD_BYTES = 16 * 1024


def _tls_context_factory(config: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's context (cert, key, CA, verify mode), hardened: TLS 1.2 minimum, no renegotiation."""
    context = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    return context


def uvicorn_config(settings: Any, app: Any, *, web: bool = False) -> uvicorn.Config:
    """The uvicorn configuration for ``settings`` serving ``app`` (loaded, so ``.ssl`` is built).

    With ``web`` it is the web listener: ``web_port``, and no client certificate asked.

    Raises:
        ConfigError: TLS is on and a certificate, key or CA file is missing.
    """
    kwargs: dict[str, Any] = dict(
        host=settings.host, port=settings.web_port if web else settings.port, access_log=False, proxy_headers=False, server_header=False,
        log_config=copy.deepcopy(LOG_CONFIG), lifespan="off", timeout_keep_alive=KEEP_ALIVE_S,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
    )
    if settings.tls:
        for name in ("server_cert_path", "server_key_path", "ca_cert_path"):
            if not getattr(settings, name).is_file():
                raise ConfigError(name, f"{getattr(settings, name)} does not exist",
                                  "a server directory made by 'crashveil server init DIR'")
        kwargs.update(
            ssl_certfile=str(settings.server_cert_path), ssl_keyfile=str(settings.server_key_path),
            ssl_ca_certs=str(settings.ca_cert_path),
            ssl_cert_reqs=ssl.CERT_REQUIRED if settings.require_client_cert and not web else ssl.CERT_NONE,
            ssl_context_factory=_tls_context_factory,
        )
    config = uvicorn.Config(app, **kwargs)
    config.load()
    return config


class _SharedSignalServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``run_server`` (which stops all servers)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def run_server(settings: Any) -> None:
    """Open storage, build the apps and serve both listeners until SIGINT/SIGTERM (blocks)."""
    from crashveil.server.app import create_app
    from crashveil.server.storage import Storage

    storage = Storage.open(settings)
    try:
        surface = "ingest" if settings.web_port else "all"
        servers = [_SharedSignalServer(uvicorn_config(settings, create_app(settings, storage, surface=surface)))]
        if settings.web_port:
            web_app = create_app(settings, storage, surface="web")
            servers.append(_SharedSignalServer(uvicorn_config(settings, web_app, web=True)))
        asyncio.run(_serve_all(servers, storage, settings))
    finally:
        storage.close()


async def _serve_all(servers: list[uvicorn.Server], storage: Any, settings: Any) -> None:
    from crashveil.server.audit import AuditTrail
    from crashveil.server.retention import RetentionScheduler

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, _stop_all, servers, sig)
    # Retention runs inside the server too (hourly), so expired data goes even when nobody
    # schedules `crashveil retention run`.
    retention = RetentionScheduler(storage, AuditTrail.for_server_dir(storage.engine, settings.server_dir))
    retention.start()
    try:
        await asyncio.gather(*(server.serve() for server in servers))
    finally:
        await retention.stop()


def _stop_all(servers: list[uvicorn.Server], sig: int) -> None:
    for server in servers:
        server.handle_exit(sig, None)
