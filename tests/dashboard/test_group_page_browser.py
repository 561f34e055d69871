"""The group page in a real browser (Debian's chromium, playwright) under the strict CSP: the
title, message, signature with source lines, inline charts with their tables, reached and
opened with the keyboard alone; hostile crash text (in the message and a source line) stays
inert; the way to one report is the reason-and-audit step."""

from __future__ import annotations

import re
import uuid

from .conftest import NOW, XSS
from .test_browser import CHROMIUM, SHOTS, _inert, _login, expect, page, pytestmark as _browser_marks, server  # noqa: F401 - fixtures

pytestmark = _browser_marks
assert CHROMIUM

#: The charts' accessible names (each an ``img`` with a title and a table beside it).
_CHARTS = ("Reports per day, last 30 days", "Reports by release", "Reports by OS family", "Reports by runtime",
           "Reports by environment")


def _tab_to(page, element_id: str, *, key: str = "Tab", limit: int = 80) -> bool:  # noqa: F811
    """Press ``key`` until the element ``element_id`` has the focus (at most ``limit`` times)."""
    for _ in range(limit):
        page.keyboard.press(key)
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return True
    return False


def _plant(dash) -> int:
    """A group whose newest report has hostile text in its message and in an in-app source line."""
    import sqlalchemy as sa

    from crashveil.policy import compute_fingerprint, default_policy, policy_digest
    from crashveil.server.db.tables import crash_groups
    from crashveil.server.ingest.redaction import memoised_redactor, redact_report
    from crashveil.wire import Environment, Frame, Report, Stack
    from crashveil.wire.report import SourceLine

    frames = (Frame("app/main.py", "main", 10, True), Frame("app/views/cart.py", "checkout", 88, True))
    for index in range(6):
        report = Report(schema_version=1, policy_digest=policy_digest(default_policy()), consent_level="diagnostic",
                        report_id=str(uuid.uuid4()), crash_type="CartError",
                        fingerprint=compute_fingerprint("CartError", frames), stack=Stack(frames), release="3.0.0",
                        install_id=f"{index:032x}", occurred_hour=NOW.strftime("%Y-%m-%dT%H:00Z"),
                        message=f"cart {XSS} failed", deployment="production",
                        source_context=(SourceLine(1, f"raise CartError(render({XSS!r}))"),),
                        environment=Environment("linux", "6", "cpython", "3.12", "x86_64"))
        clean, hits = redact_report(report, memoised_redactor(default_policy()))
        dash.storage.store_report("demo", clean, origin="crashveil-sdk", received_at=NOW, redaction_hits=hits,
                                  dropped_fields=())
    with dash.storage.engine.connect() as conn:
        return int(conn.execute(sa.select(crash_groups.c.id).where(crash_groups.c.crash_type == "CartError"))
                   .scalar_one())


def test_the_group_page_by_keyboard_under_the_strict_csp(page, dash) -> None:  # noqa: F811
    """A developer sees title, message, culprit, the signature with the in-app source line and
    five labelled inline charts; opens the daily table and then (back up the page) the newest
    report's reason step with the keyboard alone; no script runs and the CSP reports no violation."""
    gid = _plant(dash)
    _login(page, "dev")
    page.goto(f"/dashboard/p/demo/groups/{gid}")
    expect(page.locator("#signature")).to_be_visible()
    charts = [page.get_by_role("img", name=re.compile("^" + re.escape(name))).count() for name in _CHARTS]
    inline = page.locator("svg.chart").count()
    figures = [page.get_by_role("figure", name=name).count()
               for name in ("By release", "By OS family", "By runtime", "By environment")]
    message = page.inner_text("#group-message")
    source = page.inner_text("pre.source")
    frames = page.locator("ol.signature li").count()
    hidden_before = page.locator("#daily table").is_visible()
    reached_table = _tab_to(page, "daily-table-toggle")
    page.keyboard.press("Enter")
    expect(page.locator("#daily table")).to_be_visible()
    page.screenshot(path=str(SHOTS / "group-page.png"), full_page=True)
    inert = _inert(page)
    reached_link = _tab_to(page, "open-newest", key="Shift+Tab")  # the signature comes before the charts
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/dashboard/p/demo/reports/[0-9a-f-]+$"))
    expect(page.get_by_label("Reason")).to_be_visible()
    assert ([1] * len(_CHARTS), 5, [1] * 4, True, True, 2, False, True, True, (None, [], 0), (None, [], 0)) == (
        charts, inline, figures, message.startswith("cart "), "raise CartError(render(" in source, frames,
        hidden_before, reached_table, reached_link, inert, _inert(page))
