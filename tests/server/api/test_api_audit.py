"""The audit log through the API: scope ``audit:read`` and a role with ``audit.read``; keyset pages."""

from __future__ import annotations

import re
from typing import Any

AUDIT = "/api/v1/projects/demo/audit"


def test_audit_needs_the_scope_and_a_role_that_reads_the_trail(api: Any) -> None:
    """An officer's token without the scope is 403 naming it; a developer's with it is 403 (no
    role reads the trail); another project's token is 404."""
    answers = [api.get(AUDIT, api.token("officer", scopes=["groups:read"])),
               api.get(AUDIT, api.token("dev", scopes=["audit:read"])),
               api.get(AUDIT, api.token("outsider", scopes=["admin"])),
               api.get(AUDIT, api.token("officer", scopes=["audit:read"]))]
    assert [(403, "insufficient_scope"), (403, "forbidden"), (404, "not_found"), (200, None)] == [
        (a.status_code, a.json().get("error")) for a in answers]


def test_audit_pages_walk_the_projects_entries_newest_first_once(api: Any) -> None:
    """A PATCH by a developer's token shows up (``token.use``, ``group.status``) for the
    officer; pages of two cover the project's entries once, newest first, none of another."""
    writer = api.token("dev", scopes=["groups:write"])
    api.patch(f"/api/v1/projects/demo/groups/{api.dash.group_ids['load']}", writer, {"status": "ignored"})
    token = api.token("officer", scopes=["audit:read"])
    newest = api.get(f"{AUDIT}?limit=2", token).json()["entries"]
    assert ["group.status", "token.use"] == [e["action"] for e in newest]
    seen: list[int] = []
    path: str | None = f"{AUDIT}?limit=2"
    while path is not None:
        answer = api.get(path, token)
        seen += [e["seq"] for e in answer.json()["entries"]]
        link = answer.headers.get("link")
        path = re.match(r"<([^>]+)>", link).group(1) if link else None
    expected = sorted((e.seq for e in api.dash.audit.entries(project_id="demo")), reverse=True)
    assert (expected, len(seen)) == (seen, len(set(seen)))


def test_bad_audit_parameters_are_400(api: Any) -> None:
    token = api.token("officer", scopes=["audit:read"])
    codes = [api.get(f"{AUDIT}?{q}", token).status_code for q in ("limit=0", "limit=201", "before=x", "x=1",
                                                                  "before=1&before=2")]
    assert [400] * 5 == codes
