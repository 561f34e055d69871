"""CSRF protection of the dashboard: session-bound tokens plus an exact Origin check.

Why our own and not asgi-csrf (named in DESIGN.md): asgi-csrf implements the *double-submit
cookie* pattern, where the token is a random cookie echoed in the form. That token is not
bound to the session, so a sibling subdomain that can set a cookie for ours (cookie
tossing) can plant a pair it knows. We have server-side sessions, so the stronger pattern
costs nothing: the token is an HMAC of the session id under the dashboard secret
(itsdangerous-style keyed derivation with :mod:`hmac`), checked in constant time. The
middleware of asgi-csrf also buffers and parses request bodies itself; here the view that
parses the form checks the token, and nothing else reads the body. One dependency fewer.

Defence in depth, as RELIABILITY D.34 asks: state changes are POST only; ``Origin`` must
equal the server's own origin exactly (``null`` and other origins are refused; when a
browser sends no Origin, ``Referer`` is checked the same way; ``Sec-Fetch-Site:
cross-site`` is refused); cookies are ``SameSite=Strict``.

Before log-in there is no session: the log-in form is protected by a random pre-session
cookie signed with itsdangerous and echoed in the form (login CSRF), plus the same Origin
check. The view also spends each nonce once (``login_flow.NonceLedger``).

All of it is keyed by the dashboard secret (:func:`load_or_create_secret`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer

if TYPE_CHECKING:
    import sqlalchemy as sa

    from crashveil.server.keys.shared_secrets import KeyWrapper

__all__ = ["LOGIN_MAX_AGE_S", "session_token", "check_session_token", "new_login_pair", "check_login_pair",
           "origin_allowed", "load_or_create_secret"]

#: How long a log-in form stays valid; each is also single-use (``login_flow.NonceLedger``).
LOGIN_MAX_AGE_S = 3600
_LOGIN_MAX_AGE_S = LOGIN_MAX_AGE_S


def session_token(secret: bytes, session_id: str) -> str:
    """The CSRF token of a session (stable for the session's life)."""
    return hmac.new(secret, b"crashveil/csrf/v1\x00" + session_id.encode(), hashlib.sha256).hexdigest()


def check_session_token(secret: bytes, session_id: str, token: str | None) -> bool:
    """Whether ``token`` is the session's CSRF token (constant-time)."""
    if not token or not isinstance(token, str):
        return False
    return hmac.compare_digest(session_token(secret, session_id), token)


def _login_serializer(secret: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="crashveil/login-csrf/v1")


def new_login_pair(secret: bytes) -> tuple[str, str]:
    """(cookie value, form value) for the log-in form."""
    nonce = secrets.token_urlsafe(24)
    return _login_serializer(secret).dumps(nonce), nonce


def check_login_pair(secret: bytes, cookie: str | None, form_value: str | None) -> bool:
    """Whether the signed cookie holds the nonce the form echoed, and is recent."""
    if not cookie or not form_value:
        return False
    try:
        nonce = _login_serializer(secret).loads(cookie, max_age=_LOGIN_MAX_AGE_S)
    except BadSignature:
        return False
    return isinstance(nonce, str) and hmac.compare_digest(nonce, form_value)


def origin_allowed(headers: Mapping[str, str], own_origin: str) -> bool:
    """Whether a state-changing request's ``Origin``/``Referer`` is exactly our origin.

    Args:
        headers: the request headers (case-insensitive mapping).
        own_origin: ``scheme://host[:port]`` of this server as the browser sees it.
    """
    get = headers.get
    if (get("sec-fetch-site") or "").lower() == "cross-site":
        return False
    origin = get("origin")
    if origin is not None:
        return origin == own_origin
    referer = get("referer")
    if referer is None:
        # No Origin and no Referer: not a browser form post (browsers send Origin on every
        # POST since 2020); the session token still has to match.
        return True
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}" == own_origin


def load_or_create_secret(path: Path) -> bytes:
    """The dashboard secret (CSRF derivation, log-in cookie signing), made once, mode 0600."""
    path = Path(path)
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as handle:
        handle.write(value)
    return value


def load_shared_secret(engine: sa.Engine, provider: KeyWrapper, path: Path) -> bytes:
    """The dashboard secret every host over one database shares (in the database, wrapped by the
    KEK; this host's ``path`` seeds it the first time), so a log-in form served by one host can
    be posted to another. A schema older than 0018 uses the file alone."""
    from crashveil.server.keys.shared_secrets import DASHBOARD, has_shared_secrets_table, shared_secret

    if not has_shared_secrets_table(engine):
        return load_or_create_secret(path)
    return shared_secret(engine, provider, DASHBOARD, seed=lambda: load_or_create_secret(path))
