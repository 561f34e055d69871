"""The triage list: titles by role, search, filters, validation, keyset pages, and canaries."""

from __future__ import annotations

import re
import uuid
import warnings
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from .conftest import NOW, XSS, _report

ORIGIN = "http://testserver"
#: Planted personal data: an e-mail address, a phone number and a card number in an exception message.
CANARY_EMAIL = "jane.canary@example.org"
CANARY_PHONE = "+44 20 7946 0958"
CANARY_CARD = "4111 1111 1111 1111"
CANARY_MESSAGE = f"payment for {CANARY_EMAIL} ({CANARY_PHONE}) declined, card {CANARY_CARD}"


def _login(client: TestClient, name: str) -> None:
    page = client.get("/dashboard/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
    answer = client.post("/dashboard/login", data={"nonce": nonce, "name": name, "password": f"{name}-password-123"},
                         headers={"Origin": ORIGIN}, follow_redirects=False)
    assert 303 == answer.status_code


def _store(dash, crash_type: str, function: str, message: str | None, *, count: int = 1, release: str = "2.0.0",
           back_hours: int = 1, deployment: str | None = None) -> None:
    """``count`` reports through the real ingest storage path (with the server's redaction first)."""
    import dataclasses

    from crashveil.policy import default_policy
    from crashveil.server.ingest.redaction import memoised_redactor, redact_report

    for j in range(count):
        moment = NOW - timedelta(hours=back_hours)
        report = _report(crash_type, function, release=release, os_family="linux", install=f"{j:032x}",
                         message=message, hour=moment)
        report = dataclasses.replace(report, report_id=str(uuid.uuid4()), deployment=deployment)
        redacted, hits = redact_report(report, memoised_redactor(default_policy()))
        dash.storage.store_report("demo", redacted, origin="crashveil-sdk", received_at=moment,
                                  redaction_hits=hits, dropped_fields=())


@pytest.fixture
def client(dash) -> TestClient:
    return TestClient(dash.app, base_url=ORIGIN)


def _titles(page: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", t) for t in re.findall(r'class="group-title"[^>]*>(.*?)</a>', page, re.S)]


def test_developer_titles_show_type_message_template_and_culprit(client, dash) -> None:
    """A developer's title is the type, the redacted message as a template, and the culprit."""
    _store(dash, "ValueError", "parse", "invalid literal for int() with base 10: 'abc'")
    _login(client, "dev")
    page = client.get("/dashboard/p/demo/?q=parse")
    assert (200, ["ValueError: invalid literal for int() with base &lt;n&gt;: &lt;str&gt;"], True) == (
        page.status_code, _titles(page.text), "app.parse.parse</code>" in page.text)


def test_viewer_titles_carry_no_message_and_search_does_not_reach_it(client, dash) -> None:
    """A viewer (no message or stack rights in the shipped policy) sees the type only and cannot
    find a group by words of its message or its culprit."""
    _store(dash, "ValueError", "parse", "invalid literal for int() with base 10: 'abc'")
    _login(client, "viewer")
    by_type = client.get("/dashboard/p/demo/?q=ValueError")
    by_message = client.get("/dashboard/p/demo/?q=literal")
    by_culprit = client.get("/dashboard/p/demo/?q=app.parse")
    assert (["ValueError"], [], [], False) == (_titles(by_type.text), _titles(by_message.text),
                                               _titles(by_culprit.text), "app.parse" in by_type.text)


def test_planted_personal_data_reaches_no_title_or_search(client, dash) -> None:
    """Canary: an e-mail address, phone and card number in an exception message reach no title,
    page or search result, for any role."""
    _store(dash, "PaymentError", "charge", CANARY_MESSAGE, count=3)
    pages = []
    for name in ("dev", "viewer"):
        _login(client, name)
        pages += [client.get("/dashboard/p/demo/").text, client.get("/dashboard/p/demo/?q=declined").text]
        pages += [client.get(f"/dashboard/p/demo/?q={needle}").text
                  for needle in ("jane.canary", "example.org", "7946", "4111")]
    # The search box shows back what the user typed; nothing else may hold it.
    shown = [re.sub(r'(id="f-q"[^>]*value=)"[^"]*"', r"\1", text) for text in pages]
    # Whole numbers (with or without spaces): a 4-digit fragment turns up by chance in the hex of
    # a page's CSRF token.
    leaked = [needle for needle in ("jane", "canary@", "example.org", "7946 0958", "79460958", "4111 1111",
                                    "4111111111111111") if any(needle in text for text in shown)]
    found = [_titles(text) for text in pages[2:6]] + [_titles(text) for text in pages[8:12]]
    assert ([], [[]] * 8, [], ["PaymentError"]) == (
        leaked, found, _titles(pages[7]), [t for t in _titles(pages[6]) if t.startswith("Payment")])


def test_list_escapes_crash_strings_in_titles(client, dash) -> None:
    """The script-looking crash type and message are text, never markup."""
    _login(client, "dev")
    page = client.get("/dashboard/p/demo/?sort=events")
    assert (200, False, True) == (page.status_code, XSS in page.text, "&lt;script&gt;" in page.text)


@pytest.mark.parametrize(("query", "name"), [
    ("status=broken", "status"), ("sort=chaos", "sort"), ("first_after=2026-13-01", "first_after"),
    ("last_before=yesterday", "last_before"), ("limit=0", "limit"), ("limit=99999999", "limit"),
    ("after=1~0", "after"), ("after=abc", "after"), ("q=" + "x" * 201, "q"), ("release=a%00b", "release"),
    ("bogus=1", "bogus"), ("status=open&status=resolved", "status"), ("range=1y", "range"),
    ("first_after=2026-05-10&first_before=2026-05-01", "first_before"), ("assignee=bob", "assignee"),
    ("assignee=user:1'--", "assignee")])
def test_bad_parameters_get_a_400_naming_them(client, dash, query: str, name: str) -> None:
    """Each malformed parameter is refused with a 400 that names it."""
    _login(client, "dev")
    page = client.get(f"/dashboard/p/demo/?{query}")
    assert (400, True) == (page.status_code, f"&#39;{name}&#39;" in page.text)


def test_filters_and_sorts_read_the_url(client, dash) -> None:
    """Release, environment, status and first-seen filters and each sort answer from the URL alone."""
    _store(dash, "StagingError", "stage", None, count=2, release="3.0.0", deployment="staging")
    _login(client, "dev")
    by_env = _titles(client.get("/dashboard/p/demo/?env=staging").text)
    by_release = _titles(client.get("/dashboard/p/demo/?release=0.9.0").text)
    by_platform = len(_titles(client.get("/dashboard/p/demo/?platform=python").text))
    first_seen = _titles(client.get(f"/dashboard/p/demo/?first_after={NOW.date().isoformat()}").text)
    statuses = [client.get(f"/dashboard/p/demo/?sort={s}&status=open").status_code
                for s in ("last_seen", "events", "installs", "trend", "first_seen")]
    assert (["StagingError"], ["RareError"], 5, True, [200] * 5) == (
        by_env, by_release, by_platform, "StagingError" in first_seen, statuses)


def test_keyset_pages_cover_every_group_once(client, dash) -> None:
    """Following 'Next page' two rows at a time lists each of the 4 groups once."""
    _login(client, "dev")
    seen: list[str] = []
    url = "/dashboard/p/demo/?sort=events&limit=2"
    for _ in range(10):
        page = client.get(url)
        assert 200 == page.status_code
        seen += re.findall(r'href="/dashboard/p/demo/groups/(\d+)"', page.text)
        following = re.search(r'rel="next" href="([^"]+)"', page.text)
        if following is None:
            break
        url = following.group(1).replace("&amp;", "&")
        assert {"sort", "limit", "after"} == set(parse_qs(urlsplit(url).query))
    assert (4, 4) == (len(seen), len(set(seen)))


def test_a_new_project_with_its_first_reports_shows_no_anomaly_banner(client, dash) -> None:
    """Two days of history and a burst in the last hour: no baseline yet, so no banner."""
    _login(client, "dev")
    page = client.get("/dashboard/p/demo/")
    assert (200, False) == (page.status_code, "Volume anomaly" in page.text)


def _csrf(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def test_assigning_a_group_is_audited_with_its_actor(client, dash) -> None:
    """A developer assigns a group to themselves and then to no one; both are audited with the
    actor; the list shows the assignee's name; an unknown user is a 400 and changes nothing."""
    _login(client, "dev")
    gid = dash.group_ids["load"]
    page = client.get(f"/dashboard/p/demo/groups/{gid}")
    me = re.search(r'<option value="(user:\d+)"\s*>dev</option>', page.text).group(1)
    url = f"/dashboard/p/demo/groups/{gid}/assign"
    assigned = client.post(url, data={"csrf": _csrf(page.text), "assignee": me}, headers={"Origin": ORIGIN})
    listed = client.get("/dashboard/p/demo/?q=KeyError").text
    unknown = client.post(url, data={"csrf": _csrf(page.text), "assignee": "user:999"}, headers={"Origin": ORIGIN})
    cleared = client.post(url, data={"csrf": _csrf(page.text), "assignee": ""}, headers={"Origin": ORIGIN})
    entries = [(e.actor, e.subject, e.details["assignee"]) for e in dash.audit.entries(actions=["group.assign"])]
    actor = entries[0][0] if entries else None
    assert (200, True, 400, 200, [(actor, f"group:{gid}", me), (actor, f"group:{gid}", "")], True) == (
        assigned.status_code, "assigned to dev" in listed, unknown.status_code, cleared.status_code, entries,
        actor == me)


def test_assigning_needs_the_csrf_token_and_a_changing_role(client, dash) -> None:
    """A post with a wrong token is refused; a viewer cannot assign (404); nothing is audited."""
    gid = dash.group_ids["load"]
    _login(client, "dev")
    forged = client.post(f"/dashboard/p/demo/groups/{gid}/assign", data={"csrf": "0" * 64, "assignee": ""},
                         headers={"Origin": ORIGIN})
    _login(client, "viewer")
    page = client.get(f"/dashboard/p/demo/groups/{gid}")
    viewer = client.post(f"/dashboard/p/demo/groups/{gid}/assign", data={"csrf": _csrf(page.text), "assignee": ""},
                         headers={"Origin": ORIGIN})
    assert (403, 404, []) == (forged.status_code, viewer.status_code,
                              list(dash.audit.entries(actions=["group.assign"])))


def test_the_assignee_filter_lists_a_users_groups_and_the_unassigned_ones(client, dash) -> None:
    """``assignee=user:<id>`` lists the groups assigned to that user, ``assignee=none`` the
    others; the filter is a labelled control of the list's form and survives in its links."""
    _login(client, "dev")
    gid = dash.group_ids["load"]
    page = client.get(f"/dashboard/p/demo/groups/{gid}")
    me = re.search(r'<option value="(user:\d+)"\s*>dev</option>', page.text).group(1)
    client.post(f"/dashboard/p/demo/groups/{gid}/assign", data={"csrf": _csrf(page.text), "assignee": me},
                headers={"Origin": ORIGIN})
    mine = client.get(f"/dashboard/p/demo/?assignee={me}&limit=1")
    unassigned = _titles(client.get("/dashboard/p/demo/?assignee=none").text)
    everyone = _titles(client.get("/dashboard/p/demo/").text)
    assert (200, ["KeyError"], sorted(everyone), "KeyError" in unassigned) == (
        mine.status_code, _titles(mine.text), sorted(unassigned + ["KeyError"]), False)
    assert '<label for="f-assignee">' in mine.text and f'value="{me}" selected' in mine.text
