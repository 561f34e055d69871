"""Real browser tests: Debian's chromium, driven by playwright, against the dashboard on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from _browser import CHROMIUM, SHOTS, WAIT_MS, chromium_page, serve

from .conftest import JS_URL, XSS

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=WAIT_MS)

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="apt-get install -y chromium")


@pytest.fixture
def server(dash) -> Iterator[str]:
    """The dashboard app served by uvicorn on a free loopback port (ready when its socket listens)."""
    with serve(dash.app) as url:
        yield url


@pytest.fixture
def page(server) -> Iterator[object]:
    """A fresh chromium page that records CSP violations."""
    with chromium_page(server) as pg:
        yield pg


def _login(page, name: str) -> None:
    page.goto("/dashboard/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", f"{name}-password-123")
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/")


def _inert(page) -> tuple[object, list[str], int]:
    """(what scripts set, CSP violations, number of script elements) of the current page."""
    return (page.evaluate("window.__pwned"), page.evaluate("window.__csp"),
            page.evaluate("document.querySelectorAll('script').length"))


def _images_loaded(page) -> None:
    """Wait, through locators (the page's CSP forbids the eval a string predicate needs),
    until the page has loaded and every image on it decoded with a size."""
    page.wait_for_load_state("load")
    images = page.locator("img")
    for index in range(images.count()):
        expect(images.nth(index)).to_have_js_property("complete", True)
        expect(images.nth(index)).not_to_have_js_property("naturalWidth", 0)


def test_browse_open_report_and_resolve(page, dash) -> None:
    """A developer logs in, browses groups, opens a group (no trace on it), reads the newest report's trace
    after stating a reason, and resolves the group; crash text stays inert."""
    _login(page, "dev")
    page.get_by_role("link", name="demo", exact=True).click()
    expect(page.locator("#groups")).to_be_visible()
    _images_loaded(page)
    page.screenshot(path=str(SHOTS / "groups.png"), full_page=True)
    listed = page.locator("#groups tbody tr").count()
    groups_inert = _inert(page)

    page.goto(f"/dashboard/p/demo/groups/{dash.group_ids['render']}")
    _images_loaded(page)
    page.screenshot(path=str(SHOTS / "group-detail.png"), full_page=True)
    title = page.inner_text("#group-title")
    detail_text = page.inner_text("main")
    detail_inert = _inert(page)

    page.get_by_role("link", name="Open the newest report's trace").click()
    page.fill("textarea[name=reason]", "ticket 42: the render crash in 1.2.0")
    page.get_by_role("button", name="Open the report").click()
    expect(page.locator("#report-fields")).to_be_visible()
    page.screenshot(path=str(SHOTS / "report.png"), full_page=True)
    report_text = page.inner_text("#report-fields")
    links = page.evaluate(
        "Array.from(document.querySelectorAll('a')).filter(a => a.href.startsWith('javascript')).length"
    )
    report_inert = _inert(page)

    page.goto(f"/dashboard/p/demo/groups/{dash.group_ids['render']}")
    page.fill("input[name=release]", "1.3.0")
    page.click("button[value=resolve]")
    expect(page.locator(".flags .flag").first).to_have_text("resolved in 1.3.0")
    page.screenshot(path=str(SHOTS / "resolved.png"), full_page=True)
    status = dash.storage.group("demo", dash.group_ids["render"])
    reads = [e.details["reason"] for e in dash.audit.entries(actions=["report.read"])]

    assert (4, XSS, False, True, True, True, 0, (None, [], 0), (None, [], 0), (None, [], 0),
            ("resolved", "1.3.0"), ["ticket 42: the render crash in 1.2.0"]) == (
        listed, title, "app/render.py" in detail_text, "app/render.py" in report_text, XSS in report_text,
        JS_URL in report_text, links, groups_inert, detail_inert, report_inert, (status.status, status.resolved_in),
        reads)


def test_privacy_and_public_pages_render(page, dash) -> None:
    """The privacy officer's page and the public summary render without CSP violations."""
    _login(page, "officer")
    page.goto("/dashboard/privacy")
    page.screenshot(path=str(SHOTS / "privacy.png"), full_page=True)
    verified = page.inner_text("#audit-verify")
    privacy_inert = _inert(page)
    page.goto("/public/demo")
    _images_loaded(page)
    page.screenshot(path=str(SHOTS / "public.png"), full_page=True)
    page.goto("/public/about")
    page.screenshot(path=str(SHOTS / "public-about.png"), full_page=True)
    assert (True, (None, [], 0), (None, [], 0)) == (verified.startswith("Verified"), privacy_inert, _inert(page))
