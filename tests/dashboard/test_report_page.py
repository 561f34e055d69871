"""The report page (issue 17): a readable trace, the breadcrumb timeline, the policy's field
groups with their consent levels, raw JSON behind a toggle, and only what the role may see.

Reports are stored through the real storage (encrypted detail) and opened through the real
reason form, access check and audit trail (``conftest.dash``)."""

from __future__ import annotations

import re
import uuid
import warnings
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from crashveil.policy import compute_fingerprint, default_policy_path
from crashveil.wire import ChainedError, Frame, Report, Stack

from .conftest import NOW
from .test_views import ORIGIN, _csrf, _login

#: A chained error's message only a role that may see ``message`` may read.
CHAINED_SECRET = "chained-message-only-for-message-readers"


@pytest.fixture
def client(dash: Any) -> TestClient:
    return TestClient(dash.app, base_url=ORIGIN)


def _policy_text(**access: list[str]) -> str:
    """The shipped policy with the ``access`` lists of some fields replaced."""
    text = default_policy_path().read_text()
    for name, roles in access.items():
        section = re.search(rf"\[fields\.{name}\]\n(?:.+\n)*?access = (\[.*\])\n", text)
        assert section is not None, name
        start, end = section.span(1)
        text = text[:start] + repr(roles).replace("'", '"') + text[end:]
    return text


def _store(dash: Any, report: Report) -> str:
    dash.storage.store_report("demo", report, origin="crashveil-sdk", received_at=NOW, redaction_hits={},
                              dropped_fields=())
    return report.report_id


def _chained_report(digest: str) -> Report:
    frames = (Frame("app/main.py", "main", 10, True), Frame("app/save.py", "save", 42, True))
    return Report(schema_version=1, policy_digest=digest, consent_level="diagnostic", report_id=str(uuid.uuid4()),
                  crash_type="RuntimeError", fingerprint=compute_fingerprint("RuntimeError", frames),
                  stack=Stack(frames), message="could not save",
                  chain=(ChainedError("cause", "OSError", message=CHAINED_SECRET,
                                      stack=Stack((Frame("app/disk.py", "write", 7, True),))),))


def _open(client: TestClient, report_id: str, reason: str = "ticket 42: reading the trace") -> Any:
    form = client.get(f"/dashboard/p/demo/reports/{report_id}")
    return client.post(f"/dashboard/p/demo/reports/{report_id}", data={"csrf": _csrf(form.text), "reason": reason},
                       headers={"Origin": ORIGIN})


def test_a_chained_message_stays_hidden_from_a_role_without_the_message_field(client: TestClient, dash: Any) -> None:
    """A policy that shows ``chain`` but not ``message`` to developers: the chained error's type
    and frames are on the page, its message (part of the ``message`` field) is not."""
    text = _policy_text(message=["admin"])
    digest = dash.storage.set_policy("demo", text)
    rid = _store(dash, _chained_report(digest))
    _login(client, "dev")
    page = _open(client, rid)
    assert (200, True, True, False, False) == (page.status_code, "OSError" in page.text, "app/disk.py" in page.text,
                                               CHAINED_SECRET in page.text, "could not save" in page.text)



def _full_report() -> Report:
    """A crash in a worker thread: a chain of two, library frames, source lines, breadcrumbs."""
    from crashveil.policy import default_policy, policy_digest
    from crashveil.wire.report import Breadcrumb, Environment, SourceLine, Tag

    frames = (Frame("app/main.py", "main", 10, True), Frame("click/core.py", "invoke", 700, False),
              Frame("click/core.py", "main", 800, False), Frame("app/save.py", "save", 42, True))
    return Report(
        schema_version=1, policy_digest=policy_digest(default_policy()), consent_level="diagnostic",
        report_id=str(uuid.uuid4()), crash_type="RuntimeError", fingerprint=compute_fingerprint("RuntimeError", frames),
        mechanism="thread", stack=Stack(frames, elided=2), message="could not save <b>the draft</b>",
        chain=(ChainedError("cause", "OSError", "errno:28", "no space left",
                            Stack((Frame("app/disk.py", "write", 7, True),))),
               ChainedError("context", "KeyError", message="'path'")),
        source_context=(SourceLine(3, "    store.save(draft)"),),
        breadcrumbs=(Breadcrumb(65, "navigation", "opened settings"), Breadcrumb(3, "ui.click", "clicked save")),
        environment=Environment("linux", "12", "cpython", "3.11", "x86_64"), release="2.0.0",
        tags=(Tag("feature", "export"),), occurred_hour="2026-05-20T11:00Z")


def _in_order(text: str, *parts: str) -> bool:
    """Whether ``parts`` occur in ``text`` in this order."""
    at = 0
    for part in parts:
        at = text.find(part, at)
        if at < 0:
            return False
        at += len(part)
    return True


def test_the_page_shows_chain_thread_frames_source_lines_breadcrumbs_and_fields(client: TestClient,
                                                                                dash: Any) -> None:
    """The trace reads as Python prints it (oldest error first, each link's sentence, the reported
    error last, frames innermost last, the source line under its frame), the thread is named,
    library frames are folded, breadcrumbs run oldest first up to the crash, fields sit in the
    policy's classes with their consent levels, and the raw JSON is a closed toggle."""
    rid = _store(dash, _full_report())
    _login(client, "dev")
    page = _open(client, rid).text
    assert _in_order(page, "<code>KeyError</code>", "During handling of the above exception",
                     "<code>OSError</code>", "errno:28", "app/disk.py",
                     "The above exception was the direct cause of the following exception",
                     "<code>RuntimeError</code>", "app/main.py", "2 library frames", "click/core.py",
                     "app/save.py", "store.save(draft)")
    assert _in_order(page, 'id="breadcrumbs"', "1 min 5 s before", "opened settings", "3 s before",
                     "clicked save", "at the crash")
    assert _in_order(page, 'id="fields"', "<h3", "technical", 'id="field-release"', "crash</span>",
                     "quasi-identifier", 'id="field-environment"', "free-text", 'id="field-message"',
                     "diagnostic</span>", '<details id="raw-json">', "&#34;crash_type&#34;: &#34;RuntimeError&#34;")
    assert ("thread other than the main thread" in page, "could not save &lt;b&gt;the draft&lt;/b&gt;" in page,
            "<b>the draft" in page, '<details id="raw-json" open' in page) == (True, True, False, False)


def test_the_page_has_no_inline_script_or_style(client: TestClient, dash: Any) -> None:
    """Under ``style-src 'self'`` and ``script-src 'self'`` nothing inline would run: there is none."""
    rid = _store(dash, _full_report())
    _login(client, "dev")
    page = _open(client, rid).text
    assert [] == re.findall(r"<script|<style|\sstyle=|\son[a-z]+=|javascript:", page)


def test_no_detail_without_a_reason_and_the_audit_names_what_the_page_shows(client: TestClient, dash: Any) -> None:
    """A short reason: 400, nothing decrypted, no audit entry, no report text. A good one: one
    entry, whose field list is exactly the fields the page lists."""
    rid = _store(dash, _full_report())
    _login(client, "dev")
    before = dash.storage.details_decrypted
    refused = _open(client, rid, reason="short")
    refused_state = (refused.status_code, dash.storage.details_decrypted - before,
                     len(dash.audit.entries(actions=["report.read"])), "store.save" in refused.text)
    opened = _open(client, rid)
    entries = dash.audit.entries(actions=["report.read"])
    listed = sorted(re.findall(r'<tr id="field-([a-z_]+)">', opened.text))
    assert ((400, 0, 0, False), 1, listed) == (refused_state, len(entries), entries[0].details["fields"])
