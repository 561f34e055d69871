"""Releases, aggregates, project detail, public summary and tokens through the API: scopes,
ETags and 304 on every GET, If-Match and 412 on a group's PATCH, cursor pages that walk every
item once, and the dashboard's own numbers (k-anonymous). In-process, over the seeded ``dash``."""

from __future__ import annotations

import re
from typing import Any

from crashveil.server.dashboard.releases.queries import release_health

DEMO = "/api/v1/projects/demo"
GET_PATHS = ("/api/v1/projects", DEMO, f"{DEMO}/groups", f"{DEMO}/audit", f"{DEMO}/releases", f"{DEMO}/aggregates",
             f"{DEMO}/public-summary", "/api/v1/tokens")


def _walk(api: Any, path: str, token: str, key: str) -> list[Any]:
    """Every item of a list, following the Link headers."""
    seen: list[Any] = []
    following: str | None = path
    while following is not None:
        answer = api.get(following, token)
        assert answer.status_code == 200, (following, answer.text)
        body = answer.json()
        seen += body[key]
        link = answer.headers.get("link")
        assert (link is None) == (body["next"] is None)
        following = re.match(r"<([^>]+)>; rel=\"next\"", link).group(1) if link else None
    return seen


def test_new_operations_need_their_scope_and_a_valid_token(api: Any) -> None:
    """403 naming the scope without it; 401 for a bad, revoked or expired token; another
    project's token gets 404; the public summary needs no token and follows the page's switch."""
    wrong = api.token("dev", scopes=["audit:read"])
    scoped = [(f"{DEMO}/releases", "groups:read"), (f"{DEMO}/aggregates", "groups:read"),
              ("/api/v1/tokens", "admin")]
    answers = [(api.get(path, wrong), scope) for path, scope in scoped]
    revoke = api.client.post("/api/v1/tokens/0123456789abcdef/revoke", headers={"Authorization": f"Bearer {wrong}"})
    assert [(403, "insufficient_scope", True)] * 4 == [
        (a.status_code, a.json()["error"], scope in a.json()["detail"])
        for a, scope in [*answers, (revoke, "admin")]]
    revoked, expiring = api.token("dev", scopes=["admin"]), api.token("dev", scopes=["admin"], expires_days=1)
    api.dash.access.revoke_token(revoked.split("_")[1], actor="cli")
    api.dash.clock[0] = api.dash.clock[0].replace(day=api.dash.clock[0].day + 2)
    tokenised = [p for p in GET_PATHS if not p.endswith("public-summary")]
    for token in (None, "cvt_nope", revoked, expiring):
        assert {401} == {api.get(path, token).status_code for path in tokenised}, token
    outsider = api.token("outsider", scopes=["admin"])
    assert {404} == {api.get(path, outsider).status_code for path in (DEMO, f"{DEMO}/releases", f"{DEMO}/aggregates")}
    public = api.get(f"{DEMO}/public-summary", None)
    assert (200, "demo", 404, 404) == (public.status_code, public.json()["project"],
                                       api.get("/api/v1/projects/other/public-summary", None).status_code,
                                       api.get("/api/v1/projects/nosuch/public-summary", outsider).status_code)


def test_every_get_has_an_etag_and_304_and_patch_honours_if_match(api: Any) -> None:
    """A second GET with the first's ETag is a 304 without a body, for every GET; a stale or
    weak If-Match is 412 and changes nothing, a current one or * applies, none applies. Then
    the token operations (on the same seeded ``dash``)."""
    api.dash.access.grant("officer", "demo", "developer", actor="cli")
    _, token = api.dash.access.create_token("officer", "t", projects=["demo"], roles=["developer", "privacy-officer"],
                                            actor="cli", scopes=["admin"])
    for path in GET_PATHS:
        first = api.get(path, token)
        again = api.get(path, token, **{"If-None-Match": first.headers["etag"]})
        assert (200, 304, b"") == (first.status_code, again.status_code, again.content), path
    group = f"{DEMO}/groups/{api.dash.group_ids['load']}"
    etag = api.get(group, token).headers["etag"]

    def patch(body: object, match: str | None) -> Any:
        headers = {"Authorization": f"Bearer {token}", **({"If-Match": match} if match else {})}
        return api.client.patch(group, json=body, headers=headers)

    changed = patch({"status": "ignored"}, etag)
    stale = patch({"status": "resolved"}, etag)
    weak = patch({"status": "resolved"}, f"W/{changed.headers['etag']}")
    assert (200, 412, "precondition_failed", 412) == (changed.status_code, stale.status_code, stale.json()["error"],
                                                      weak.status_code)
    assert "ignored" == api.get(group, token).json()["status"]
    assert [200, 200, 200] == [patch({"status": "open"}, changed.headers["etag"]).status_code,
                               patch({"status": "open"}, "*").status_code, patch({"status": "open"}, None).status_code]
    _tokens_are_listed_without_secrets_and_revoked_with_audit(api)


def test_cursor_pages_walk_every_item_once_and_forged_cursors_are_400(api: Any) -> None:
    """Pages of one (or seven) give every item of the whole list once, in order; cursors of
    another list, forged or too long are a 400 naming ``cursor``. (One seeded ``dash`` serves
    the next test's checks too: each costs a second.)"""
    api.dash.access.add_user("root", "root-password-123", actor="cli")
    api.dash.access.grant("root", "*", "admin", actor="cli")
    _, root = api.dash.access.create_token("root", "all", projects=["*"], roles=["admin"], actor="cli",
                                           scopes=["admin"])
    dev = api.token("dev", scopes=["groups:read"])
    for path, key, token, whole_path in (
            ("/api/v1/projects?limit=1", "projects", root, "/api/v1/projects"),
            (f"{DEMO}/releases?limit=1", "releases", dev, f"{DEMO}/releases"),
            (f"{DEMO}/aggregates?limit=7&days=3", "aggregates", dev, f"{DEMO}/aggregates?limit=500&days=3"),
            ("/api/v1/tokens?limit=1", "tokens", root, "/api/v1/tokens")):
        whole = api.get(whole_path, token).json()
        paged = _walk(api, path, token, key)
        assert (whole[key], None) == (paged, whole["next"]), path
        assert len(paged) > 1, path
    cursor = api.get(f"{DEMO}/releases?limit=1", dev).json()["next"]
    bad = [api.get(f"{DEMO}/aggregates?cursor={c}", dev) for c in (cursor, "x", "e30", "W10", "!" * 600)]
    assert {(400, "bad_parameter")} == {(a.status_code, a.json()["error"]) for a in bad}
    assert all("cursor" in a.json()["detail"] and "!!" not in a.text for a in bad)
    assert {400} == {api.get(f"{DEMO}/aggregates?{q}", dev).status_code
                     for q in ("days=0", "days=31", "group=x", "release=a%01", "limit=501", "zz=1", "days=1&days=2")}
    _releases_and_aggregates_are_the_dashboards_numbers_k_anonymous(api)


def _releases_and_aggregates_are_the_dashboards_numbers_k_anonymous(api: Any) -> None:
    """Release rows equal the releases page's function; adoption numbers only for roles the
    policy names; aggregate reports sum to the roll-ups, and a group of 2 installations has
    ``installs`` null (k = the policy's min_k)."""
    dev, viewer = api.token("dev"), api.token("viewer")
    rows = api.get(f"{DEMO}/releases?limit=30", dev).json()["releases"]
    project = api.dash.storage.project("demo")
    with api.dash.storage.engine.connect() as conn:
        expected = release_health(conn, "demo", now=api.dash.clock[0], min_k=project.policy.aggregation.min_k)
    assert [(r.release, r.new_groups, r.regressed_groups, r.reports, r.crashed_installs) for r in expected] == [
        (r["release"], r["new_groups"], r["regressed_groups"], r["reports"], r["crashed_installs"]) for r in rows]
    adoption = project.policy.adoption
    viewer_rows = api.get(f"{DEMO}/releases?limit=30", viewer).json()["releases"]
    viewer_sees = adoption is not None and "viewer" in adoption.access
    assert viewer_sees == any(r["adoption"] is not None for r in viewer_rows)
    aggregates = api.get(f"{DEMO}/aggregates?days=30&limit=500", dev).json()["aggregates"]
    total = sum(g["events"] for g in api.get(f"{DEMO}/groups?limit=100", dev).json()["groups"])
    rare = [a for a in aggregates if a["release"] == "0.9.0"]
    assert (total, [None]) == (sum(a["reports"] for a in aggregates), [a["installs"] for a in rare])
    assert any(a["installs"] is not None for a in aggregates)


def _tokens_are_listed_without_secrets_and_revoked_with_audit(api: Any) -> None:
    """A global admin sees every token, a developer's admin-scoped token only its user's own;
    no secret is ever sent; revoking writes token.use and token.revoke, and the token dies."""
    mine = api.token("dev", scopes=["admin"])
    theirs = api.token("viewer", scopes=["groups:read"])
    listed = api.get("/api/v1/tokens", mine)
    secrets = [t.split("_", 2)[2] for t in (mine, theirs)]
    assert ({"dev"}, False) == ({t["user"] for t in listed.json()["tokens"]}, any(s in listed.text for s in secrets))
    their_id = theirs.split("_")[1]
    auth = {"Authorization": f"Bearer {mine}"}
    assert 404 == api.client.post(f"/api/v1/tokens/{their_id}/revoke", headers=auth).status_code
    victim = api.token("dev", scopes=["groups:read"])
    victim_id = victim.split("_")[1]
    revoked = api.client.post(f"/api/v1/tokens/{victim_id}/revoke", headers=auth)
    assert (200, True, 401) == (revoked.status_code, revoked.json()["revoked"],
                                api.get(f"{DEMO}/groups", victim).status_code)
    actions = [(e.action, e.subject, e.details.get("token")) for e in api.dash.audit.entries()[-2:]]
    assert [("token.use", f"token:{mine.split('_')[1]}", f"token:{victim_id}"),
            ("token.revoke", f"token:{victim_id}", None)] == actions
