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

