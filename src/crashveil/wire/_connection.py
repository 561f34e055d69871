"""Parsing of the connection string, apart from the ``ConnectionString`` dataclass.

``crashveil.init(dsn=...)`` checks the connection string at once (a bad one is a
``ConfigError`` at init) but needs the ``ConnectionString`` object only later, when it first
talks to the server: this module parses and checks without importing ``dataclasses``
(with ``inspect``, most of what a DSN added to ``init()``). ``ConnectionString.parse`` is
built on :func:`parse_connection_parts`, so there is one parser. Format and rules: see
``crashveil.wire.protocol``.
"""

from __future__ import annotations

import re

from crashveil.errors import ConfigError

__all__ = ["PROJECT_ID_PATTERN", "parse_connection_parts"]

PROJECT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
_PROJECT_RE = re.compile(PROJECT_ID_PATTERN)


def parse_connection_parts(text: object) -> tuple[str, int, str, str, str, bytes]:
    """``(host, port, project, public_key, signing_key, ca_der)`` of a checked connection string.

    Raises:
        ConfigError: names the part that is wrong (key ``dsn`` or ``dsn.<parameter>``).
    """
    import base64
    from urllib.parse import parse_qs, urlsplit

    if not isinstance(text, str) or not text:
        raise ConfigError("dsn", "is empty", "crashveil://HOST:PORT/PROJECT?key=...&sign=...&ca=...")
    parts = urlsplit(text.strip())
    if parts.scheme != "crashveil":
        raise ConfigError("dsn", f"scheme {parts.scheme!r} is not supported", "crashveil:// (TLS only)")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError("dsn", "the port is not a number", "HOST:PORT") from exc
    if not parts.hostname or port is None:
        raise ConfigError("dsn", "host or port is missing", "crashveil://HOST:PORT/PROJECT")
    if parts.username or parts.password:
        raise ConfigError("dsn", "carries credentials", "no user or password in the connection string")
    project = parts.path.strip("/")
    if not _PROJECT_RE.match(project):
        raise ConfigError("dsn", "project id is missing or malformed", "lower-case letters, digits and '-'")
    query = parse_qs(parts.query, keep_blank_values=True)
    values = {}
    for name in ("key", "sign", "ca"):
        found = query.get(name, [])
        if len(found) != 1 or not found[0]:
            raise ConfigError(f"dsn.{name}", "missing or given twice", f"one '{name}=' parameter")
        values[name] = found[0]
    if ":" not in values["key"]:
        raise ConfigError("dsn.key", "has no suite prefix", "<suite>:<base64url public key>")
    if not values["sign"].startswith("ed25519:"):
        raise ConfigError("dsn.sign", "is not an Ed25519 key", "ed25519:<base64url public key>")
    try:
        ca_der = base64.urlsafe_b64decode(values["ca"] + "=" * (-len(values["ca"]) % 4))
    except ValueError as exc:
        raise ConfigError("dsn.ca", "is not base64url", "the CA certificate as base64url DER") from exc
    return parts.hostname, port, project, values["key"], values["sign"], ca_der
