"""The dashboard over real storage, access and audit, through Starlette's test client."""

from __future__ import annotations

import re
import warnings
from datetime import timedelta

import pytest

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from crashveil.server.dashboard.headers import CSP

from .conftest import XSS

ORIGIN = "http://testserver"


def _login(client: TestClient, name: str) -> str:
    page = client.get("/dashboard/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
    answer = client.post("/dashboard/login", data={"nonce": nonce, "name": name, "password": f"{name}-password-123"},
                         headers={"Origin": ORIGIN}, follow_redirects=False)
    assert 303 == answer.status_code
    return answer.headers["location"]


def _csrf(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


@pytest.fixture
def client(dash) -> TestClient:
    """A test client of the dashboard app."""
    return TestClient(dash.app, base_url=ORIGIN)


def test_pages_need_a_session(client) -> None:
    """Without a session, a project page redirects to the log-in form."""
    answer = client.get("/dashboard/p/demo/", follow_redirects=False)
    assert (303, "/dashboard/login") == (answer.status_code, answer.headers["location"])


def test_every_response_carries_the_strict_csp(client) -> None:
    """The log-in page is served with the strict CSP and nosniff."""
    answer = client.get("/dashboard/login")
    assert (CSP, "nosniff") == (answer.headers["content-security-policy"], answer.headers["x-content-type-options"])


def test_login_without_the_form_nonce_is_refused(client) -> None:
    """A log-in post without the signed form nonce (login CSRF) is refused."""
    answer = client.post("/dashboard/login", data={"name": "dev", "password": "dev-password-123"},
                         headers={"Origin": ORIGIN})
    assert 403 == answer.status_code


def test_group_list_escapes_crash_strings(client, dash) -> None:
    """The group list shows the script-looking crash type as text and no raw markup."""
    _login(client, "dev")
    page = client.get("/dashboard/p/demo/?range=7d&sort=count")
    assert (200, False, True) == (page.status_code, XSS in page.text,
                                  "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page.text)


def test_affected_installations_below_k_are_hidden(client, dash) -> None:
    """Filtering to a release seen by few installations shows 'fewer than k' instead of a number."""
    _login(client, "dev")
    page = client.get("/dashboard/p/demo/?range=24h&release=0.9.0")
    assert (True, True) == ("RareError" in page.text, "fewer than 5" in page.text)


def test_other_projects_are_not_found(client, dash) -> None:
    """A developer of demo gets 404 for another project's page, group, report and plot."""
    _login(client, "dev")
    gid, rid = dash.group_ids["other"], dash.report_ids["other"]
    paths = ["/dashboard/p/other/", f"/dashboard/p/other/groups/{gid}", f"/dashboard/p/demo/groups/{gid}",
             f"/dashboard/p/other/reports/{rid}", f"/dashboard/p/demo/reports/{rid}",
             f"/dashboard/p/demo/groups/{gid}/plots/trend.svg"]
    assert [404] * len(paths) == [client.get(path).status_code for path in paths]


def test_viewer_cannot_open_reports_or_change_status(client, dash) -> None:
    """A viewer sees the group but no report and cannot post a status change."""
    _login(client, "viewer")
    gid = dash.group_ids["load"]
    page = client.get(f"/dashboard/p/demo/groups/{gid}")
    report = client.get(f"/dashboard/p/demo/reports/{dash.report_ids['load']}")
    status = client.post(f"/dashboard/p/demo/groups/{gid}/status",
                         data={"csrf": _csrf(page.text), "action": "resolve", "release": "1.2.0"},
                         headers={"Origin": ORIGIN})
    assert (200, 404, 404, False) == (page.status_code, report.status_code, status.status_code,
                                      "Representative" in page.text and "app/load.py" in page.text)


def test_reading_a_report_needs_a_reason_and_is_audited(client, dash) -> None:
    """A report opens only after a reason, shows the developer's fields, and leaves an audit entry."""
    _login(client, "dev")
    rid = dash.report_ids["render"]
    form = client.get(f"/dashboard/p/demo/reports/{rid}")
    short = client.post(f"/dashboard/p/demo/reports/{rid}", data={"csrf": _csrf(form.text), "reason": "x"},
                        headers={"Origin": ORIGIN})
    opened = client.post(f"/dashboard/p/demo/reports/{rid}",
                         data={"csrf": _csrf(form.text), "reason": "ticket 42: render crash"},
                         headers={"Origin": ORIGIN})
    entries = [e for e in dash.audit.entries(actions=["report.read"])]
    assert (400, 200, False, True, 1, "ticket 42: render crash") == (
        short.status_code, opened.status_code, XSS in opened.text, "&lt;script&gt;window.__pwned=1" in opened.text,
        len(entries), entries[0].details["reason"])


def test_status_change_needs_the_csrf_token(client, dash) -> None:
    """A status post with a wrong token, or from another origin, is refused and changes nothing."""
    _login(client, "dev")
    gid = dash.group_ids["load"]
    page = client.get(f"/dashboard/p/demo/groups/{gid}")
    no_token = client.post(f"/dashboard/p/demo/groups/{gid}/status", data={"csrf": "0" * 64, "action": "ignore"},
                           headers={"Origin": ORIGIN})
    evil = client.post(f"/dashboard/p/demo/groups/{gid}/status", data={"csrf": _csrf(page.text), "action": "ignore"},
                       headers={"Origin": "https://evil-example.com"})
    null = client.post(f"/dashboard/p/demo/groups/{gid}/status", data={"csrf": _csrf(page.text), "action": "ignore"},
                       headers={"Origin": "null"})
    assert (403, 403, 403, "open") == (no_token.status_code, evil.status_code, null.status_code,
                                       dash.storage.group("demo", gid).status)


def test_resolving_in_a_release_answers_receipts_fixed(client, dash) -> None:
    """Resolving a group in 1.3.0 makes its receipts answer 'fixed' in 1.3.0 and is audited."""
    _login(client, "dev")
    gid = dash.group_ids["load"]
    page = client.get(f"/dashboard/p/demo/groups/{gid}")
    done = client.post(f"/dashboard/p/demo/groups/{gid}/status",
                       data={"csrf": _csrf(page.text), "action": "resolve", "release": "1.3.0"},
                       headers={"Origin": ORIGIN}, follow_redirects=False)
    import sqlalchemy as sa

    from crashveil.server.db.tables import reports

    with dash.storage.engine.connect() as conn:
        receipt = conn.execute(sa.select(reports.c.receipt).where(reports.c.group_id == gid).limit(1)).scalar()
    status = dash.storage.receipt_status(receipt)
    actions = [e.action for e in dash.audit.entries(actions=["group.status"])]
    assert (303, "fixed", "1.3.0", ["group.status"]) == (done.status_code, status.status, status.fixed_in, actions)


def test_group_detail_shows_spike_correlation(client, dash) -> None:
    """The spike of the last hour is flagged and attributed to release 1.2.0."""
    _login(client, "dev")
    page = client.get(f"/dashboard/p/demo/groups/{dash.group_ids['fetch']}")
    assert (True, True) == ("It started with <strong>release 1.2.0</strong>" in page.text,
                            "volume anomaly" in page.text)


def test_group_detail_shows_which_sdk_sent_each_report(client, dash) -> None:
    """Each listed report says whether the crashveil SDK or a Sentry SDK sent it."""
    _login(client, "dev")
    page = client.get(f"/dashboard/p/demo/groups/{dash.group_ids['fetch']}")
    assert (True, False) == ("<td>crashveil SDK</td>" in page.text, "<td>Sentry SDK</td>" in page.text)


def test_plots_are_svg_images(client, dash) -> None:
    """Trend and distribution plots are served as SVG with the CSP."""
    _login(client, "dev")
    gid = dash.group_ids["render"]
    answers = [client.get(f"/dashboard/p/demo/groups/{gid}/plots/{kind}.svg") for kind in ("trend", "releases", "os",
                                                                                           "spark")]
    assert [("image/svg+xml", CSP)] * 4 == [(a.headers["content-type"].split(";")[0],
                                             a.headers["content-security-policy"]) for a in answers]


def test_privacy_officer_sees_verified_audit_trail(client, dash) -> None:
    """The privacy page reports an intact audit chain; a developer cannot open it."""
    _login(client, "officer")
    page = client.get("/dashboard/privacy")
    dev = TestClient(dash.app, base_url=ORIGIN)
    _login(dev, "dev")
    assert (200, True, 404) == (page.status_code, "the hash chain is intact" in page.text,
                                dev.get("/dashboard/privacy").status_code)


def test_public_summary_has_noisy_counts_only(client, dash) -> None:
    """The public JSON has windows of noisy counts, no pseudonyms and no crash text; a private project is 404.

    (8 weekly windows since the summary is published per window, issue #21; it was 14 days.)"""
    answer = client.get("/public/demo/summary.json")
    body = answer.text
    windows = answer.json()["windows"]
    assert (200, 8, False, False, 404) == (answer.status_code, len(windows), "0" * 31 in body, "KeyError" in body,
                                           client.get("/public/other/summary.json").status_code)


def test_public_summary_is_stable(client, dash) -> None:
    """Asking twice returns the same stored numbers."""
    first = client.get("/public/demo/summary.json").json()
    second = client.get("/public/demo/summary.json").json()
    assert first == second


def test_public_explainer_is_plain(client) -> None:
    """The explainer page is served with the CSP and explains the blurring."""
    answer = client.get("/public/about")
    assert (200, True, CSP) == (answer.status_code, "a little wrong on purpose" in answer.text,
                                answer.headers["content-security-policy"])


def test_privacy_page_names_users_and_says_when_retention_ran(client, dash) -> None:
    """Audit actors that are users show their name (the stored id stays in the title); the last
    retention run is a sentence with its age and counts."""
    from crashveil.server.governance.retention import run_retention

    dash.access.grant("officer", "*", "privacy-officer", actor="cli")
    _login(client, "officer")
    never = client.get("/dashboard/privacy").text
    run_retention(dash.storage, dash.audit, actor="cli", now=dash.clock[0] - timedelta(hours=3))
    page = client.get("/dashboard/privacy").text
    officer_id = next(u.user_id for u in dash.access.list_users() if u.name == "officer")
    assert "No retention run is recorded" in never
    assert f'title="user:{officer_id}">officer</td>' in page
    assert f">user:{officer_id}<" not in page
    said = re.search(r'<p id="retention-last-run">([^<]+)</p>', page).group(1)
    assert said.startswith("Last run 3 hours ago: deleted "), said
    assert "day keys" in said
