"""Groups through the API: pagination by the listing's keyset, ETags, PATCH through the
dashboard's own change functions (history row and audit entry, the token's user as actor)."""

from __future__ import annotations

import re
from typing import Any

GROUPS = "/api/v1/projects/demo/groups"


def test_projects_lists_the_tokens_projects_with_its_roles(api: Any) -> None:
    answer = api.get("/api/v1/projects", api.token("dev", scopes=[]))
    assert (200, [("demo", ["developer"])]) == (answer.status_code,
                                                [(p["id"], p["roles"]) for p in answer.json()["projects"]])


def test_cursor_pagination_walks_every_group_once(api: Any) -> None:
    """limit=1 pages through all of demo's groups, each once, in the unpaged order; ``next``
    and the Link header agree; the last page has none."""
    token = api.token("dev")
    whole = [g["id"] for g in api.get(f"{GROUPS}?sort=events", token).json()["groups"]]
    seen: list[int] = []
    path: str | None = f"{GROUPS}?sort=events&limit=1"
    while path is not None:
        answer = api.get(path, token)
        body = answer.json()
        seen += [g["id"] for g in body["groups"]]
        link = answer.headers.get("link")
        if body["next"] is None:
            assert link is None
            path = None
        else:
            path = re.match(r"<([^>]+)>; rel=\"next\"", link).group(1)
            assert f"after={body['next']}" in path
    assert (4, whole, len(set(seen))) == (len(whole), seen, len(seen))


def test_list_filters_are_the_dashboards(api: Any) -> None:
    token = api.token("dev")
    found = api.get(f"{GROUPS}?q=TimeoutError&status=open&release=1.1.0", token).json()["groups"]
    assert ["TimeoutError"] == [g["type"] for g in found]


def test_group_etag_and_if_none_match(api: Any) -> None:
    """The ETag is stable while the group is unchanged (304 on If-None-Match) and changes with
    its state."""
    token = api.token("dev", scopes=["groups:read", "groups:write"])
    path = f"{GROUPS}/{api.dash.group_ids['load']}"
    first = api.get(path, token)
    etag = first.headers["etag"]
    again = api.get(path, token, **{"If-None-Match": etag})
    assert (200, 304, b"", etag) == (first.status_code, again.status_code, again.content, again.headers["etag"])
    changed = api.patch(path, token, {"status": "resolved", "release": "1.3.0"})
    after = api.get(path, token, **{"If-None-Match": etag})
    assert (200, 200, "resolved", "1.3.0") == (changed.status_code, after.status_code, after.json()["status"],
                                               after.json()["resolved_in"])
    assert changed.headers["etag"] == after.headers["etag"] != etag


def test_patch_is_audited_with_the_tokens_user_as_actor(api: Any) -> None:
    """Status and assignee changes write the dashboard's audit entries (actor: the token's
    user) and a ``token.use`` entry naming the token."""
    token = api.token("dev", scopes=["groups:write"])
    token_id = token.split("_")[1]
    dev_id = next(u.user_id for u in api.dash.access.list_users() if u.name == "dev")
    gid = api.dash.group_ids["fetch"]
    answer = api.patch(f"{GROUPS}/{gid}", token, {"status": "ignored", "assignee": f"user:{dev_id}"})
    assert (200, "ignored", f"user:{dev_id}") == (answer.status_code, answer.json()["status"],
                                                  answer.json()["assignee"])
    entries = [(e.action, e.actor, e.subject) for e in api.dash.audit.entries()[-3:]]
    assert [("token.use", f"user:{dev_id}", f"token:{token_id}"), ("group.status", f"user:{dev_id}", f"group:{gid}"),
            ("group.assign", f"user:{dev_id}", f"group:{gid}")] == entries
    cleared = api.patch(f"{GROUPS}/{gid}", token, {"assignee": None})
    assert (200, None, "ignored") == (cleared.status_code, cleared.json()["assignee"], cleared.json()["status"])


def test_openapi_is_served_without_a_token_and_names_every_route(api: Any) -> None:
    from crashveil.server.api.openapi import OPERATIONS

    doc = api.client.get("/api/v1/openapi.json").json()
    served = {(r.path, m.lower()) for r in api.client.app.routes if getattr(r, "path", "").startswith("/api/v1/")
              and r.path != "/api/v1/openapi.json" for m in (r.methods or ()) if m != "HEAD"}
    assert ("3.1.0", served) == (doc["openapi"], {(p, m) for p, m, _, _ in OPERATIONS})
    assert served == {(p, m) for p, ops in doc["paths"].items() for m in ops}
