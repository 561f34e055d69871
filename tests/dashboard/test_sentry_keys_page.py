"""The Sentry keys page: per DSN key, events stored and what was dropped and why (counts only)."""

from __future__ import annotations

import re
import warnings

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from crashveil.server.dashboard.headers import CSP
from crashveil.server.sentry.keys import SentryKeys
from crashveil.server.sentry.outcomes import OutcomeRecorder

ORIGIN = "http://testserver"


def _login(client: TestClient, name: str) -> None:
    page = client.get("/dashboard/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    answer = client.post("/dashboard/login", data={"nonce": nonce, "name": name, "password": f"{name}-password-123"},
                         headers={"Origin": ORIGIN}, follow_redirects=False)
    assert 303 == answer.status_code


def _seed(dash) -> str:  # type: ignore[no-untyped-def]
    """A key of demo with outcomes: 20 stored, 1 refused per user, 39 the SDK discarded, fields."""
    project, key = SentryKeys(dash.storage.engine).create_key("demo", label="<b>web</b>", level="diagnostic")
    assert project.key_id is not None
    recorder = OutcomeRecorder(dash.storage.engine)
    recorder.add(project.key_id, "event", "error", "accepted", 20)
    recorder.add(project.key_id, "event", "error", "user_rate_limited")
    recorder.add(project.key_id, "client", "error", "ratelimit_backoff", 39)
    recorder.add(project.key_id, "item", "session", "unsupported_item_type", 3)
    recorder.add(project.key_id, "field", "tags", "not_allowlisted", 20)
    recorder.add(project.key_id, "field", "user.email", "not_allowlisted", 20)
    recorder.close()
    return key


def test_a_viewer_sees_stored_and_dropped_counts_per_key(dash) -> None:  # type: ignore[no-untyped-def]
    """Any role on the project sees each key's prefix (never the key), level, events stored,
    drops by reason and fields left out; labels are escaped; the strict CSP applies."""
    key = _seed(dash)
    client = TestClient(dash.app, base_url=ORIGIN)
    _login(client, "viewer")
    page = client.get("/dashboard/p/demo/sentry")
    text = page.text
    assert (200, CSP) == (page.status_code, page.headers["content-security-policy"])
    assert (True, False) == (f"{key[:8]}…" in text, key in text)
    assert (True, False) == ("&lt;b&gt;web&lt;/b&gt;" in text, "<b>web</b>" in text)
    row = re.search(r"<td class=\"num\">(\d+)</td>\s*<td>(.*?)</td>", text, re.S)
    assert row is not None
    assert "20" == row.group(1)
    assert ["client:ratelimit_backoff 39", "unsupported_item_type 3", "user_rate_limited 1"] == sorted(
        re.findall(r'<span class="dropped">([^<]+)</span>', row.group(2)))
    assert all(f"<code>{path}</code>" in text for path in ("tags", "user.email"))


def test_the_page_is_scoped_to_the_users_projects(dash) -> None:  # type: ignore[no-untyped-def]
    """A user without a role on the project gets 404, as for its other pages; no session: log-in."""
    _seed(dash)
    anonymous = TestClient(dash.app, base_url=ORIGIN).get("/dashboard/p/demo/sentry", follow_redirects=False)
    client = TestClient(dash.app, base_url=ORIGIN)
    _login(client, "outsider")
    assert (303, 404, 200) == (anonymous.status_code, client.get("/dashboard/p/demo/sentry").status_code,
                               client.get("/dashboard/p/other/sentry").status_code)
