"""What every API list and read shares: opaque cursors, ``limit``, the ``Link`` header, ETags.

**Cursors** are opaque to clients: URL-safe base64 of a small JSON array whose first item
names the list (a cursor of one list is a 400 on another). Clients pass a page's ``next``
back as ``cursor``, unchanged; the server decodes and checks every part, so a forged
cursor is a clear 400 naming ``cursor``, never a 500 and never an echo of its text.

**ETags** are strong, the SHA-256 of the exact body sent (so they differ per token where
roles cut what is shown). ``If-None-Match`` with a current tag (or ``*``) gives 304 and no
body; lists are tagged too, so a poller pays one query and no transfer while nothing moved.
``If-Match`` on a write (optional; a client that sends it asks for strictness) must name
the current tag (or ``*``), else 412 ``precondition_failed``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from crashveil.errors import BadQueryParameter, PreconditionFailed

__all__ = ["MAX_CURSOR", "Page", "check_names", "decode_cursor", "encode_cursor", "etag_of", "if_match",
           "json_answer", "limit_param", "single"]

#: The longest cursor accepted (ours are well below).
MAX_CURSOR = 512
_CURSOR_FORM = "the next cursor of a previous page of this list, unchanged"


def encode_cursor(kind: str, values: Sequence[str | int]) -> str:
    """An opaque cursor for list ``kind`` resuming after ``values``."""
    raw = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, kind: str, types: Sequence[type]) -> tuple[Any, ...]:
    """The values of a cursor of list ``kind``, each of the given type; 400 naming ``cursor``."""
    bad = BadQueryParameter("cursor", _CURSOR_FORM)
    if not text or len(text) > MAX_CURSOR or not text.isascii():
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, list) or len(data) != len(types) + 1 or data[0] != kind:
        raise bad
    values = tuple(data[1:])
    for value, wanted in zip(values, types, strict=True):
        if type(value) is not wanted:
            raise bad
        if isinstance(value, int) and not 0 <= value < 2**62 or isinstance(value, str) and len(value) > 200:
            raise bad
    return values


def single(request: Request, name: str) -> str | None:
    """The one value of query parameter ``name`` (None if absent; 400 if repeated)."""
    given = request.query_params.getlist(name)
    if len(given) > 1:
        raise BadQueryParameter(name, "one value")
    return given[0] if given else None


def check_names(request: Request, allowed: Iterable[str]) -> None:
    """400 for a query parameter the operation does not know (named only as a position)."""
    known = set(allowed)
    for name in request.query_params:
        if name not in known:
            raise BadQueryParameter("(a parameter name)", ", ".join(sorted(known)) or "no parameters")


def limit_param(request: Request, default: int, maximum: int) -> int:
    """The ``limit`` query parameter, 1 to ``maximum``."""
    text = single(request, "limit")
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 6 or not 1 <= int(text) <= maximum:
        raise BadQueryParameter("limit", f"a whole number from 1 to {maximum}")
    return int(text)


@dataclass(frozen=True)
class Page:
    """One page of a list: its JSON items under ``key`` and the cursor of the next page."""

    key: str
    items: list[dict[str, Any]]
    next: str | None

    def body(self) -> dict[str, Any]:
        return {self.key: self.items, "next": self.next}

    def link(self, path: str, params: dict[str, str]) -> str | None:
        """The ``Link`` header of the next page (None on the last page)."""
        if self.next is None:
            return None
        return f'<{path}?{urlencode({**params, "cursor": self.next})}>; rel="next"'


def etag_of(body: bytes) -> str:
    """The strong ETag of a body."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _listed(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


def json_answer(request: Request, data: object, *, link: str | None = None) -> Response:
    """``data`` as JSON with its ETag; 304 without a body when ``If-None-Match`` holds it."""
    body = json.dumps(data, separators=(",", ":")).encode()
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Authorization"}
    if link is not None:
        headers["Link"] = link
    wanted = _listed(request.headers.get("if-none-match", ""))
    if etag in wanted or "*" in wanted:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def if_match(request: Request, current: bytes) -> None:
    """:class:`PreconditionFailed` if the request has ``If-Match`` and it names neither the
    current body's tag nor ``*`` (no header: no condition)."""
    header = request.headers.get("if-match")
    if header is None:
        return
    wanted = [tag.strip() for tag in header.split(",")]  # strong comparison: a weak tag never matches
    if "*" not in wanted and etag_of(current) not in wanted:
        raise PreconditionFailed("the group changed since it was read (If-Match)")
