"""The report page in a real browser (Debian's chromium, playwright) under the strict CSP: the
reason form and the page's toggles work from the keyboard alone, every region, table and toggle
is labelled, crash text stays inert and the CSP reports no violation."""

from __future__ import annotations

import dataclasses
from typing import Any

from crashveil.wire.report import Breadcrumb

from .conftest import XSS
from .test_browser import CHROMIUM, SHOTS, _inert, _login, expect, page, pytestmark as _browser_marks, server  # noqa: F401 - fixtures
from .test_report_page import _full_report, _store

pytestmark = _browser_marks
assert CHROMIUM

#: Unlabelled parts of the page: sections without a heading naming them, tables without a
#: caption, toggles without text, lists of frames without a name.
UNLABELLED = """() => {
  const named = id => { const el = id && document.getElementById(id); return !!(el && el.textContent.trim()); };
  return [
    ...Array.from(document.querySelectorAll('main section, main article'))
      .filter(s => !named(s.getAttribute('aria-labelledby'))).map(s => 'section ' + s.id),
    ...Array.from(document.querySelectorAll('main table')).filter(t => !(t.caption && t.caption.textContent.trim()))
      .map(() => 'table'),
    ...Array.from(document.querySelectorAll('summary')).filter(s => !s.textContent.trim()).map(() => 'summary'),
    ...Array.from(document.querySelectorAll('ol.frames')).filter(o => !o.getAttribute('aria-label')).map(() => 'ol'),
  ];
}"""


def _tab_to(page: Any, element_id: str, *, limit: int = 80) -> bool:  # noqa: F811
    """Press Tab until the element ``element_id`` has the focus (at most ``limit`` times)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return True
    return False


def test_open_a_report_and_its_toggles_by_keyboard(page: Any, dash: Any) -> None:  # noqa: F811
    """A developer states a reason and opens the report with the keyboard; the library frames and
    the raw JSON open with Enter and Space; everything is labelled; nothing runs."""
    report = dataclasses.replace(_full_report(), message=XSS,
                                 breadcrumbs=(Breadcrumb(4, "ui.click", XSS), Breadcrumb(1, "nav", "saved")))
    rid = _store(dash, report)
    _login(page, "dev")
    page.goto(f"/dashboard/p/demo/reports/{rid}")
    reason = page.get_by_label("Reason")
    reason.focus()
    page.keyboard.type("ticket 77: the export crash in 2.0.0")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#trace")).to_be_visible()
    raw = page.locator("#raw-json pre.json")
    library = page.locator("li.library-run ol.frames").first
    closed = (raw.is_visible(), library.is_visible())
    reached_library = _tab_to(page, page.locator("li.library-run summary").first.get_attribute("id"))
    page.keyboard.press("Space")
    expect(library).to_be_visible()
    reached_raw = _tab_to(page, "raw-json-toggle")
    page.keyboard.press("Enter")
    expect(raw).to_be_visible()
    expect(page.locator("#raw-json")).to_have_js_property("open", True)
    page.screenshot(path=str(SHOTS / "report-page.png"), full_page=True)
    raw_text = raw.inner_text()
    trace_text = page.inner_text("#trace")
    crumbs = page.locator("#breadcrumbs tbody tr").all_inner_texts()
    assert ((False, False), True, True, [], True, True, True, (None, [], 0)) == (
        closed, reached_library, reached_raw, page.evaluate(UNLABELLED), '"crash_type": "RuntimeError"' in raw_text,
        XSS in trace_text, XSS in crumbs[0] and "saved" in crumbs[1] and "at the crash" in crumbs[2], _inert(page))
