"""Who the client is: the direct peer, or what a trusted reverse proxy says it forwarded.

The web listener may sit behind a reverse proxy (nginx terminating a public certificate,
``docs/deploy.md``). Then every connection comes from the proxy, and the client's address and
scheme arrive in headers the proxy sets: ``X-Forwarded-For`` / ``X-Forwarded-Proto``, or
``Forwarded`` (RFC 7239). Anyone can send those headers, so they are honoured only when the
direct peer is in ``trusted_proxies`` (addresses or CIDR networks), and only the header named
by ``proxy_header`` is read: a proxy that sets one passes the other through from the client
untouched, so reading both would let a client choose its own address.

The chain is read from the right (the hop nearest to us) and trusted hops are skipped: the
first address not trusted is the client. An entry that is not an address (``unknown``, an
obfuscated name, garbage) stops the walk and the last trusted hop stands for the client, so
a malformed header can group clients together but never make one look like another.

:meth:`TrustedProxies.client` is the one place the server derives the client's address;
``app.ForgetClient`` calls it before it removes the peer from the ASGI scope, and only keyed
tags or yes/no answers derived from it go further (design principle 4: no client address is
stored or logged).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from crashveil.errors import ConfigError

__all__ = ["ClientView", "Network", "PROXY_HEADERS", "TrustedProxies", "in_networks", "parse_address", "parse_networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: The values ``proxy_header`` may take.
PROXY_HEADERS = ("x-forwarded-for", "forwarded")
_SCHEMES = ("http", "https")


class ProxySettings(Protocol):
    """The settings this module reads (``server.settings.Settings`` has them; settings
    validates them with :func:`parse_networks`, so this module does not import it)."""

    @property
    def trusted_proxies(self) -> tuple[str, ...]: ...

    @property
    def proxy_header(self) -> str: ...


def parse_networks(key: str, entries: Sequence[str]) -> tuple[Network, ...]:
    """``entries`` (addresses or CIDR networks) as networks; :class:`ConfigError` naming ``key``."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ConfigError(key, f"{entry!r} is not an address or network",
                              "addresses or CIDR networks, e.g. [\"127.0.0.1\", \"10.0.0.0/8\"]") from None
    return tuple(networks)


@functools.lru_cache(maxsize=4096)
def parse_address(text: str) -> Address | None:
    """An address as proxies write it (``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]:80``, quoted), or None.

    An IPv4-mapped IPv6 address is its IPv4 address, so one rule covers both spellings.
    Cached (bounded): a proxy's address and its busiest clients repeat on every request, and
    ``ipaddress`` parsing is most of the cost of reading a forwarded chain."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(address: Address, networks: Iterable[Network]) -> bool:
    """Whether ``address`` is in one of ``networks`` (an IPv4 address never in an IPv6 network)."""
    return any(address.version == net.version and address in net for net in networks)


@dataclass(frozen=True)
class ClientView:
    """The client as the server sees it: its address (None if unknown) and the scheme it used."""

    address: str | None
    scheme: str


@dataclass(frozen=True)
class TrustedProxies:
    """The proxies whose forwarded headers are honoured, and which header they set."""

    networks: tuple[Network, ...] = ()
    header: str = "x-forwarded-for"

    @classmethod
    def from_settings(cls, settings: ProxySettings) -> TrustedProxies:
        return cls(parse_networks("trusted_proxies", settings.trusted_proxies), settings.proxy_header)

    def trusts(self, address: str | None) -> bool:
        """Whether ``address`` (the direct peer, as uvicorn gives it) is a trusted proxy."""
        if not self.networks or not address:
            return False
        parsed = parse_address(address)
        return parsed is not None and in_networks(parsed, self.networks)

    def client(self, scope: Mapping[str, object]) -> ClientView:
        """The client of an ASGI ``scope``: the peer, or, behind trusted proxies, whom they name."""
        peer = scope.get("client")
        address = str(peer[0]) if isinstance(peer, (tuple, list)) and peer and peer[0] else None
        scheme = str(scope.get("scheme") or "http")
        if not self.trusts(address):
            return ClientView(address, scheme)
        headers = _header_values(scope, {self.header, "x-forwarded-proto"})
        if self.header == "forwarded":
            hops = _forwarded_hops(headers.get("forwarded", []))
        else:
            protos = [p.strip().lower() for v in headers.get("x-forwarded-proto", []) for p in v.split(",")]
            proto = protos[-1] if protos else None
            hops = [(entry, proto) for v in headers.get("x-forwarded-for", []) for entry in v.split(",")]
        for entry, proto in reversed(hops):
            parsed = parse_address(entry)
            if parsed is None:
                break
            address = str(parsed)
            if proto in _SCHEMES:
                scheme = proto
            if not in_networks(parsed, self.networks):
                break
        return ClientView(address, scheme)


def _header_values(scope: Mapping[str, object], names: set[str]) -> dict[str, list[str]]:
    """The values of the headers ``names`` (lower case) in an ASGI scope, in order."""
    found: dict[str, list[str]] = {}
    raw = scope.get("headers")
    if not isinstance(raw, (list, tuple)):
        return found
    for name, value in raw:
        key = name.decode("latin-1").lower()
        if key in names:
            found.setdefault(key, []).append(value.decode("latin-1"))
    return found


def _forwarded_hops(values: list[str]) -> list[tuple[str, str | None]]:
    """(for, proto) of each element of RFC 7239 ``Forwarded`` values, left to right."""
    hops: list[tuple[str, str | None]] = []
    for value in values:
        for element in value.split(","):
            pairs: dict[str, str] = {}
            for pair in element.split(";"):
                key, sep, val = pair.partition("=")
                if sep:
                    pairs[key.strip().lower()] = val.strip().strip('"')
            proto = pairs.get("proto")
            hops.append((pairs.get("for", ""), proto.lower() if proto else None))
    return hops
