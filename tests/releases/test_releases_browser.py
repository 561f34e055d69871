"""The releases page in a real browser (Debian's chromium, playwright) under the strict CSP: labelled
compare controls, a comparison chosen with the keyboard alone, inline SVG adoption charts, nothing
run and no CSP violation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _browser import CHROMIUM, SHOTS, WAIT_MS, chromium_page, serve
from _migrated import migrated_sqlite

from .conftest import seed_releases

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=WAIT_MS)

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="apt-get install -y chromium")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only here: the queries run on PostgreSQL in test_release_queries.py."""

    return migrated_sqlite(tmp_path / "crashveil.db")


@pytest.fixture
def server(dashboard, storage) -> Iterator[str]:
    """The seeded dashboard served by uvicorn on a free loopback port (ready once it listens)."""
    seed_releases(storage)
    with serve(dashboard) as url:
        yield url


@pytest.fixture
def page(server) -> Iterator[object]:
    with chromium_page(server) as pg:
        yield pg


def _login(page, name: str) -> None:
    page.goto("/dashboard/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", f"{name}-password-123")
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/")


def _inert(page) -> tuple[object, list[str], int]:
    return (page.evaluate("window.__pwned"), page.evaluate("window.__csp"),
            page.evaluate("document.querySelectorAll('script').length"))


def _tab_to(page, element_id: str, *, limit: int = 60) -> bool:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return True
    return False


def test_compare_two_releases_by_keyboard(page) -> None:
    """From the group list's link to the page; both compare controls labelled; A and B chosen and
    compared with the keyboard alone; the comparison lists the new and fixed groups; charts are
    inline SVG; nothing runs and the CSP reports no violation."""
    _login(page, "dev")
    page.goto("/dashboard/p/demo/")
    page.locator("#releases-link").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/dashboard/p/demo/releases")
    expect(page.locator("#releases")).to_be_visible()
    labelled = [page.get_by_label(label, exact=True).count() for label in ("Release A", "Release B")]
    charts = page.locator("#releases svg.adoption").count()
    listed_inert = _inert(page)
    reached = [_tab_to(page, "cmp-a")]
    page.keyboard.type("1.1")
    reached.append(_tab_to(page, "cmp-b"))
    page.keyboard.type("2.0")
    reached.append(_tab_to(page, "compare"))
    page.keyboard.press("Enter")
    page.wait_for_url("**/dashboard/p/demo/releases?a=1.1&b=2.0")
    expect(page.locator("#comparison")).to_be_visible()
    page.screenshot(path=str(SHOTS / "releases-compare.png"), full_page=True)
    new = page.inner_text("#comparison .groups-new")
    fixed = page.inner_text("#comparison .groups-fixed")
    assert ([1, 1], 3, [True, True, True], "OSError" in new, "TypeError" in fixed, (None, [], 0), (None, [], 0)) == (
        labelled, charts, reached, True, True, listed_inert, _inert(page))


def test_a_tampered_comparison_link_is_a_clear_400(page) -> None:
    """A link naming a release the page does not list gets a 400 naming the parameter, inert."""
    _login(page, "dev")
    answer = page.goto("/dashboard/p/demo/releases?a=1.1&b=%3Cimg%20src%3Dx%20onerror%3Dwindow.__pwned%3D1%3E")
    assert (400, True, (None, [], 0)) == (answer.status, "'b'" in page.inner_text("main"), _inert(page))
