"""Small, safe readers of a Sentry event (attacker-controlled JSON), and the record of what
the mapping left out and why.

Every drop is counted under a fixed path (a Sentry field name from a closed list, never a
key the sender chose) and a reason from :data:`DROP_REASONS`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DROP_REASONS", "LEVEL_TOO_LOW", "MALFORMED", "NOT_ALLOWLISTED", "REDACTED", "TOO_LARGE", "UNKNOWN",
    "Dropped", "as_list", "clean", "cut", "obj", "text", "token",
]

#: A Sentry field crashveil has no policy field for (request, extra, user e-mail, a tag key
#: the policy does not list, frame variables...): never copied.
NOT_ALLOWLISTED = "not_allowlisted"
#: A crashveil field the Sentry key's consent level does not allow (removed by the allowlist).
LEVEL_TOO_LOW = "level_too_low"
#: Personal data the redactor replaced (counted by the caller from its redaction hits).
REDACTED = "redacted"
#: Cut or left out by a limit (frames, chain, breadcrumbs, tags, string lengths).
TOO_LARGE = "too_large"
#: Present but unreadable (a bad timestamp, a type name that is no identifier): replaced.
MALFORMED = "malformed"
#: The closed vocabulary of drop reasons.
DROP_REASONS = frozenset((NOT_ALLOWLISTED, LEVEL_TOO_LOW, REDACTED, TOO_LARGE, MALFORMED))
#: The path of a key that is in no list the mapping knows (the key itself is never named).
UNKNOWN = "<unknown>"

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN_RE = re.compile(r"[^A-Za-z0-9 ._+-]")


class Dropped:
    """(path, reason) -> count of what one event's mapping left out."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def add(self, path: str, reason: str = NOT_ALLOWLISTED, count: int = 1) -> None:
        self.counts[(path, reason)] += count

    def known(self, key: Any, known: frozenset[str], prefix: str = "") -> None:
        """Count ``key`` as not allowlisted: by name if it is in ``known``, else as ``<unknown>``."""
        name = key if isinstance(key, str) and key in known else UNKNOWN
        self.add(f"{prefix}{name}")


def obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def clean(value: str) -> str:
    """Lone surrogates replaced, control characters removed (they break columns and logs)."""
    if value.isprintable():  # no control character and no surrogate: nothing to do (the usual case)
        return value
    return CONTROL.sub("", value.encode("utf-8", "replace").decode("utf-8"))


def cut(value: str, limit: int, *, keep_end: bool = False) -> str:
    if len(value) <= limit:
        return value
    return "…" + value[-(limit - 1):] if keep_end else value[: limit - 1] + "…"


def text(value: Any) -> str | None:
    return clean(value) if isinstance(value, str) else None


def token(value: Any, limit: int) -> str | None:
    """A short identifier-like value (OS name, runtime name, arch), or ``None``."""
    found = text(value)
    if not found:
        return None
    found = _TOKEN_RE.sub("", found).strip()
    return found[:limit] or None
