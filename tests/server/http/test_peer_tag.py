"""ForgetClient leaves no address in the scope, only a keyed tag for in-memory limits."""

from __future__ import annotations

import asyncio
import re

from crashveil.server.http.app import ForgetClient
from crashveil.server.http.peer_tag import SCOPE_KEY, tag_of


def _seen(host: str, path: str = "/dashboard/login") -> dict:
    """The scope an app behind ForgetClient gets for a request from ``host`` to ``path``."""
    seen: dict = {}

    async def app(scope, receive, send) -> None:
        seen.update(scope)

    asyncio.run(ForgetClient(app)({"type": "http", "client": (host, 5000), "path": path}, None, None))
    return seen


def test_forget_client_leaves_a_tag_and_no_address() -> None:
    """The app sees no client; the tag is 32 hex digits that do not contain the address, the
    same for one address, different for another, and one for all of an IPv6 /64."""
    one, again, other = _seen("203.0.113.9"), _seen("203.0.113.9"), _seen("203.0.113.10")
    v6a, v6b, v6c = _seen("2001:db8:1:2::1"), _seen("2001:db8:1:2:ffff::9"), _seen("2001:db8:1:3::1")
    tag = one[SCOPE_KEY]
    assert (None, True, True, False, True, False) == (
        one["client"], bool(re.fullmatch(r"[0-9a-f]{32}", tag)), tag == again[SCOPE_KEY], tag == other[SCOPE_KEY],
        v6a[SCOPE_KEY] == v6b[SCOPE_KEY], v6a[SCOPE_KEY] == v6c[SCOPE_KEY])


def test_routes_outside_the_dashboard_get_no_tag_and_no_address() -> None:
    """Only the dashboard's log-in limit reads the tag; ingest and the other routes do not pay
    for it, and still see no address."""
    seen = _seen("203.0.113.9", "/api/v1/projects/demo/reports")
    assert (None, False) == (seen["client"], SCOPE_KEY in seen)


def test_tag_of_nothing_is_none() -> None:
    """No peer (a Unix socket) has no tag."""
    assert (None, None) == (tag_of(None), tag_of(""))
