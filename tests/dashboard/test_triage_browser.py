"""The triage list in a real browser (Debian's chromium, playwright) under the strict CSP:
labelled search and filter controls, keyboard-only search and navigation, inline sparklines."""

from __future__ import annotations

from .test_browser import CHROMIUM, SHOTS, _inert, _login, expect, page, pytestmark as _browser_marks, server  # noqa: F401 - fixtures

pytestmark = _browser_marks
assert CHROMIUM

_LABELS = ("Search titles, culprits and modules", "Release", "Environment", "Platform", "OS family", "Status",
           "First seen from", "First seen to", "Last seen from", "Last seen to", "Sort by")


def _tab_to(page, element_id: str, *, limit: int = 60) -> bool:  # noqa: F811
    """Press Tab until the element ``element_id`` has the focus (at most ``limit`` times)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return True
    return False


def test_search_filter_and_open_a_group_by_keyboard(page, dash) -> None:  # noqa: F811
    """Every control has a label; a developer searches and opens a group with the keyboard alone;
    the rows' sparklines are inline SVG; nothing runs and the CSP reports no violation."""
    _login(page, "dev")
    page.goto("/dashboard/p/demo/")
    expect(page.locator("#groups")).to_be_visible()
    labelled = [page.get_by_label(label, exact=True).count() for label in _LABELS]
    rows = page.locator("#groups tbody tr").count()
    sparks = page.locator("#groups svg.spark").count()
    reached_search = _tab_to(page, "f-q")
    page.keyboard.type("timeout")
    page.keyboard.press("Enter")
    page.wait_for_url("**/dashboard/p/demo/?q=timeout")
    expect(page.locator("#groups tbody tr")).to_have_count(1)
    page.screenshot(path=str(SHOTS / "triage-search.png"), full_page=True)
    title = page.inner_text("#groups .group-title")
    listed_inert = _inert(page)
    page.locator("#groups .group-title").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/dashboard/p/demo/groups/{dash.group_ids['fetch']}")
    assert ([1] * len(_LABELS), 4, 4, True, "TimeoutError: timed out", (None, [], 0)) == (
        labelled, rows, sparks, reached_search, title, listed_inert)


def test_sort_by_keyboard_and_a_bad_link_is_a_clear_400(page, dash) -> None:  # noqa: F811
    """The sort select works from the keyboard (the URL holds the choice); a tampered link gets a
    400 page naming the parameter, with no script and no CSP violation."""
    _login(page, "dev")
    page.goto("/dashboard/p/demo/")
    assert _tab_to(page, "f-sort")
    page.keyboard.press("End")  # the last sort: first seen
    assert _tab_to(page, "apply")
    page.keyboard.press("Enter")
    page.wait_for_url("**/dashboard/p/demo/?sort=first_seen")
    sorted_rows = page.locator("#groups tbody tr").count()
    answer = page.goto("/dashboard/p/demo/?sort=chaos")
    assert (4, 400, True, (None, [], 0)) == (sorted_rows, answer.status, "'sort'" in page.inner_text("main"),
                                             _inert(page))
