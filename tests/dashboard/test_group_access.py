"""Aggregate pages show what the group record holds; a report's decrypted detail takes the
permission, a stated reason and an audit entry (issue 14, item 4)."""

from __future__ import annotations

import re
import warnings
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from .test_views import ORIGIN, _csrf, _login

#: Text only a decrypted report of the "render" group holds: its frames' files and a bare function
#: name (the group page's stack signature shows ``module.function`` code names to stack readers).
FRAME_TEXT = ("app/render.py", "app/main.py", "<code>render</code>")


@pytest.fixture
def client(dash: Any) -> TestClient:
    return TestClient(dash.app, base_url=ORIGIN)


def _reads(dash: Any) -> list[Any]:
    return dash.audit.entries(actions=["report.read"])


@pytest.mark.parametrize(("name", "role"), [("admin", "admin"), ("dev", "developer"), ("viewer", "viewer")])
def test_the_group_page_decrypts_nothing(client: TestClient, dash: Any, name: str, role: str) -> None:
    """An admin (no report-reading permission), a developer and a viewer open a group page: no
    frame text in the HTML, no report decrypted, no report.read audit entry."""
    if name == "admin":
        dash.access.add_user("admin", "admin-password-123", actor="cli")
        dash.access.grant("admin", "demo", "admin", actor="cli")
    _login(client, name)
    before = dash.storage.details_decrypted
    page = client.get(f"/dashboard/p/demo/groups/{dash.group_ids['render']}")
    assert (200, [], 0, []) == (page.status_code, [t for t in FRAME_TEXT if t in page.text],
                                dash.storage.details_decrypted - before, _reads(dash))


def test_the_group_page_shows_the_group_record(client: TestClient, dash: Any) -> None:
    """What the page does show comes from the group row: crash type (escaped), fingerprint, counts."""
    _login(client, "dev")
    gid = dash.group_ids["render"]
    page = client.get(f"/dashboard/p/demo/groups/{gid}").text
    group = dash.storage.group("demo", gid)
    assert (True, True, False, True) == (
        "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page, f"<code>{group.fingerprint}</code>" in page,
        "<script>window.__pwned" in page,
        re.search(r"<dt>Reports \(all time\)</dt><dd>(\d+)</dd>", page).group(1) == str(group.total_count))


def test_a_reader_with_a_reason_sees_the_trace_and_is_audited(client: TestClient, dash: Any) -> None:
    """From the group page a developer follows the newest report's link, states a reason, and
    sees its frames; one decryption, one audit entry naming the reason."""
    _login(client, "dev")
    page = client.get(f"/dashboard/p/demo/groups/{dash.group_ids['render']}").text
    link = re.search(r'href="(/dashboard/p/demo/reports/[0-9a-f-]+)"', page).group(1)
    form = client.get(link)
    before = dash.storage.details_decrypted
    opened = client.post(link, data={"csrf": _csrf(form.text), "reason": "ticket 42: render crash frames"},
                         headers={"Origin": ORIGIN})
    reads = _reads(dash)
    assert (200, True, 1, ["ticket 42: render crash frames"], f"report:{link.rsplit('/', 1)[1]}") == (
        opened.status_code, "app/render.py" in opened.text, dash.storage.details_decrypted - before,
        [e.details["reason"] for e in reads], reads[0].subject)
