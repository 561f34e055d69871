"""A keyed tag of the peer address, for in-memory rate limits only.

The server never stores or logs client addresses (design principle 4): ``app.ForgetClient``
removes the peer from the ASGI scope before routing. Some limits still need to tell one
source from another (log-in attempts per address). So ForgetClient leaves this tag in the
scope instead: a truncated HMAC of the address (IPv6: of its /64, what one host or home
network is given) under a random key made at process start and kept nowhere. The tag can
key a bucket in memory; it cannot be turned back into an address, nor matched across
processes or restarts, and nothing writes it anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Mapping

__all__ = ["SCOPE_KEY", "peer_tag", "tag_of"]

#: Where ForgetClient leaves the tag in the ASGI scope.
SCOPE_KEY = "crashveil.peer"
_KEY = secrets.token_bytes(32)


def tag_of(host: object) -> str | None:
    """The tag of a peer host (an address, or a name such as ``testclient``); ``None`` if absent."""
    if not isinstance(host, str) or not host:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        text = host
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
            text = str(ipaddress.IPv6Network((address, 64), strict=False))
        else:
            text = str(getattr(address, "ipv4_mapped", None) or address)
    return hmac.new(_KEY, text.encode(), hashlib.sha256).hexdigest()[:32]


def peer_tag(scope: Mapping[str, object]) -> str | None:
    """The tag ForgetClient left, or the tag of the scope's own peer (apps built without it)."""
    tag = scope.get(SCOPE_KEY)
    if isinstance(tag, str):
        return tag
    client = scope.get("client")
    return tag_of(client[0]) if isinstance(client, (tuple, list)) and client else None
