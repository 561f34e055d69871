"""The API's OpenAPI 3.1 description, kept next to the routes it describes.

``routes.api_routes`` serves it at ``/api/v1/openapi.json``; ``tests/server/api`` checks that
every route is described and runs schemathesis against it (no 5xx, answers as declared).
"""

from __future__ import annotations

from typing import Any

from crashveil.server.api.groups import SETTABLE
from crashveil.server.api.projects import detail as projects_api
from crashveil.server.api.projects.schema import CONDITIONAL, CURSOR, READ_OPERATIONS, cached_ok, limit, read_paths
from crashveil.server.dashboard.triage.params import LEGACY_RANGES, SORTS
from crashveil.server.governance.token_scopes import SCOPES
from crashveil.server.ingest.grouping import STATUSES

__all__ = ["OPERATIONS", "PUBLIC", "description"]

_NULLABLE_STR = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_ERROR = {"type": "object", "required": ["error", "detail"],
          "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}}
_PROJECT = {"name": "project", "in": "path", "required": True,
            "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"}}
_GROUP = {"name": "group", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_GROUP_FIELDS: dict[str, Any] = {
    "id": {"type": "integer"}, "type": {"type": "string"},
    "message": {**_NULLABLE_STR, "description": "the message template; null where the roles may not read it"},
    "culprit": {**_NULLABLE_STR, "description": "the top in-app frame; null where the roles may not read stacks"},
    "status": {"type": "string", "enum": list(STATUSES)}, "assignee": {**_NULLABLE_STR, "description": "user:<id>"},
    "events": {"type": "integer"},
    "installs": {"type": ["integer", "null"], "description": "distinct installations; null below the policy's min_k"},
    "first_seen": _TIME, "last_seen": _TIME, "first_release": _NULLABLE_STR, "resolved_in": _NULLABLE_STR,
    "regressed_in": _NULLABLE_STR,
}
_LISTED = {"type": "object", "required": [*_GROUP_FIELDS, "today", "yesterday", "releases", "daily"],
           "properties": {**_GROUP_FIELDS, "today": {"type": "integer"}, "yesterday": {"type": "integer"},
                          "releases": {"type": "array", "items": {"type": "string"}},
                          "daily": {"type": "array", "items": {"type": "integer"}}}}
_DETAIL = {"type": "object", "required": list(_GROUP_FIELDS), "properties": _GROUP_FIELDS}
_DATE_PARAMS = [{"name": n, "in": "query", "schema": {"type": "string", "format": "date"}}
                for n in ("first_after", "first_before", "last_after", "last_before")]
_TEXT_PARAMS = [{"name": n, "in": "query", "schema": {"type": "string", "maxLength": 128}}
                for n in ("release", "env", "platform", "os")]
_LIST_PARAMS = [
    _PROJECT,
    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 200}, "description": "free-text search"},
    {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
    {"name": "sort", "in": "query", "schema": {"type": "string", "enum": list(SORTS)}},
    {"name": "range", "in": "query", "schema": {"type": "string", "enum": list(LEGACY_RANGES)}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
    {"name": "after", "in": "query", "schema": {"type": "string", "pattern": "^-?[0-9]{1,19}~[0-9]{1,10}$"},
     "description": "the previous page's next cursor"},
    *_TEXT_PARAMS, *_DATE_PARAMS,
]


def _errors(*statuses: int) -> dict[str, Any]:
    words = {400: "bad parameter or body", 401: "no valid bearer token", 403: "a scope or role is missing",
             404: "no such project or group (for this token)", 412: "If-Match names a version the group no longer has",
             503: "the database is not available"}
    return {str(s): {"description": words[s], "content": {"application/json": {"schema": _ERROR}}}
            for s in statuses}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


#: (path, method, operation id, scope or None): what ``routes.api_routes`` serves.
OPERATIONS = (
    ("/api/v1/projects", "get", "listProjects", None),
    ("/api/v1/projects/{project}/groups", "get", "listGroups", "groups:read"),
    ("/api/v1/projects/{project}/groups/{group}", "get", "getGroup", "groups:read"),
    ("/api/v1/projects/{project}/groups/{group}", "patch", "updateGroup", "groups:write"),
    ("/api/v1/projects/{project}/audit", "get", "listAudit", "audit:read"),
    ("/api/v1/projects/{project}/reports/{report}", "get", "getReport", "reports:read"),
    *((path, method, operation, scope) for path, method, operation, scope, _ in READ_OPERATIONS),
)
#: Operations answered without a token.
PUBLIC = frozenset(path for path, _, _, _, token in READ_OPERATIONS if not token)


def _paths() -> dict[str, Any]:
    projects = {"type": "object", "required": ["projects", "next"], "properties": {
        "next": _NULLABLE_STR, "projects": {"type": "array", "items": {
        "type": "object", "required": ["id", "created_at", "policy_version", "public_summary", "roles"],
        "properties": {"id": {"type": "string"}, "created_at": _TIME, "policy_version": {"type": "string"},
                       "public_summary": {"type": "boolean"},
                       "roles": {"type": "array", "items": {"type": "string"}}}}}}}
    page = {"type": "object", "required": ["groups", "next"],
            "properties": {"groups": {"type": "array", "items": _LISTED}, "next": _NULLABLE_STR}}
    etag = {"ETag": {"schema": {"type": "string"}}}
    if_match = {"name": "If-Match", "in": "header", "schema": {"type": "string", "maxLength": 200},
                "description": "optional: the ETag the change is based on (or *); another is a 412. "
                               "Without it the change applies to whatever the group is now"}
    patch_body = {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": {
        "status": {"type": "string", "enum": list(SETTABLE)},
        "release": {"type": "string", "minLength": 1, "maxLength": 128, "description": "with status resolved"},
        "assignee": {**_NULLABLE_STR, "description": "user:<id> of a user who may change groups, or null"}}}
    entries = {"type": "object", "required": ["entries", "next"], "properties": {
        "next": _NULLABLE_STR, "entries": {"type": "array", "items": {
            "type": "object", "required": ["seq", "at", "actor", "action", "project_id", "subject", "details"],
            "properties": {"seq": {"type": "integer"}, "at": {"type": "string"}, "actor": {"type": "string"},
                           "action": {"type": "string"}, "project_id": _NULLABLE_STR, "subject": _NULLABLE_STR,
                           "details": {"type": "object"}}}}}}
    audit_params = [_PROJECT, {"name": "before", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}}]
    report = {"type": "object", "required": ["report_id", "fields", "hidden"], "properties": {
        "report_id": {"type": "string"}, "fields": {"type": "object", "description": "the fields the roles may see"},
        "hidden": {"type": "array", "items": {"type": "string"}}}}
    reason = {"name": "Crashveil-Reason", "in": "header", "required": True,
              "schema": {"type": "string", "minLength": 10, "maxLength": 500},
              "description": "why the report is needed (a ticket, a purpose); written to the audit trail"}
    return {
        "/api/v1/projects/{project}/reports/{report}": {"get": {
            "operationId": "getReport", "summary": "One report's visible fields, audited (reports:read, a reason)",
            "parameters": [_PROJECT, {"name": "report", "in": "path", "required": True,
                                      "schema": {"type": "string", "maxLength": 64}}, reason],
            "responses": {"200": _ok(report), **_errors(401, 403, 404, 503)}}},
        "/api/v1/projects/{project}/audit": {"get": {
            "operationId": "listAudit", "summary": "The project's audit entries, newest first (audit:read)",
            "parameters": [*audit_params, CONDITIONAL],
            "responses": {**cached_ok(entries, paged=True), **_errors(400, 401, 403, 404, 503)}}},
        "/api/v1/projects": {"get": {"operationId": "listProjects", "summary": "Projects the token reaches, by id",
                                     "parameters": [limit(projects_api.MAX_LIMIT), CURSOR, CONDITIONAL],
                                     "responses": {**cached_ok(projects, paged=True), **_errors(400, 401, 503)}}},
        "/api/v1/projects/{project}/groups": {"get": {
            "operationId": "listGroups", "summary": "Crash groups, with the dashboard's filters (groups:read)",
            "parameters": [*_LIST_PARAMS, CONDITIONAL],
            "responses": {**cached_ok(page, paged=True), **_errors(400, 401, 403, 404, 503)}}},
        "/api/v1/projects/{project}/groups/{group}": {
            "get": {"operationId": "getGroup", "summary": "One crash group (groups:read)",
                    "parameters": [_PROJECT, _GROUP,
                                   {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
                    "responses": {"200": {**_ok(_DETAIL), "headers": etag},
                                  "304": {"description": "not modified", "headers": etag},
                                  **_errors(401, 403, 404, 503)}},
            "patch": {"operationId": "updateGroup", "summary": "Set status and/or assignee (groups:write); audited",
                      "parameters": [_PROJECT, _GROUP, if_match],
                      "requestBody": {"required": True, "content": {"application/json": {"schema": patch_body}}},
                      "responses": {"200": {**_ok(_DETAIL), "headers": etag},
                                    **_errors(400, 401, 403, 404, 412, 503)}}},
        **read_paths(),
    }


def description() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    paths = _paths()
    for path, method, _, scope in OPERATIONS:
        operation = paths[path][method]
        operation["security"] = [{}] if path in PUBLIC else [{"token": [scope] if scope else []}]
        if scope:
            operation["description"] = f"Needs a token with the scope {scope} (or admin)."
    return {
        "openapi": "3.1.0",
        "info": {"title": "crashveil read/write API", "version": "1",
                 "description": "Bearer tokens (`crashveil token create --scope ...`). Scopes: " + ", ".join(SCOPES)},
        "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }
