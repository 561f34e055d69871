"""A small client of the server's read/write API (``/api/v1/``) for the ``crashveil`` command.

Standard library only (``urllib``): it runs with a plain ``pip install crashveil``, which
has neither httpx nor the server package. The bearer token comes from the environment
(``CRASHVEIL_API_TOKEN``), never from a flag (a flag lands in shell history and ``ps``).
The token is sent to ``https://`` servers, and to ``http://`` ones on the loopback only.

Errors are one line, :class:`~crashveil.errors.ApiClientError`: the status and the server's
error code and detail (written by the server, never echoing input), or why the server could
not be reached. The token never appears in one.

The HTTP exchange is a :class:`Transport` (``urllib`` by default), so tests drive the same
client against an in-process app.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlencode, urlsplit

from crashveil.errors import ApiClientError

__all__ = ["TOKEN_ENV", "Answer", "ApiClient", "Transport", "UrllibTransport", "token_from_env"]

TOKEN_ENV = "CRASHVEIL_API_TOKEN"
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_NEXT_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')
_MAX_BODY = 16 * 1024 * 1024
_WHAT = {401: "the token was refused (unknown, expired or revoked; check $" + TOKEN_ENV + ")",
         404: "no such project or object for this token"}


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, headers (lower-case names) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> object:
        try:
            return json.loads(self.body)
        except ValueError:
            raise ApiClientError(f"{self.status}: the server's answer is not JSON") from None


class Transport(Protocol):
    """Sends one request; raises :class:`ApiClientError` only when there is no answer at all."""

    def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Answer: ...


@dataclass
class UrllibTransport:
    """:class:`Transport` over ``urllib``; ``cafile`` trusts a server's own CA (TLS is verified)."""

    cafile: str | None = None
    timeout_s: float = 30.0
    _context: ssl.SSLContext | None = field(default=None, init=False, repr=False)

    def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Answer:
        if self._context is None and url.startswith("https:"):
            self._context = ssl.create_default_context(cafile=self.cafile)
        request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s, context=self._context) as response:
                return Answer(response.status, {k.lower(): v for k, v in response.headers.items()},
                              response.read(_MAX_BODY))
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read(_MAX_BODY))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise ApiClientError(f"cannot reach {urlsplit(url).netloc}: {reason}") from None


def token_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The API token from ``$CRASHVEIL_API_TOKEN``; a clear error without one."""
    token = (os.environ if environ is None else environ).get(TOKEN_ENV, "").strip()
    if not token:
        raise ApiClientError(f"set ${TOKEN_ENV} to an API token (crashveil token create ... --scope ...)")
    if not token.isascii() or not token.isprintable() or len(token) > 200:
        raise ApiClientError(f"${TOKEN_ENV} does not hold a token (cvt_...)")
    return token


def _check_server(server: str) -> str:
    parts = urlsplit(server)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise ApiClientError("--server must be a URL such as https://crash.example.org:8443")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise ApiClientError("--server: the token is sent over https only (http on this machine's loopback only)")
    return server.rstrip("/")


class ApiClient:
    """Calls of one server with one token."""

    def __init__(self, server: str, token: str, transport: Transport) -> None:
        self.server = _check_server(server)
        self._token = token
        self._transport = transport

    def _call(self, method: str, path: str, body: object = None, headers: Mapping[str, str] | None = None) -> Answer:
        sent = {"Authorization": f"Bearer {self._token}", "Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        answer = self._transport.send(method, self.server + path, sent, data)
        if answer.status >= 400:
            raise _failure(answer)
        return answer

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Answer:
        return self._call("GET", path + (f"?{urlencode(params)}" if params else ""))

    def patch(self, path: str, body: object, *, if_match: str | None = None) -> Answer:
        return self._call("PATCH", path, body, {"If-Match": if_match} if if_match else None)

    def post(self, path: str) -> Answer:
        return self._call("POST", path)

    def items(self, path: str, key: str, params: Mapping[str, str], *, limit: int, page_max: int) -> Iterator[object]:
        """Up to ``limit`` items of a list, following each page's ``Link: rel="next"``."""
        wanted = {**params, "limit": str(min(limit, page_max))}
        following: str | None = path + "?" + urlencode(wanted)
        given = 0
        while following is not None and given < limit:
            answer = self._call("GET", following)
            page = answer.json()
            if not isinstance(page, dict) or not isinstance(page.get(key), list):
                raise ApiClientError(f"{answer.status}: the server's page has no {key!r} list")
            for item in page[key][:limit - given]:
                given += 1
                yield item
            found = _NEXT_LINK.search(answer.headers.get("link", ""))
            following = found.group(1) if found and found.group(1).startswith("/api/v1/") else None


def _failure(answer: Answer) -> ApiClientError:
    """One line for an error answer: status, code, the server's detail (never the token)."""
    code, detail = "error", ""
    try:
        data = json.loads(answer.body)
        if isinstance(data, dict):
            code, detail = str(data.get("error", code))[:60], str(data.get("detail", ""))[:300]
    except ValueError:
        pass
    text = _WHAT.get(answer.status) or detail or "the server refused the request"
    if answer.status == 403 and detail:
        text = detail
    return ApiClientError(f"{answer.status} {code}: {' '.join(text.split())}")
