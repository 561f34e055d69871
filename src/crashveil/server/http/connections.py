"""Connection admission, timeouts and client-certificate revocation for both listeners.

uvicorn bounds an idle keep-alive connection but not a request head that never ends, nor a
TLS handshake (asyncio's default is 60 s), nor the connections one address may hold: a few
hundred sockets sending a header byte every few seconds would hold every descriptor of the
process and both listeners would refuse everyone. So each listener's protocol factory is
:class:`GuardedProtocol`, which:

1. admits a connection at accept time, before any TLS work, only while the listener holds
   fewer than ``max_connections`` and its address fewer than ``max_connections_per_client``
   (counted in memory, never logged or stored: design principle 4); others are reset;
2. runs the TLS handshake itself (``loop.start_tls``) under ``tls_handshake_timeout_s``;
3. on the mutual-TLS listener, refuses (closes) a client certificate whose serial is
   revoked (:class:`RevokedSerials`, refreshed from the database every few seconds);
4. hands the connection to uvicorn's HTTP protocol, subclassed (:class:`TimedHttpToolsProtocol`,
   :class:`TimedH11Protocol`) to answer 408 and close when a request head has not arrived
   ``head_timeout_s`` after the connection or after the previous response, to close when a
   body is still arriving ``body_timeout_s`` (+1 s; the ingest routes answer 408 at
   ``body_timeout_s``) after its head; after a response that left the request body unread,
   the rest of the body must arrive before the next head's deadline (a client trickling the
   rest of a refused body cannot hold the socket).
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import math
import resource
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from crashveil.server.http.forwarded import TrustedProxies
    from crashveil.server.settings import Settings

__all__ = ["ConnectionLimits", "Admission", "RevokedSerials", "ListenerGuard", "GuardedProtocol",
           "TimedHttpToolsProtocol", "TimedH11Protocol", "auto_max_connections"]

#: Descriptors kept out of the connection budget: database files, logs, the writer socket.
RESERVED_FDS = 64
#: The protocol-level body deadline trails the app's (which answers 408) by this much.
BODY_GRACE_S = 1.0
_HEAD_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                          b"content-length: 34\r\nconnection: close\r\n\r\nthe request head did not arrive \r\n")


def auto_max_connections(listeners: int = 2) -> int:
    """Connections per listener that fit the soft descriptor limit (never raised)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 65536
    return max(16, (soft - RESERVED_FDS) // max(1, listeners))


@dataclass(frozen=True)
class ConnectionLimits:
    """The settings this module applies, per listener of one process."""

    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_s: float = 5.0
    tls_handshake_timeout_s: float = 10.0
    max_connections: int = 1000
    max_connections_per_client: int = 64

    @classmethod
    def from_settings(cls, settings: Settings, *, listeners: int = 2) -> ConnectionLimits:
        return cls(head_timeout_s=settings.head_timeout_s, body_timeout_s=settings.body_timeout_s,
                   keep_alive_s=settings.keep_alive_s, tls_handshake_timeout_s=settings.tls_handshake_timeout_s,
                   max_connections=settings.max_connections or auto_max_connections(listeners),
                   max_connections_per_client=settings.max_connections_per_client)


@dataclass
class Admission:
    """Open connections of one listener, in total and per client address (memory only)."""

    max_total: int
    max_per_client: int
    total: int = 0
    by_address: dict[str, int] = field(default_factory=dict)
    # Peers held to max_total only: trusted reverse proxies (``forwarded.TrustedProxies.trusts``),
    # whose connections carry every client behind them.
    exempt: Callable[[str], bool] | None = None

    def admit(self, address: str) -> bool:
        held = self.by_address.get(address, 0)
        per_client = held >= self.max_per_client and not (self.exempt is not None and self.exempt(address))
        if self.total >= self.max_total or per_client:
            return False
        self.total += 1
        self.by_address[address] = held + 1
        return True

    def release(self, address: str) -> None:
        self.total -= 1
        left = self.by_address.get(address, 1) - 1
        if left > 0:
            self.by_address[address] = left
        else:
            self.by_address.pop(address, None)


class RevokedSerials:
    """Serials of revoked client certificates (integers; ``getpeercert()`` gives hex).

    Loaded from the database at start and refreshed every ``refresh_s`` by :meth:`run` (in a
    thread, so the loop never waits on the database); each process refreshes its own copy,
    so a revocation takes effect in every front within ``refresh_s`` without a restart.
    """

    def __init__(self, engine: Engine, *, refresh_s: float = 2.0) -> None:
        self.engine = engine
        self.refresh_s = refresh_s
        self.serials: frozenset[int] = frozenset()
        self.refresh()

    def refresh(self) -> None:
        from crashveil.server.keys.client_certs import revoked_serials

        self.serials = frozenset(revoked_serials(self.engine))

    def __contains__(self, serial: str) -> bool:
        try:
            return int(serial, 16) in self.serials
        except ValueError:
            return True  # not a serial we can read: refuse

    async def run(self) -> None:
        """Refresh forever (cancel to stop); a failed read keeps the last list and retries."""
        import logging

        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:  # noqa: BLE001 - the database may be briefly unavailable; keep the last list
                logging.getLogger("crashveil.server").warning("revocation list refresh failed; keeping the last one")


@dataclass
class ListenerGuard:
    """What :class:`GuardedProtocol` applies on one listener."""

    limits: ConnectionLimits
    tls: ssl.SSLContext | None
    revoked: RevokedSerials | None = None
    http_class: type[TimedHttpToolsProtocol] | type[TimedH11Protocol] | None = None
    proxies: TrustedProxies | None = None
    admission: Admission = field(init=False)

    def __post_init__(self) -> None:
        self.admission = Admission(self.limits.max_connections, self.limits.max_connections_per_client,
                                   exempt=self.proxies.trusts if self.proxies is not None else None)
        if self.http_class is None:
            self.http_class = TimedHttpToolsProtocol

    def __call__(self, *, config: Config, server_state: ServerState, app_state: dict[str, object],
                 _loop: asyncio.AbstractEventLoop | None = None) -> GuardedProtocol:
        """uvicorn's protocol factory (this guard is the config's ``http_protocol_class``)."""
        return GuardedProtocol(self, config=config, server_state=server_state, app_state=app_state, _loop=_loop)


class GuardedProtocol(asyncio.Protocol):
    """Admits a connection, does its TLS handshake, then hands it to the HTTP protocol."""

    def __init__(self, guard: ListenerGuard, *, config: Config, server_state: ServerState,
                 app_state: dict[str, object], _loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._guard = guard
        self._loop = _loop or asyncio.get_event_loop()
        assert guard.http_class is not None
        self._inner = guard.http_class(config=config, server_state=server_state, app_state=app_state, _loop=_loop)
        self._inner.guard_limits = guard.limits
        self._address: str | None = None
        self._pending: list[bytes] = []
        self._handed = False
        self._lost = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # (uvloop's transports are not asyncio.Transport subclasses: no isinstance check here)
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not self._guard.admission.admit(address):
            transport.abort()
            return
        self._address = address
        self._inner.guard_release = self._release
        if self._guard.tls is None:
            self._handed = True
            transport.set_protocol(self._inner)
            self._inner.connection_made(transport)
            return
        # The TLS layer goes in before this callback returns: uvloop may already have read the
        # ClientHello, and ``loop.start_tls`` (a coroutine) would begin a loop turn too late to
        # see it. asyncio's SSLProtocol is a BufferedProtocol that runs on any loop's transport.
        waiter = self._loop.create_future()
        tls = asyncio.sslproto.SSLProtocol(
            self._loop, self, self._guard.tls, waiter, server_side=True, call_connection_made=False,
            # typeshed says int; asyncio takes the seconds as a float
            ssl_handshake_timeout=self._guard.limits.tls_handshake_timeout_s)  # type: ignore[arg-type]
        transport.set_protocol(tls)
        tls.connection_made(transport)
        waiter.add_done_callback(lambda done: self._handshake_done(done, transport, tls))

    def _release(self) -> None:
        if self._address is not None:
            self._guard.admission.release(self._address)
            self._address = None

    def _handshake_done(self, waiter: asyncio.Future[None], transport: asyncio.Transport,
                        tls: asyncio.sslproto.SSLProtocol) -> None:
        if waiter.cancelled() or waiter.exception() is not None or self._lost:
            transport.abort()
            self._release()
            return
        # what loop.start_tls returns; typeshed leaves out this private method of SSLProtocol
        tls_transport = tls._get_app_transport()  # type: ignore[attr-defined]
        if self._guard.revoked is not None and self._is_revoked(tls_transport):
            tls_transport.abort()
            self._release()
            return
        self._handed = True
        self._inner.connection_made(tls_transport)
        tls_transport.set_protocol(self._inner)
        pending, self._pending = self._pending, []
        for data in pending:
            self._inner.data_received(data)

    def _is_revoked(self, tls_transport: asyncio.Transport) -> bool:
        assert self._guard.revoked is not None
        ssl_object = tls_transport.get_extra_info("ssl_object")
        cert = ssl_object.getpeercert() if ssl_object is not None else None
        serial = cert.get("serialNumber") if isinstance(cert, dict) else None
        return not isinstance(serial, str) or serial in self._guard.revoked

    # Events between the end of the handshake and the hand-over (same loop turn) are kept.
    def data_received(self, data: bytes) -> None:
        if self._handed:
            self._inner.data_received(data)
        else:
            self._pending.append(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._handed else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._handed:
            self._inner.connection_lost(exc)
        else:
            self._lost = True


class _Timeouts:
    """Head and body deadlines for uvicorn's HTTP protocols (mixed in before them)."""

    guard_limits: ConnectionLimits = ConnectionLimits()
    guard_release: Callable[[], None] | None = None
    _deadline: asyncio.TimerHandle | None = None
    _seen_cycle: object = None
    _waiting_body = False

    # uvicorn's attributes, for the type checker
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any  # httptools' or h11's RequestResponseCycle (two unrelated classes); read with getattr

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self._disarm()
        if math.isfinite(seconds):
            self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        self._waiting_body = False
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.write(_HEAD_TIMEOUT_RESPONSE)
            self.transport.close()

    def _body_expired(self) -> None:
        self._deadline = None
        if getattr(self.cycle, "more_body", False) and not self.transport.is_closing():
            self.transport.close()

    def _note_progress(self) -> None:
        """A new request cycle means its head arrived: the body deadline replaces the head's."""
        cycle = self.cycle
        if cycle is not None and cycle is not self._seen_cycle:
            self._seen_cycle = cycle
            self._disarm()
            if getattr(cycle, "more_body", False):
                self._arm(self.guard_limits.body_timeout_s + BODY_GRACE_S, self._body_expired)
                self._waiting_body = True
        elif self._waiting_body and not getattr(cycle, "more_body", True):
            self._disarm()

    def _guard_connection_made(self) -> None:
        self._arm(self.guard_limits.head_timeout_s, self._head_expired)

    def _guard_response_complete(self, done: object) -> None:
        if self.transport.is_closing():
            return
        # A response that left the request body unread keeps the connection: uvicorn's parser
        # discards the rest of the body (by its length), and closing at once would reset the
        # socket under the client's unread answer (it would see EOF, not the 4xx). A client
        # trickling the rest is closed by the head deadline armed here, as an idle one is.
        if self.cycle is done:
            self._arm(self.guard_limits.keep_alive_s + self.guard_limits.head_timeout_s, self._head_expired)
        else:
            self._note_progress()

    def _guard_connection_lost(self) -> None:
        self._disarm()
        release, self.guard_release = self.guard_release, None
        if release is not None:
            release()


class TimedHttpToolsProtocol(_Timeouts, HttpToolsProtocol):
    """uvicorn's httptools protocol with head and body deadlines (see the module docstring)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._guard_connection_made()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._note_progress()

    def on_response_complete(self) -> None:
        done = self.cycle
        super().on_response_complete()
        self._guard_response_complete(done)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._guard_connection_lost()


class TimedH11Protocol(_Timeouts, H11Protocol):
    """uvicorn's h11 protocol with head and body deadlines (see the module docstring)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._guard_connection_made()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._note_progress()

    def on_response_complete(self) -> None:
        done = self.cycle
        super().on_response_complete()
        self._guard_response_complete(done)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._guard_connection_lost()
