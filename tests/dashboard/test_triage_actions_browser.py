"""The group page's triage controls in a real browser (Debian's chromium, playwright) under the
strict CSP: every control labelled, and a developer ignores, notes, links, resolves in the next
release and merges with the keyboard alone; nothing runs and no CSP violation is reported."""

from __future__ import annotations

from .test_browser import CHROMIUM, SHOTS, _inert, _login, expect, page, pytestmark as _browser_marks, server  # noqa: F401 - fixtures
from .test_triage_browser import _tab_to

pytestmark = _browser_marks
assert CHROMIUM

_LABELS = ("Fixed in release", "Ignore until", "Date (UTC)", "Further reports", "Assigned to",
           "External issue (http or https; empty removes it)",
           "Merge groups into this one (numbers, comma-separated)",
           "Add a note (staff only; personal data is redacted)")


def _submit_from(page, element_id: str) -> None:  # noqa: F811
    assert _tab_to(page, element_id, limit=80), element_id
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_triage_by_keyboard_under_the_strict_csp(page, dash) -> None:  # noqa: F811
    _login(page, "dev")
    gid, other = dash.group_ids["fetch"], dash.group_ids["load"]
    page.goto(f"/dashboard/p/demo/groups/{gid}")
    labelled = [page.get_by_label(label, exact=True).count() for label in _LABELS]

    assert _tab_to(page, "ignore-until", limit=80)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # "more reports"
    assert _tab_to(page, "ignore-count")
    page.keyboard.type("5")
    page.keyboard.press("Tab")  # the Ignore button
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#triage-state")).to_contain_text("ignored until it reaches")

    assert _tab_to(page, "note-text", limit=80)
    page.keyboard.type("<b>seen</b> after the cache change")
    _submit_from(page, "note-add")
    expect(page.locator("#notes .note-body")).to_have_text("<b>seen</b> after the cache change")

    assert _tab_to(page, "issue-url", limit=80)
    page.keyboard.press("Control+A")
    page.keyboard.type("https://tracker.example/issues/7")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#external-issue")).to_have_attribute("rel", "noopener noreferrer")

    assert _tab_to(page, "merge-groups", limit=80)
    page.keyboard.type(str(other))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#merged-groups")).to_contain_text(f"group {other}")

    _submit_from(page, "resolve-next")
    expect(page.locator("#triage-state")).to_contain_text("resolved in the next release after 1.2.0")
    page.screenshot(path=str(SHOTS / "group-triage.png"), full_page=True)
    actions = [e.action for e in dash.audit.entries(actions=["group.status", "group.note.add", "group.link",
                                                            "group.merge"])]
    assert ([1] * len(_LABELS), (None, [], 0), ["group.status", "group.note.add", "group.link", "group.merge",
                                                 "group.status"]) == (labelled, _inert(page), actions)
