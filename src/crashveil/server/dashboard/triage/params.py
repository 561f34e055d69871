"""The group list's URL query, parsed and validated: what a bookmark or a shared link holds.

Every parameter is checked; a bad one raises :class:`~crashveil.errors.BadQueryParameter`
naming it and the form expected (the page answers 400), never quoting the value. The query
is rebuilt from the parsed values only (:meth:`ListQuery.url`), so a link the page prints
holds nothing but what was validated: the search text the user typed, filters, a sort and
a cursor of two numbers. No report content is ever put into a URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from crashveil.errors import BadQueryParameter
from crashveil.server.ingest.grouping import STATUSES

__all__ = ["DEFAULT_LIMIT", "LEGACY_RANGES", "SORTS", "UNASSIGNED", "Cursor", "ListQuery", "parse_query"]

#: Sorts of the list (all newest / largest first).
SORTS = ("last_seen", "events", "installs", "trend", "first_seen")
_SORT_ALIASES = {"count": "events"}
#: The old list's time ranges: a last-seen window.
LEGACY_RANGES = {"24h": 1, "7d": 7, "30d": 30, "90d": 90}
DEFAULT_LIMIT = 50
_MAX_LIMIT = 100
_MAX_SEARCH = 200
_MAX_VALUE = 128
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_CURSOR = re.compile(r"^(-?\d{1,19})~(\d{1,10})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATES = ("first_after", "first_before", "last_after", "last_before")
_TEXTS = {"release": "release", "env": "environment", "platform": "platform", "os": "os"}
_KNOWN = frozenset(("q", "status", "assignee", "sort", "after", "limit", "range", *_DATES, *_TEXTS))
#: ``assignee``: a user as groups store it (``user:<id>``), or ``none`` for unassigned groups.
_ASSIGNEE = re.compile(r"^(user:[0-9A-Za-z_-]{1,64}|none)$")
UNASSIGNED = "none"
_SAFE_NAME = re.compile(r"^[a-z_]{1,32}$")


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the last row's sort value (an integer; times as epoch
    microseconds) and id."""

    value: int
    id: int

    def text(self) -> str:
        return f"{self.value}~{self.id}"


@dataclass(frozen=True)
class ListQuery:
    """A validated group-list query (``None``: no such filter)."""

    q: str | None = None
    release: str | None = None
    env: str | None = None
    platform: str | None = None
    os: str | None = None
    status: str | None = None
    assignee: str | None = None  # user:<id>, or UNASSIGNED
    first_after: date | None = None
    first_before: date | None = None
    last_after: date | None = None
    last_before: date | None = None
    sort: str = "last_seen"
    after: Cursor | None = None
    limit: int = DEFAULT_LIMIT

    def facets(self) -> list[tuple[str, str]]:
        """The (kind, value) facet filters set (``db.triage_tables.FACET_KINDS``)."""
        return [(kind, value) for name, kind in _TEXTS.items() if (value := getattr(self, name)) is not None]

    def params(self) -> dict[str, str]:
        """The query as URL parameters (defaults left out)."""
        out: dict[str, str] = {}
        for name in ("q", "release", "env", "platform", "os", "status", "assignee"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        for name in _DATES:
            value = getattr(self, name)
            if value is not None:
                out[name] = value.isoformat()
        if self.sort != "last_seen":
            out["sort"] = self.sort
        if self.limit != DEFAULT_LIMIT:
            out["limit"] = str(self.limit)
        if self.after is not None:
            out["after"] = self.after.text()
        return out

    def url(self, base: str, **changes: object) -> str:
        """``base`` with this query (``changes`` applied, e.g. ``after=`` the next cursor)."""
        params = replace(self, **changes).params() if changes else self.params()  # type: ignore[arg-type]
        return f"{base}?{urlencode(params)}" if params else base

    @property
    def filtered(self) -> bool:
        return any(v is not None for k, v in self.params().items() if k not in ("sort", "limit", "after"))


def _text(params: Mapping[str, str], name: str, limit: int) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > limit or _CONTROL.search(value):
        raise BadQueryParameter(name, f"at most {limit} characters, no control characters")
    return value


def _date(params: Mapping[str, str], name: str) -> date | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    try:
        if not _DATE.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise BadQueryParameter(name, "a date as YYYY-MM-DD") from None


def _unknown(params: Mapping[str, str]) -> None:
    for name in params:
        if name not in _KNOWN:
            shown = name if _SAFE_NAME.match(name) else "(a parameter name)"
            raise BadQueryParameter(shown, "a known parameter: " + ", ".join(sorted(_KNOWN)))


def parse_query(params: Mapping[str, str], *, now: datetime, multi: Mapping[str, int] | None = None) -> ListQuery:
    """The :class:`ListQuery` of a request's query parameters (``multi``: how many times each
    name was given; a repeated one is refused, as is an unknown one)."""
    _unknown(params)
    for name, times in (multi or {}).items():
        if times > 1:
            raise BadQueryParameter(name if _SAFE_NAME.match(name) else "(a parameter name)", "one value")
    status = _text(params, "status", 16)
    if status is not None and status not in STATUSES:
        raise BadQueryParameter("status", "one of " + ", ".join(STATUSES))
    assignee = _text(params, "assignee", 70)
    if assignee is not None and not _ASSIGNEE.match(assignee):
        raise BadQueryParameter("assignee", "a user from the list's assignee filter, or 'none'")
    sort = _text(params, "sort", 16) or "last_seen"
    sort = _SORT_ALIASES.get(sort, sort)
    if sort not in SORTS:
        raise BadQueryParameter("sort", "one of " + ", ".join(SORTS))
    limit = _number(params, "limit", 1, _MAX_LIMIT, DEFAULT_LIMIT)
    after = None
    if (text := _text(params, "after", 40)) is not None:
        match = _CURSOR.match(text)
        if match is None or not 0 < int(match.group(2)) <= 2**31 - 1:
            raise BadQueryParameter("after", "a cursor from the list's own 'next page' link")
        after = Cursor(int(match.group(1)), int(match.group(2)))
    dates = {name: _date(params, name) for name in _DATES}
    window = _text(params, "range", 4)
    if window is not None:
        if window not in LEGACY_RANGES:
            raise BadQueryParameter("range", "one of " + ", ".join(LEGACY_RANGES))
        since = (now.astimezone(UTC) - timedelta(days=LEGACY_RANGES[window] - 1)).date()
        current = dates["last_after"]
        dates["last_after"] = since if current is None else max(current, since)
    for low, high in (("first_after", "first_before"), ("last_after", "last_before")):
        if dates[low] is not None and dates[high] is not None and dates[low] > dates[high]:  # type: ignore[operator]
            raise BadQueryParameter(high, f"a date on or after {low}")
    return ListQuery(q=_text(params, "q", _MAX_SEARCH), release=_text(params, "release", _MAX_VALUE),
                     env=_text(params, "env", _MAX_VALUE), platform=_text(params, "platform", _MAX_VALUE),
                     os=_text(params, "os", _MAX_VALUE), status=status, assignee=assignee,
                     first_after=dates["first_after"], first_before=dates["first_before"],
                     last_after=dates["last_after"], last_before=dates["last_before"], sort=sort, after=after,
                     limit=limit)


def _number(params: Mapping[str, str], name: str, low: int, high: int, default: int) -> int:
    value = (params.get(name) or "").strip()
    if not value:
        return default
    if not value.isascii() or not value.isdigit() or not low <= int(value[:6]) <= high or len(value) > 6:
        raise BadQueryParameter(name, f"a whole number from {low} to {high}")
    return int(value)
