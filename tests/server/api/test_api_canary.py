"""Canaries: planted personal data in a crash message never reaches an API answer for roles the
policy does not let read messages, and a list's title parts are the dashboard's for the same roles.

The message is stored twice: through the server's redaction (as ingest does) and, to model a
redaction miss, raw. A viewer's token (scope ``admin``, so only the role limits it) must get
neither, in the list, a search, one group, or the project list; a developer's token gets the
same title parts the developer's dashboard shows, and never the redacted e-mail address.
"""

from __future__ import annotations

import dataclasses
import html
import re
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from crashveil.policy import default_policy
from crashveil.server.db.tables import reports
from crashveil.server.ingest.redaction import memoised_redactor, redact_report

from .conftest import NOW, _dashboard

CANARY_EMAIL = "jane.canary@example.org"
CANARY_MESSAGE = f"payment for {CANARY_EMAIL} declined"
GROUPS = "/api/v1/projects/demo/groups"


def _store(dash: Any, function: str, *, redact: bool) -> None:
    report = _dashboard._report("PaymentError", function, release="2.0.0", os_family="linux", install="ab" * 16,
                                message=CANARY_MESSAGE, hour=NOW - timedelta(hours=1))
    report = dataclasses.replace(report, report_id=str(uuid.uuid4()))
    hits: dict[tuple[str, str], int] = {}
    if redact:
        report, hits = redact_report(report, memoised_redactor(default_policy()))
    dash.storage.store_report("demo", report, origin="crashveil-sdk", received_at=NOW - timedelta(hours=1),
                              redaction_hits=hits, dropped_fields=())


def _every_answer(api: Any, token: str) -> list[str]:
    bodies = [api.get("/api/v1/projects", token).text]
    for query in ("", "?q=PaymentError", "?q=jane", "?q=canary", "?q=declined", "?sort=trend"):
        listed = api.get(f"{GROUPS}{query}", token)
        bodies.append(listed.text)
        bodies += [api.get(f"{GROUPS}/{g['id']}", token).text for g in listed.json()["groups"]]
    return bodies


def _dashboard_titles(api: Any, user: str) -> list[str]:
    page = api.client.get("/dashboard/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
    api.client.post("/dashboard/login", data={"nonce": nonce, "name": user, "password": f"{user}-password-123"},
                    headers={"Origin": "http://testserver"}, follow_redirects=False)
    listed = api.client.get("/dashboard/p/demo/?q=PaymentError").text
    api.client.cookies.clear()
    return sorted(html.unescape(re.sub(r"<[^>]+>", "", t)).strip()
                  for t in re.findall(r'class="group-title"[^>]*>(.*?)</a>', listed, re.S))


def _api_titles(api: Any, token: str) -> list[str]:
    groups = api.get(f"{GROUPS}?q=PaymentError", token).json()["groups"]
    return sorted(g["type"] + (f": {g['message']}" if g["message"] is not None else "") for g in groups)


def test_viewer_token_never_gets_the_message_even_unredacted(api: Any) -> None:
    _store(api.dash, "pay", redact=True)
    _store(api.dash, "charge", redact=False)
    token = api.token("viewer", scopes=["admin"])
    bodies = _every_answer(api, token)
    joined = "\n".join(bodies)
    groups = api.get(f"{GROUPS}?q=PaymentError", token).json()["groups"]
    assert (False, False, 2, {None}, {None}) == (
        CANARY_EMAIL in joined, "declined" in joined, len(groups), {g["message"] for g in groups},
        {g["culprit"] for g in groups})


def test_developer_token_sees_the_dashboards_title_parts_and_no_redacted_address(api: Any) -> None:
    _store(api.dash, "pay", redact=True)
    dev, viewer = api.token("dev", scopes=["groups:read"]), api.token("viewer", scopes=["groups:read"])
    dev_titles = _api_titles(api, dev)
    assert dev_titles == _dashboard_titles(api, "dev")
    assert _api_titles(api, viewer) == _dashboard_titles(api, "viewer") == ["PaymentError"]
    assert "declined" in dev_titles[0] and CANARY_EMAIL not in "\n".join(_every_answer(api, dev))


def test_no_new_operation_answers_with_planted_data_without_the_audited_read(api: Any) -> None:
    """With the message stored raw (a redaction miss) and redacted, no answer of the releases,
    aggregates, project, public-summary, token or audit operations holds the planted address,
    for a token holding every scope and role; a report read without a reason is 403 without
    it; only the read with a reason returns content, after its ``report.read`` entry."""
    _store(api.dash, "pay", redact=True)
    _store(api.dash, "charge", redact=False)
    api.dash.access.grant("dev", "demo", "privacy-officer", actor="cli")
    _, token = api.dash.access.create_token("dev", "all", projects=["demo"], roles=["developer", "privacy-officer"],
                                            actor="cli", scopes=["admin"])
    demo = "/api/v1/projects/demo"
    paths = ["/api/v1/projects", demo, f"{demo}/releases?limit=30", f"{demo}/aggregates?days=30&limit=500",
             f"{demo}/public-summary", "/api/v1/tokens", f"{demo}/audit?limit=200"]
    bodies = [api.get(path, token).text for path in paths]
    bodies += _every_answer(api, api.token("viewer", scopes=["admin"]))
    with api.dash.storage.engine.connect() as conn:
        planted = conn.execute(sa.select(reports.c.report_id).where(reports.c.release == "2.0.0")).scalars().all()
    unread = [api.get(f"{demo}/reports/{rid}", token) for rid in planted]
    assert ([403] * 2, False) == ([a.status_code for a in unread],
                                  any(CANARY_EMAIL in b for b in [*bodies, *(a.text for a in unread)]))
    read = api.get(f"{demo}/reports/{planted[0]}", token, **{"Crashveil-Reason": "ticket CV-18 canary check"})
    entry = api.dash.audit.entries()[-1]
    assert (200, "report.read", "ticket CV-18 canary check") == (read.status_code, entry.action,
                                                                entry.details.get("reason"))
