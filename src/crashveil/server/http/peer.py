"""Who is on the other end of the mutual-TLS connection: the client certificate, as a
credential id the ingest pipeline can count (``credential_weight``).

uvicorn does not put TLS details in the ASGI scope. Two sources are read, in order:

1. the ASGI TLS extension (``scope["extensions"]["tls"]["client_cert_chain"]``, PEM, leaf
   first), for servers or protocol classes that provide it;
2. the connection's transport: uvicorn hands the app its request cycle's bound ``receive``,
   whose owner holds the asyncio transport, and ``transport.get_extra_info("ssl_object")``
   is the live TLS object whose ``getpeercert(binary_form=True)`` is the certificate the
   handshake verified against the server's CA.

Nothing a client sends in a header is read. :class:`PeerCredential` must wrap the app
outermost (before anything replaces ``receive``). Without a certificate the credential is
``None`` (the ingest side counts such reports under one shared credential).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from crashveil.server.ingest.credential_weight import credential_id

__all__ = ["CREDENTIAL_KEY", "PeerCredential", "peer_certificate"]

#: The scope key the credential id is put under (``None``: no client certificate).
CREDENTIAL_KEY = "crashveil.credential"


class _Transport(Protocol):
    def get_extra_info(self, name: str, default: object = None) -> object: ...


def peer_certificate(scope: Scope, receive: Receive) -> bytes | None:
    """The DER of the peer's TLS client certificate, or ``None``."""
    tls = (scope.get("extensions") or {}).get("tls")
    if isinstance(tls, dict):
        chain = tls.get("client_cert_chain")
        if isinstance(chain, (list, tuple)) and chain and isinstance(chain[0], str):
            try:
                return ssl.PEM_cert_to_DER_cert(chain[0])
            except ValueError:
                return None
    owner = getattr(receive, "__self__", None)
    transport: _Transport | None = getattr(owner, "transport", None)
    if transport is None or not callable(getattr(transport, "get_extra_info", None)):
        return None
    ssl_object = transport.get_extra_info("ssl_object")
    getpeercert: Callable[..., object] | None = getattr(ssl_object, "getpeercert", None)
    if getpeercert is None:
        return None
    try:
        der = getpeercert(binary_form=True)
    except ValueError:  # handshake not done (cannot happen once a request arrived)
        return None
    return der if isinstance(der, bytes) and der else None


class PeerCredential:
    """Pure ASGI middleware: put the client certificate's credential id in the scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            der = peer_certificate(scope, receive)
            scope = dict(scope)
            scope[CREDENTIAL_KEY] = credential_id("cert", der) if der is not None else None
        await self.app(scope, receive, send)
