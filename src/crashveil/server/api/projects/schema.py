"""The OpenAPI parts of the project, release, aggregate, public-summary and token operations
(``api.projects.detail``, ``.releases``, ``.aggregates``, ``api.tokens``), and the caching and
paging parts every list shares. ``api.openapi`` assembles them into the document."""

from __future__ import annotations

from typing import Any

from crashveil.server.api import tokens
from crashveil.server.api.projects import aggregates, releases

__all__ = ["CONDITIONAL", "CURSOR", "ERROR", "NOT_MODIFIED", "READ_OPERATIONS", "cached_ok", "errors",
           "limit", "read_paths"]

_STR_OR_NULL = {"type": ["string", "null"]}
_INT_OR_NULL = {"type": ["integer", "null"]}
_TIME = {"type": "string", "format": "date-time"}
ERROR = {"type": "object", "required": ["error", "detail"],
         "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}}
_PROJECT = {"name": "project", "in": "path", "required": True,
            "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"}}
_WORDS = {400: "bad parameter or body (the detail names it)", 401: "no valid bearer token",
          403: "a scope or role is missing", 404: "no such object (for this token)",
          412: "If-Match names a version the group no longer has", 503: "the database is not available"}
_HEADER = {"schema": {"type": "string"}}
#: ``If-None-Match``: a previous answer's ETag; a match (or ``*``) is a 304.
CONDITIONAL = {"name": "If-None-Match", "in": "header", "schema": {"type": "string", "maxLength": 200},
               "description": "an ETag of a previous answer; 304 without a body while it is current"}
#: The opaque cursor of every list but the groups' and the audit's (whose keysets predate it).
CURSOR = {"name": "cursor", "in": "query", "schema": {"type": "string", "maxLength": 512},
          "description": "the previous page's next, unchanged (opaque)"}
NOT_MODIFIED = {"description": "not modified (If-None-Match holds the current ETag)",
                "headers": {"ETag": _HEADER}}


def limit(maximum: int) -> dict[str, Any]:
    """The ``limit`` query parameter of a list."""
    return {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": maximum}}


def errors(*statuses: int) -> dict[str, Any]:
    """The JSON error answers ``statuses``."""
    return {str(s): {"description": _WORDS[s], "content": {"application/json": {"schema": ERROR}}} for s in statuses}


def cached_ok(schema: dict[str, Any], *, paged: bool) -> dict[str, Any]:
    """A 200 with ``ETag`` (and ``Link`` for a list), and the 304 of ``If-None-Match``."""
    headers = {"ETag": _HEADER, **({"Link": {**_HEADER, "description": 'the next page, rel="next"'}}
                                   if paged else {})}
    return {"200": {"description": "OK", "headers": headers, "content": {"application/json": {"schema": schema}}},
            "304": NOT_MODIFIED}


def _page(key: str, item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "required": [key, "next", *extra], "properties": {
        key: {"type": "array", "items": item}, "next": {**_STR_OR_NULL, "description": "cursor of the next page"},
        **extra}}


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(properties), "properties": properties}


_PROJECT_ITEM = _object(id={"type": "string"}, created_at=_TIME, policy_version={"type": "string"},
                        public_summary={"type": "boolean"}, roles={"type": "array", "items": {"type": "string"}})
_PROJECT_DETAIL = _object(**_PROJECT_ITEM["properties"], groups={"type": "integer"},
                          min_k={"type": "integer", "description": "installation counts below it are null"})
_RELEASE = _object(
    release={"type": "string"}, new_groups={"type": "integer"}, regressed_groups={"type": "integer"},
    reports={"type": "integer", "description": "in the window"},
    crashed_installs={**_INT_OR_NULL, "description": "null below min_k"},
    has_adoption={"type": ["boolean", "null"], "description": "null: adoption is not shown to these roles"},
    active_installs={**_INT_OR_NULL, "description": "latest day; null below min_k or not shown to these roles"},
    crash_free={"type": ["number", "null"], "minimum": 0, "maximum": 1,
                "description": "over installation-days; null if hidden, without adoption data or not shown"},
    rate_hidden={"type": ["boolean", "null"]},
    adoption={"type": ["array", "null"], "items": _object(day={"type": "string", "format": "date"},
                                                          installs=_INT_OR_NULL)})
_AGGREGATE = _object(day={"type": "string", "format": "date"}, group={"type": "integer"},
                     release={"type": "string"}, reports={"type": "integer"},
                     installs={**_INT_OR_NULL, "description": "distinct installations; null below min_k"})
_NUMBER = {"type": "number"}
_PUBLIC_WINDOW = {"type": "object", "required": ["window"], "properties": {
    "window": {"type": "string", "description": "the window's key (its first day and length)"},
    "published": {"type": "boolean", "description": "false: nothing was released for this window"},
    "budget_exhausted_until": {**_STR_OR_NULL, "format": "date",
                               "description": "the yearly privacy budget allows no release before this day"},
    "first_day": {"type": "string", "format": "date"}, "last_day": {"type": "string", "format": "date"},
    "rho": _NUMBER, "epsilon": _NUMBER, "delta": _NUMBER, "threshold": {"type": "integer"},
    "min_k": {"type": "integer"},
    "groups": {"type": "array", "items": _object(group={"type": "integer"}, installations={"type": "integer"})},
    "platforms": {"type": "array", "items": _object(release={"type": "string"}, os_family={"type": "string"},
                                                    installations={"type": "integer"})}}}
_PUBLIC = _object(project={"type": "string"}, unit={"type": "string"}, explanation={"type": "string"},
                  budget=_object(accountant={"type": "string", "enum": ["zCDP"]}, window_days={"type": "integer"},
                                 epsilon_per_year=_NUMBER, delta_per_year=_NUMBER, rho_per_year=_NUMBER,
                                 rho_per_window=_NUMBER),
                  windows={"type": "array", "items": _PUBLIC_WINDOW})
_TOKEN = _object(id={"type": "string"}, name={"type": "string"}, user={"type": "string"},
                 projects={"type": "array", "items": {"type": "string"}},
                 roles={"type": "array", "items": {"type": "string"}},
                 scopes={"type": "array", "items": {"type": "string"}}, created_at=_TIME,
                 expires_at={**_STR_OR_NULL, "format": "date-time"},
                 last_used_at={**_STR_OR_NULL, "format": "date-time"}, use_count={"type": "integer"},
                 revoked={"type": "boolean"}, expired={"type": "boolean"})

#: (path, method, operation id, scope or None, needs a token): what these modules serve.
READ_OPERATIONS = (
    ("/api/v1/projects/{project}", "get", "getProject", None, True),
    ("/api/v1/projects/{project}/releases", "get", "listReleases", "groups:read", True),
    ("/api/v1/projects/{project}/aggregates", "get", "listAggregates", "groups:read", True),
    ("/api/v1/projects/{project}/public-summary", "get", "getPublicSummary", None, False),
    ("/api/v1/tokens", "get", "listTokens", "admin", True),
    ("/api/v1/tokens/{token}/revoke", "post", "revokeToken", "admin", True),
)


def _get(operation_id: str, summary: str, parameters: list[dict[str, Any]], schema: dict[str, Any], *,
         paged: bool, statuses: tuple[int, ...]) -> dict[str, Any]:
    return {"get": {"operationId": operation_id, "summary": summary, "parameters": [*parameters, CONDITIONAL],
                    "responses": {**cached_ok(schema, paged=paged), **errors(*statuses)}}}


def read_paths() -> dict[str, Any]:
    """The path items of :data:`READ_OPERATIONS`."""
    aggregate_params: list[dict[str, Any]] = [
        _PROJECT, {"name": "days", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                             "maximum": aggregates.MAX_DAYS}},
        {"name": "group", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}},
        {"name": "release", "in": "query", "schema": {"type": "string", "minLength": 1, "maxLength": 128}},
        limit(aggregates.MAX_LIMIT), CURSOR]
    token = {"name": "token", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64},
             "description": "the token's id (the hex part after cvt_)"}
    return {
        "/api/v1/projects/{project}": _get(
            "getProject", "One project the token reaches", [_PROJECT], _PROJECT_DETAIL, paged=False,
            statuses=(400, 401, 404, 503)),
        "/api/v1/projects/{project}/releases": _get(
            "listReleases", "Release health as the releases page shows it (groups:read)",
            [_PROJECT, limit(releases.MAX_RELEASES), CURSOR],
            _page("releases", _RELEASE, window_days={"type": "integer"}), paged=True,
            statuses=(400, 401, 403, 404, 503)),
        "/api/v1/projects/{project}/aggregates": _get(
            "listAggregates", "Reports and installations per day, group and release (groups:read)",
            aggregate_params, _page("aggregates", _AGGREGATE, since={"type": "string", "format": "date"}),
            paged=True, statuses=(400, 401, 403, 404, 503)),
        "/api/v1/projects/{project}/public-summary": {"get": {
            **_get("getPublicSummary", "The public summary's numbers (no token; 404 unless the project "
                   "publishes one)", [_PROJECT], _PUBLIC, paged=False, statuses=(400, 404, 503))["get"],
            "security": [{}]}},
        "/api/v1/tokens": _get(
            "listTokens", "API tokens the caller may manage, never a secret (admin); audited",
            [limit(tokens.MAX_LIMIT), CURSOR], _page("tokens", _TOKEN), paged=True,
            statuses=(400, 401, 403, 503)),
        "/api/v1/tokens/{token}/revoke": {"post": {
            "operationId": "revokeToken", "summary": "Revoke a token at once (admin); audited",
            "parameters": [token],
            "responses": {"200": {"description": "the token, revoked",
                                  "content": {"application/json": {"schema": _TOKEN}}},
                          **errors(400, 401, 403, 404, 503)}}},
    }

