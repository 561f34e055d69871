"""The group page's triage actions over HTTP (real storage, access and audit): each one audited
with its actor, CSRF and roles enforced, bad forms a 400 naming the field, and notes redacted
and kept off the group list and the public pages (a canary)."""

from __future__ import annotations

import re
import warnings
from typing import Any

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from crashveil.server.db.tables import crash_groups
from crashveil.server.db.triage_tables import group_notes

from .test_views import ORIGIN, _csrf, _login

CANARY_MAIL = "canary.person.7731@example.org"
ACTIONS = {"resolve": {"action": "resolve_next"}, "ignore": {"until": "count", "count": "3"}, "reopen": {},
           "notes": {"note": "flaky since the cache change"}, "link": {"url": "https://tracker.example/issues/12"}}


@pytest.fixture
def client(dash: Any) -> TestClient:
    return TestClient(dash.app, base_url=ORIGIN)


def _actor(dash: Any, name: str) -> str:
    return next(f"user:{u.user_id}" for u in dash.access.list_users() if u.name == name)


def _post(client: TestClient, path: str, token: str, **data: str) -> Any:
    return client.post(path, data={"csrf": token, **data}, headers={"Origin": ORIGIN}, follow_redirects=False)


def _row(dash: Any, gid: int) -> Any:
    with dash.storage.engine.connect() as conn:
        return conn.execute(sa.select(crash_groups).where(crash_groups.c.id == gid)).one()


def test_each_action_is_audited_with_its_actor(client: TestClient, dash: Any) -> None:
    """Resolve in the next release, ignore for 3 reports, reopen, a note, a link, merge and
    unmerge: each answers 303 and leaves one audit entry naming the developer; the page then
    shows the note and the link (rel="noopener noreferrer")."""
    _login(client, "dev")
    gid, other = dash.group_ids["load"], dash.group_ids["fetch"]
    base = f"/dashboard/p/demo/groups/{gid}"
    token = _csrf(client.get(base).text)
    codes = [_post(client, f"{base}/{path}", token, **data).status_code for path, data in ACTIONS.items()]
    resolved = _row(dash, gid)
    codes.append(_post(client, f"{base}/merge", token, groups=f"#{other}").status_code)
    merged_into = _row(dash, other).merged_into
    page = client.get(base).text
    codes.append(_post(client, f"/dashboard/p/demo/groups/{other}/unmerge", token).status_code)
    entries = dash.audit.entries(actions=["group.status", "group.note.add", "group.link", "group.merge",
                                          "group.unmerge"])
    dev = _actor(dash, "dev")
    assert [303] * 7 == codes
    assert (["group.status"] * 3 + ["group.note.add", "group.link", "group.merge", "group.unmerge"],
            {dev}) == ([e.action for e in entries], {e.actor for e in entries})
    assert ({"status": "ignored", "ignored_for": 3}, {"host": "tracker.example"}, gid, "open", None) == (
        entries[1].details, entries[4].details, merged_into, resolved.status, resolved.resolved_after)
    assert ("flaky since the cache change" in page, 'href="https://tracker.example/issues/12" rel="noopener noreferrer"'
            in page, f"group {other}" in page) == (True, True, True)


def test_resolve_next_names_the_newest_release(client: TestClient, dash: Any) -> None:
    """"Resolve in the next release" records the project's newest release (1.2.0) and says so."""
    _login(client, "dev")
    gid = dash.group_ids["render"]
    base = f"/dashboard/p/demo/groups/{gid}"
    answer = _post(client, f"{base}/resolve", _csrf(client.get(base).text), action="resolve_next")
    page = client.get(base).text
    row = _row(dash, gid)
    assert (303, "resolved", "1.2.0", True) == (answer.status_code, row.status, row.resolved_after,
                                                "resolved in the next release after 1.2.0" in page)


def test_viewer_cannot_triage_and_every_form_needs_the_csrf_token(client: TestClient, dash: Any) -> None:
    """A viewer's posts are 404s (nothing to enumerate); a developer's post without the token or
    from another origin is a 403; nothing changes and nothing is audited."""
    gid = dash.group_ids["load"]
    base = f"/dashboard/p/demo/groups/{gid}"
    paths = [*ACTIONS, "merge", "unmerge", "notes/1/delete"]
    _login(client, "viewer")
    viewer = [_post(client, f"{base}/{p}", _csrf(client.get(base).text), **ACTIONS.get(p, {})).status_code
              for p in paths]
    dev = TestClient(dash.app, base_url=ORIGIN)
    _login(dev, "dev")
    token = _csrf(dev.get(base).text)
    forged = [_post(dev, f"{base}/{p}", "0" * 64, **ACTIONS.get(p, {})).status_code for p in paths]
    evil = [dev.post(f"{base}/{p}", data={"csrf": token, **ACTIONS.get(p, {})},
                     headers={"Origin": "https://evil-example.com"}).status_code for p in paths]
    row = _row(dash, gid)
    assert ([404] * 8, [403] * 8, [403] * 8, "open", None, []) == (
        viewer, forged, evil, row.status, row.external_url,
        dash.audit.entries(actions=["group.status", "group.note.add", "group.link", "group.merge"]))


@pytest.mark.parametrize(("path", "data", "field"), [
    ("link", {"url": "javascript:alert(1)"}, "url"),
    ("link", {"url": "https://user:pw@tracker.example/1"}, "url"),
    ("link", {"url": "https://tracker.example/" + "a" * 1000}, "url"),
    ("ignore", {"until": "date", "date": "2020-01-01"}, "date"),
    ("ignore", {"until": "count", "count": "0"}, "count"),
    ("ignore", {"until": "someday"}, "until"),
    ("resolve", {"action": "resolve", "release": "1.0\x1b[31m"}, "release"),
    ("resolve", {"action": "explode"}, "action"),
    ("notes", {"note": "   "}, "note"),
    ("notes", {"note": "x" * 2001}, "note"),
    ("merge", {"groups": "1; DROP TABLE"}, "groups"),
])
def test_a_bad_form_is_a_400_naming_the_field(client: TestClient, dash: Any, path: str, data: dict[str, str],
                                              field: str) -> None:
    """Each malformed triage form answers 400 with the field's name, echoes nothing, changes nothing."""
    _login(client, "dev")
    gid = dash.group_ids["load"]
    base = f"/dashboard/p/demo/groups/{gid}"
    answer = _post(client, f"{base}/{path}", _csrf(client.get(base).text), **data)
    echoed = len(data[field]) > 5 and data[field] in answer.text
    assert (400, True, False, "open", None) == (answer.status_code, f"{field}:" in answer.text, echoed,
                                               _row(dash, gid).status, _row(dash, gid).external_url)


def test_merging_a_group_into_itself_or_twice_is_refused(client: TestClient, dash: Any) -> None:
    _login(client, "dev")
    gid, other, foreign = dash.group_ids["load"], dash.group_ids["fetch"], dash.group_ids["other"]
    base = f"/dashboard/p/demo/groups/{gid}"
    token = _csrf(client.get(base).text)
    itself = _post(client, f"{base}/merge", token, groups=str(gid)).status_code
    stranger = _post(client, f"{base}/merge", token, groups=str(foreign)).status_code
    first = _post(client, f"{base}/merge", token, groups=str(other)).status_code
    again = _post(client, f"/dashboard/p/demo/groups/{dash.group_ids['render']}/merge", token,
                  groups=str(other)).status_code
    resolve_merged = _post(client, f"/dashboard/p/demo/groups/{other}/resolve", token, action="resolve_now")
    assert (400, 404, 303, 400, 400) == (itself, stranger, first, again, resolve_merged.status_code)


def test_only_the_author_deletes_a_note(client: TestClient, dash: Any) -> None:
    dash.access.add_user("dev2", "dev2-password-123", actor="cli")
    dash.access.grant("dev2", "demo", "developer", actor="cli")
    gid = dash.group_ids["load"]
    base = f"/dashboard/p/demo/groups/{gid}"
    _login(client, "dev")
    token = _csrf(client.get(base).text)
    _post(client, f"{base}/notes", token, note="mine")
    with dash.storage.engine.connect() as conn:
        note_id = conn.execute(sa.select(group_notes.c.id)).scalar_one()
    other = TestClient(dash.app, base_url=ORIGIN)
    _login(other, "dev2")
    page = other.get(base).text
    theirs = _post(other, f"{base}/notes/{note_id}/delete", _csrf(page)).status_code
    mine = _post(client, f"{base}/notes/{note_id}/delete", token).status_code
    deleted = [e.details for e in dash.audit.entries(actions=["group.note.delete"])]
    assert (False, 404, 303, [{"note": note_id}]) == ("Delete your note" in page, theirs, mine, deleted)


def test_canary_a_planted_email_in_a_note_reaches_no_page_and_no_audit_entry(client: TestClient, dash: Any) -> None:
    """A note holding an e-mail address is stored redacted: the address is not in the database,
    the group page, the group list, the public summary or the audit trail; the note's text is
    never on the list or the public pages at all."""
    _login(client, "dev")
    gid = dash.group_ids["load"]
    base = f"/dashboard/p/demo/groups/{gid}"
    answer = _post(client, f"{base}/notes", _csrf(client.get(base).text),
                   note=f"customer {CANARY_MAIL} says it is the sync marker-q8 button")
    with dash.storage.engine.connect() as conn:
        stored = conn.execute(sa.select(group_notes.c.body)).scalar_one()
    pages = {path: client.get(path).text for path in (base, "/dashboard/p/demo/", "/public/demo", "/public/about")}
    audited = [e.detail for e in dash.audit.entries()]
    viewer = TestClient(dash.app, base_url=ORIGIN)
    _login(viewer, "viewer")
    viewer_page = viewer.get(base).text
    assert (303, False, True) == (answer.status_code, CANARY_MAIL in stored, "marker-q8" in stored)
    assert [] == [path for path, text in pages.items() if CANARY_MAIL in text]
    assert [] == [path for path, text in pages.items() if "marker-q8" in text and path != base]
    assert (False, False) == (any(CANARY_MAIL in text or "marker-q8" in text for text in audited),
                              "marker-q8" in viewer_page)
    assert re.search(r"customer <?[a-z-]*&lt;email&gt;", pages[base]) or "&lt;email&gt;" in pages[base]


def test_a_merged_group_leaves_the_list_and_an_ended_ignore_shows_on_reading(client: TestClient, dash: Any) -> None:
    """After a merge the list links only the primary; a group ignored until a date is open again,
    with the "ignore ended" flag, when its page is read after that date (no report needed)."""
    from datetime import timedelta

    _login(client, "dev")
    gid, other, quiet = dash.group_ids["load"], dash.group_ids["fetch"], dash.group_ids["render"]
    token = _csrf(client.get(f"/dashboard/p/demo/groups/{gid}").text)
    _post(client, f"/dashboard/p/demo/groups/{gid}/merge", token, groups=str(other))
    listed = client.get("/dashboard/p/demo/").text
    day = (dash.clock[0] + timedelta(days=2)).date().isoformat()
    ignored = _post(client, f"/dashboard/p/demo/groups/{quiet}/ignore", token, until="date", date=day).status_code
    dash.clock[0] += timedelta(days=3)
    _login(client, "dev")  # the session ended meanwhile
    page = client.get(f"/dashboard/p/demo/groups/{quiet}").text
    row = _row(dash, quiet)
    assert (True, False, 303, "open", "date", True) == (
        f"/groups/{gid}\"" in listed, f"/groups/{other}\"" in listed, ignored, row.status, row.ignore_ended,
        "ignore ended (its date passed)" in page)
