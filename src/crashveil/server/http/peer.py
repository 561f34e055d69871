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

A keep-alive connection sends many reports under one certificate, so :func:`peer_credential`
keeps the credential id per TLS connection (weakly keyed by its ``ssl_object``; gone with the
connection): the certificate's DER and its SHA-256 are taken once per connection, not per
request. A revoked certificate never gets that far (``connections.py`` refuses it at the handshake).
"""

from __future__ import annotations

import ssl
import weakref
from collections.abc import Callable
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from crashveil.server.ingest.credential_weight import credential_id

__all__ = ["CREDENTIAL_KEY", "PeerCredential", "peer_credential"]

#: The scope key the credential id is put under (``None``: no client certificate).
CREDENTIAL_KEY = "crashveil.credential"


class _Transport(Protocol):
    def get_extra_info(self, name: str, default: object = None) -> object: ...


def peer_credential(scope: Scope, receive: Receive) -> str | None:
    """The credential id of the peer's client certificate (``None`` without one), taken once
    per TLS connection (see the module docstring)."""
    der = _extension_certificate(scope)
    if der is not None:
        return credential_id("cert", der)
    ssl_object = _ssl_object(receive)
    if ssl_object is None:
        return None
    try:
        return _BY_CONNECTION[ssl_object]
    except (KeyError, TypeError):  # TypeError: an object without weak references (not cached)
        pass
    der = _transport_certificate(ssl_object)
    credential = credential_id("cert", der) if der is not None else None
    if der is not None:  # before the handshake ended there is none yet: never cache that
        try:
            _BY_CONNECTION[ssl_object] = credential
        except TypeError:
            pass
    return credential


#: Credential ids by live TLS connection (its ``ssl_object``), dropped with the connection.
_BY_CONNECTION: weakref.WeakKeyDictionary[object, str | None] = weakref.WeakKeyDictionary()


def _extension_certificate(scope: Scope) -> bytes | None:
    """The leaf certificate of the ASGI TLS extension, as DER (``None``: no extension or chain)."""
    extensions = scope.get("extensions")
    tls = extensions.get("tls") if extensions else None
    if isinstance(tls, dict):
        chain = tls.get("client_cert_chain")
        if isinstance(chain, (list, tuple)) and chain and isinstance(chain[0], str):
            try:
                return ssl.PEM_cert_to_DER_cert(chain[0])
            except ValueError:
                return None
    return None


def _ssl_object(receive: Receive) -> object | None:
    """The live TLS object of the connection behind uvicorn's bound ``receive``, if any."""
    owner = getattr(receive, "__self__", None)
    transport: _Transport | None = getattr(owner, "transport", None)
    if transport is None or not callable(getattr(transport, "get_extra_info", None)):
        return None
    ssl_object: object | None = transport.get_extra_info("ssl_object")
    return ssl_object


def _transport_certificate(ssl_object: object) -> bytes | None:
    """The DER of the certificate the handshake verified, from the TLS object."""
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
            credential = peer_credential(scope, receive)
            scope = dict(scope)
            scope[CREDENTIAL_KEY] = credential
        await self.app(scope, receive, send)
