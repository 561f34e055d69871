"""The API's gate: bearer tokens (401), scopes (403 naming the scope), projects (404), roles (403),
and the JSON error form. Real app routes over real SQLite storage, access store and audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

GROUPS = "/api/v1/projects/demo/groups"


def _operations(api: Any) -> list[tuple[str, str, str, object]]:
    """(method, path, scope, body) of every scoped operation."""
    gid = api.dash.group_ids["load"]
    return [("GET", GROUPS, "groups:read", None), ("GET", f"{GROUPS}/{gid}", "groups:read", None),
            ("PATCH", f"{GROUPS}/{gid}", "groups:write", {"status": "ignored"})]


def _call(api: Any, method: str, path: str, token: str | None, body: object) -> Any:
    return api.get(path, token) if method == "GET" else api.patch(path, token, body)


def test_each_operation_without_its_scope_is_403_naming_the_scope(api: Any) -> None:
    """A valid token lacking an operation's scope gets 403 ``insufficient_scope`` naming it,
    and nothing changes."""
    token = api.token("dev", scopes=["audit:read"])
    for method, path, scope, body in _operations(api):
        answer = _call(api, method, path, token, body)
        assert (403, "insufficient_scope", True, True) == (
            answer.status_code, answer.json()["error"], scope in answer.json()["detail"],
            f'scope="{scope}"' in answer.headers["www-authenticate"]), (method, path)
    assert "open" == api.get(f"{GROUPS}/{api.dash.group_ids['load']}", api.token("dev")).json()["status"]


def test_admin_scope_grants_every_operation(api: Any) -> None:
    token = api.token("dev", scopes=["admin"])
    assert [200, 200, 200] == [_call(api, m, p, token, b).status_code for m, p, _, b in _operations(api)]


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer cvt_nope", "Basic ZGV2OnB3", "Bearer " + "x" * 300])
def test_missing_or_malformed_token_is_401_with_a_challenge(api: Any, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    for path in ("/api/v1/projects", GROUPS):
        answer = api.client.get(path, headers=headers)
        assert (401, "unauthorized", True) == (answer.status_code, answer.json()["error"],
                                               answer.headers["www-authenticate"].startswith("Bearer ")), path


def test_revoked_and_expired_tokens_are_401(api: Any) -> None:
    """A revoked token fails at once, an expiring one after its expiry, a disabled user's too."""
    token = api.token("dev")
    assert 200 == api.get(GROUPS, token).status_code
    token_id = token.split("_")[1]
    api.dash.access.revoke_token(token_id, actor="cli")
    expiring = api.token("dev", expires_days=1)
    assert (401, 200) == (api.get(GROUPS, token).status_code, api.get(GROUPS, expiring).status_code)
    api.dash.clock[0] += timedelta(days=1, seconds=1)
    assert 401 == api.get(GROUPS, expiring).status_code
    viewer = api.token("viewer", expires_days=None)
    api.dash.access.disable_user("viewer", actor="cli")
    assert 401 == api.get(GROUPS, viewer).status_code


def test_a_token_for_one_project_cannot_see_another(api: Any) -> None:
    """Project ``other``'s token gets 404 for demo's list, groups and changes (nothing to
    enumerate), and the project list names only its own project."""
    token = api.token("outsider", scopes=["admin"])
    gid = api.dash.group_ids["load"]
    answers = [api.get(GROUPS, token), api.get(f"{GROUPS}/{gid}", token),
               api.patch(f"{GROUPS}/{gid}", token, {"status": "ignored"}),
               api.get("/api/v1/projects/nosuch/groups", token)]
    assert [(404, "not_found")] * 4 == [(a.status_code, a.json()["error"]) for a in answers]
    other_gid = api.dash.group_ids["other"]
    assert 404 == api.get(f"/api/v1/projects/other/groups/{gid}", token).status_code  # demo's id under other
    assert 200 == api.get(f"/api/v1/projects/other/groups/{other_gid}", token).status_code
    assert ["other"] == [p["id"] for p in api.get("/api/v1/projects", token).json()["projects"]]


def test_write_scope_without_a_changing_role_is_403(api: Any) -> None:
    """``groups:write`` on a viewer's token changes nothing: the role decides too."""
    token = api.token("viewer", scopes=["groups:read", "groups:write"])
    gid = api.dash.group_ids["load"]
    answer = api.patch(f"{GROUPS}/{gid}", token, {"status": "resolved"})
    assert (403, "forbidden") == (answer.status_code, answer.json()["error"])
    assert "open" == api.get(f"{GROUPS}/{gid}", token).json()["status"]


@pytest.mark.parametrize("query", ["sort=nope", "limit=0", "after=abc", "zzz=1", "status=x", "q=a%00b"])
def test_bad_list_parameters_are_400_naming_the_parameter(api: Any, query: str) -> None:
    answer = api.get(f"{GROUPS}?{query}", api.token("dev"))
    assert (400, "bad_parameter") == (answer.status_code, answer.json()["error"])
    assert "\x00" not in answer.text


@pytest.mark.parametrize("body", [{}, [], {"status": "regressed"}, {"status": "resolved", "x": 1},
                                  {"release": "1.0"}, {"assignee": 5}, {"assignee": "user:999"}, "nojson",
                                  {"status": "resolved", "release": "1.0\x01"}])
def test_bad_patch_bodies_are_400(api: Any, body: object) -> None:
    gid = api.dash.group_ids["load"]
    token = api.token("dev", scopes=["groups:write", "groups:read"])
    raw = api.client.patch(f"{GROUPS}/{gid}", content=b"{not json", headers={"Authorization": f"Bearer {token}"}) \
        if body == "nojson" else api.patch(f"{GROUPS}/{gid}", token, body)
    assert (400, "bad_body") == (raw.status_code, raw.json()["error"])


@pytest.mark.parametrize("gid", ["0", "-1", "abc", "99999999999", "2147483648"])
def test_group_ids_that_cannot_exist_are_404(api: Any, gid: str) -> None:
    assert 404 == api.get(f"{GROUPS}/{gid}", api.token("dev")).status_code
