"""Slow clients against the real server (issue 14): heads, bodies and handshakes that never end.

The server runs with its soft descriptor limit lowered to 256 (never raised), so that a few
hundred sockets would exhaust it. Attackers connect from 127.0.0.1 and 127.0.0.3; the
well-behaved prober from 127.0.0.2 (all loopback: Linux routes 127/8 to ``lo``).
"""

from __future__ import annotations

import http.client
import selectors
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ATTACKER, PROBER, STALLER = "127.0.0.1", "127.0.0.2", "127.0.0.3"
HEAD_TIMEOUT_S = 3.0
HANDSHAKE_TIMEOUT_S = 3.0
BODY_TIMEOUT_S = 3.0
NOFILE = 256
SLOW = 300
STALLED = 40
#: Slack over a timeout for the server's timer to fire and the close to reach us (2 shared cores).
SLACK_S = 3.0


@dataclass
class Slow:
    sock: socket.socket | None
    opened: float
    closed: float | None = None


def _contexts(server: Any) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    mutual = ssl.create_default_context(cafile=str(server.dir.ca_pem))
    mutual.load_cert_chain(str(server.dir.client_cert), str(server.dir.client_key))
    web = ssl.create_default_context(cafile=str(server.dir.ca_pem))
    return mutual, web


def _open(context: ssl.SSLContext | None, port: int, source: str, first: bytes) -> socket.socket | None:
    """A connection that sends ``first`` and then nothing complete; None if the server refused it.

    Raises ``TimeoutError`` if the server did not answer the handshake at all (out of descriptors).
    """
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=3, source_address=(source, 0))
    except ConnectionError:
        return None
    try:
        sock = context.wrap_socket(raw, server_hostname="127.0.0.1") if context is not None else raw
        if first:
            sock.sendall(first)
    except TimeoutError:
        raw.close()
        raise
    except OSError:
        raw.close()
        return None
    sock.setblocking(False)
    return sock


def _gone(sock: socket.socket) -> bool:
    """True once the server closed ``sock`` (EOF or reset), reading whatever it sent first."""
    while True:
        try:
            data = sock.recv(4096)
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        except OSError:
            return True
        if not data:
            return True


def _sweep(items: list[Slow]) -> None:
    """Note the sockets the server has closed by now (no waiting)."""
    import select

    for item in items:
        if item.sock is not None and item.closed is None and select.select([item.sock], [], [], 0)[0] \
                and _gone(item.sock):
            item.closed = time.monotonic()


def _probe(context: ssl.SSLContext, port: int) -> tuple[int, float]:
    """``GET /healthz`` from the prober's address: (status or 0, seconds)."""
    start = time.monotonic()
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=3,
                                             source_address=(PROBER, 0))
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - start
    except (OSError, http.client.HTTPException):
        return 0, time.monotonic() - start
    finally:
        connection.close()


def _watch(items: list[Slow], until: Callable[[], bool], deadline: float, trickle: bool) -> None:
    """Note when each socket is closed, sending each open one a header byte every second."""
    selector = selectors.DefaultSelector()
    for item in items:
        if item.sock is not None and item.closed is None:
            selector.register(item.sock, selectors.EVENT_READ, item)
    last_trickle = 0.0
    while selector.get_map() and not until() and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.1):
            item = key.data
            if _gone(item.sock):
                item.closed = time.monotonic()
                selector.unregister(item.sock)
        if trickle and time.monotonic() - last_trickle >= 1.0:
            last_trickle = time.monotonic()
            for key in list(selector.get_map().values()):
                try:
                    key.data.sock.send(b"a")
                except (ssl.SSLWantWriteError, BlockingIOError):
                    pass
                except OSError:
                    key.data.closed = time.monotonic()
                    selector.unregister(key.fileobj)
    selector.close()


def test_trickling_heads_and_stalled_handshakes_are_closed_and_both_listeners_keep_answering(
        make_server: Any) -> None:
    """300 trickling heads and 40 never-started handshakes on a server with 256 descriptors.

    Every slow connection is refused or closed within its timeout (+3 s), /healthz on both
    listeners answers 200 throughout, and the server stays up.
    """
    server = make_server(CRASHVEIL_HEAD_TIMEOUT_S=str(HEAD_TIMEOUT_S),
                         CRASHVEIL_TLS_HANDSHAKE_TIMEOUT_S=str(HANDSHAKE_TIMEOUT_S))
    server.nofile = NOFILE
    server.start()
    mutual, web = _contexts(server)
    stalled = [Slow(_open(None, server.port if i % 2 else server.web_port, STALLER, b""), time.monotonic())
               for i in range(STALLED)]
    slow: list[Slow] = []
    probes: list[tuple[int, float]] = []
    exhausted = False
    for index in range(SLOW):
        context, port = (mutual, server.port) if index % 2 == 0 else (web, server.web_port)
        opened = time.monotonic()
        try:
            sock = _open(context, port, ATTACKER, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        except TimeoutError:
            exhausted = True
            break
        slow.append(Slow(sock, opened, None if sock is not None else opened))
        if index % 10 == 9:
            _sweep(slow + stalled)
        if index % 50 == 49:
            probes += [_probe(mutual, server.port), _probe(web, server.web_port)]
    held = sum(1 for item in slow if item.closed is None)
    probes += [_probe(mutual, server.port), _probe(web, server.web_port)]
    last = max(item.opened for item in slow)
    _watch(slow + stalled, lambda: all(item.closed is not None for item in slow + stalled),
           last + max(HEAD_TIMEOUT_S, HANDSHAKE_TIMEOUT_S) + SLACK_S + 1, trickle=True)
    probes += [_probe(mutual, server.port), _probe(web, server.web_port)]
    for item in slow + stalled:
        if item.sock is not None:
            item.sock.close()

    open_at_end = sum(1 for item in slow + stalled if item.closed is None)
    slowest = max((item.closed - item.opened for item in slow if item.closed is not None), default=0.0)
    slowest_handshake = max((item.closed - item.opened for item in stalled if item.closed is not None),
                            default=0.0)
    print(f"held {held} of {len(slow)}; slowest head closed after {slowest:.2f} s, stalled handshake after "
          f"{slowest_handshake:.2f} s; probe p100 {max(p[1] for p in probes) * 1000:.1f} ms")
    assert (False, 0, [200] * len(probes), True) == (
        exhausted, open_at_end, [status for status, _ in probes], server.alive()), server.log_text()[-3000:]
    assert slowest <= HEAD_TIMEOUT_S + SLACK_S
    assert slowest_handshake <= HANDSHAKE_TIMEOUT_S + SLACK_S
