"""What the app's scope adds to an event: release, dist, deployment, transaction, tags, the
SDK's own fingerprint, the user (as a keyed pseudonym) and breadcrumbs.

Tags are kept only for keys the policy lists (``[fields.tags] keys``); their values are
length-capped here and redacted by the caller like every other string. The SDK's
``fingerprint`` is kept as ``grouping`` (``{{ default }}`` stays a marker the server expands
into its own fingerprint material); it is redacted too before it groups anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from crashveil.server.sentry.mapping.read import (
    MALFORMED,
    NOT_ALLOWLISTED,
    TOO_LARGE,
    Dropped,
    as_list,
    clean,
    cut,
    obj,
    text,
)
from crashveil.wire import LIMITS, Breadcrumb
from crashveil.wire.report import MAX_GROUPING_PARTS, MAX_TAGS, Tag

__all__ = ["KNOWN_USER", "SCOPE_PATHS", "TAG_VALUE_CHARS", "breadcrumbs_of", "grouping_of", "install_id_of",
           "short_text", "tags_of"]

#: Longest tag value kept; the SDK's own limit is 200.
TAG_VALUE_CHARS = 200
GROUPING_PART_CHARS = 128
_TEXT = LIMITS["max_message_chars"]
_CATEGORY_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
KNOWN_USER = frozenset(("id", "email", "username", "ip_address", "name", "geo", "segment", "data", "sentry_user"))
#: Every path this module may name as dropped.
SCOPE_PATHS = frozenset({f"user.{k}" for k in KNOWN_USER} | {"user.<unknown>", "tags", "tags.value", "fingerprint",
                         "breadcrumbs.data", "breadcrumbs.elided", "breadcrumbs.category", "release", "dist",
                         "environment", "transaction", "culprit"})


def short_text(value: Any, limit: int, path: str, dropped: Dropped) -> str | None:
    """A string field cut to ``limit`` (counted as too large when cut)."""
    found = text(value)
    if not found or not found.strip():
        return None
    if len(found) > limit:
        dropped.add(path, TOO_LARGE)
    return cut(found.strip(), limit)


def tags_of(value: Any, keys: Collection[str], dropped: Dropped) -> tuple[Tag, ...] | None:
    """Tags whose key the policy lists; Sentry sends an object or a list of pairs."""
    pairs = list(value.items()) if isinstance(value, dict) else [
        tuple(item) for item in as_list(value) if isinstance(item, list) and len(item) == 2]
    tags: dict[str, str] = {}
    for key, raw in pairs:
        if not isinstance(key, str) or key not in keys:
            dropped.add("tags", NOT_ALLOWLISTED)
            continue
        found = text(raw) if isinstance(raw, str) else (str(raw).lower() if isinstance(raw, bool) else
                                                        str(raw) if isinstance(raw, int) else None)
        if found is None:
            dropped.add("tags.value", MALFORMED)
            continue
        if len(found) > TAG_VALUE_CHARS:
            dropped.add("tags.value", TOO_LARGE)
        tags[key] = cut(found, TAG_VALUE_CHARS)
    if len(tags) > MAX_TAGS:
        dropped.add("tags", TOO_LARGE, len(tags) - MAX_TAGS)
    return tuple(Tag(key, tags[key]) for key in sorted(tags)[:MAX_TAGS]) or None


def grouping_of(value: Any, dropped: Dropped) -> tuple[str, ...] | None:
    """The SDK's ``fingerprint`` as a few short strings (``{{ default }}`` normalised)."""
    parts = []
    for item in as_list(value):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            dropped.add("fingerprint", MALFORMED)
            continue
        part = clean(str(item)).strip()
        if re.fullmatch(r"\{\{\s*default\s*\}\}", part):
            part = "{{ default }}"
        if len(part) > GROUPING_PART_CHARS:
            dropped.add("fingerprint", TOO_LARGE)
        parts.append(cut(part, GROUPING_PART_CHARS))
    if len(parts) > MAX_GROUPING_PARTS:
        dropped.add("fingerprint", TOO_LARGE, len(parts) - MAX_GROUPING_PARTS)
    grouping = tuple(parts[:MAX_GROUPING_PARTS])
    return None if not grouping or grouping == ("{{ default }}",) else grouping


def install_id_of(user: Any, pseudonymize: Callable[[str], str] | None, dropped: Dropped) -> str | None:
    """``user.id`` as a keyed pseudonym when the caller passes ``pseudonymize`` (the policy
    allows linking at the level); every other part of the user is dropped."""
    user = obj(user)
    for key in user:
        if key != "id":
            dropped.known(key, KNOWN_USER, "user.")
    raw = user.get("id")
    if raw is None or isinstance(raw, bool) or not isinstance(raw, (str, int)):
        return None
    if pseudonymize is None:
        dropped.add("user.id")
        return None
    found = clean(str(raw))[:256]
    return pseudonymize(found) if found else None


def breadcrumbs_of(value: Any, occurred: datetime, dropped: Dropped) -> tuple[Breadcrumb, ...] | None:
    """The last breadcrumbs: offset, category and message (``data`` dropped)."""
    from crashveil.server.sentry.mapping.times import parse_timestamp

    crumbs = value.get("values") if isinstance(value, dict) else value
    items = [c for c in as_list(crumbs) if isinstance(c, dict)]
    if not items:
        return None
    limit = LIMITS["max_breadcrumbs"]
    if len(items) > limit:
        dropped.add("breadcrumbs.elided", TOO_LARGE, len(items) - limit)
        items = items[-limit:]
    result = []
    for crumb in items:
        if crumb.get("data"):
            dropped.add("breadcrumbs.data")
        when = parse_timestamp(crumb.get("timestamp"))
        offset = int((occurred - when).total_seconds()) if when is not None else 0
        category = text(crumb.get("category")) or text(crumb.get("type")) or "default"
        if not _CATEGORY_RE.match(category):
            dropped.add("breadcrumbs.category", MALFORMED)
            category = "other"
        message = text(crumb.get("message")) or ""
        result.append(Breadcrumb(offset_s=max(0, min(offset, 86_400)), category=category,
                                 message=cut(message, _TEXT)))
    return tuple(result)
