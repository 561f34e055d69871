"""The releases page over HTTP (SQLite and PostgreSQL): the table, the comparison by URL, clear
400s naming the parameter, 404 outside one's projects, the strict CSP, and the link to it."""

from __future__ import annotations

import html
import re
import warnings

import pytest

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from crashveil.server.dashboard.headers import CSP

from .conftest import ORIGIN, login, seed_releases


@pytest.fixture
def client(dashboard, storage) -> TestClient:
    seed_releases(storage)
    return TestClient(dashboard, base_url=ORIGIN)


def _cells(text: str, release: str) -> list[str]:
    """The text of the cells of ``release``'s row in the releases table."""
    row = re.search(rf'<th scope="row" class="release">{re.escape(release)}</th>(.*?)</tr>', text, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_the_page_lists_releases_with_health_and_adoption(client) -> None:
    """Each release's row: new, regressed, reports, installations (k), active, rate or 'no adoption
    data'; an inline chart for releases with adoption, and the table alternative."""
    login(client, "dev")
    answer = client.get("/dashboard/p/demo/releases")
    text = answer.text
    new = _cells(text, "2.0")
    assert (200, CSP, ["1", "1", "11"], "50", "no adoption data", "hidden (fewer than 5)") == (
        answer.status_code, answer.headers["content-security-policy"], new[:3], new[4], _cells(text, "1.0")[5],
        _cells(text, "1.1")[5])
    assert (True, 3, True, False) == (new[5].endswith("%"), text.count('<svg class="adoption"'),
                                      'id="adoption-table"' in text, "<script" in text)


def test_compare_by_url_shows_new_and_fixed_groups_side_by_side(client) -> None:
    """``?a=1.1&b=2.0``: the groups new in B and fixed in B, linked, and both columns of numbers."""
    login(client, "dev")
    text = client.get("/dashboard/p/demo/releases?a=1.1&b=2.0").text
    new = re.search(r'<ul class="groups-new">(.*?)</ul>', text, re.S).group(1)
    fixed = re.search(r'<ul class="groups-fixed">(.*?)</ul>', text, re.S).group(1)
    assert (True, True, True, True) == ("OSError" in new, "TypeError" in fixed, "2.0 compared with 1.1" in text,
                                        '<option value="2.0" selected>' in text)


@pytest.mark.parametrize(("query", "named"), [
    ("a=1.1", "'b'"), ("b=2.0", "'a'"), ("a=2.0&b=2.0", "'b'"), ("a=nope-alice@example.com&b=2.0", "'a'"),
    ("a=1.1&b=2.0&b=1.0", "'b'"), ("zzz=1", "'zzz'"), ("%3Cscript%3E=1", "(a parameter name)"),
])
def test_a_bad_comparison_is_a_400_naming_the_parameter(client, query, named) -> None:
    """A tampered link gets a 400 page naming the parameter, never echoing what was sent."""
    login(client, "dev")
    answer = client.get(f"/dashboard/p/demo/releases?{query}")
    assert (400, True, False, False) == (answer.status_code, named in html.unescape(answer.text),
                                         "alice" in answer.text, "<script>" in answer.text)


def test_only_members_see_it_and_the_group_list_links_it(client) -> None:
    """Another project's developer gets the same 404 as a missing project; the group list links the page;
    a viewer sees the aggregates."""
    login(client, "outsider")
    outsider = client.get("/dashboard/p/demo/releases").status_code
    client.cookies.clear()
    login(client, "viewer")
    viewer = client.get("/dashboard/p/demo/releases")
    listing = client.get("/dashboard/p/demo/")
    assert (404, 200, "50", True) == (outsider, viewer.status_code, _cells(viewer.text, "2.0")[4],
                                      'href="/dashboard/p/demo/releases"' in listing.text)
