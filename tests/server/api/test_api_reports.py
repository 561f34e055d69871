"""One report through the API: scope, role, reason header, and the same audit entry as a
dashboard read; planted personal data reaches no one without the reason-and-audit step."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import Any

from .conftest import NOW, _dashboard

CANARY_EMAIL = "jane.canary@example.org"
REASON = "ticket OPS-1234: crash on save"


def _plant(dash: Any) -> str:
    """A report whose message holds an e-mail address, stored raw (a redaction miss)."""
    report = _dashboard._report("PaymentError", "pay", release="2.0.0", os_family="linux", install="cd" * 16,
                                message=f"payment for {CANARY_EMAIL} declined", hour=NOW - timedelta(hours=1))
    report = dataclasses.replace(report, report_id=str(uuid.uuid4()))
    dash.storage.store_report("demo", report, origin="crashveil-sdk", received_at=NOW - timedelta(hours=1),
                              redaction_hits={}, dropped_fields=())
    return report.report_id


def _read(api: Any, token: str, report_id: str, reason: str | None) -> Any:
    headers = {"Crashveil-Reason": reason} if reason is not None else {}
    return api.get(f"/api/v1/projects/demo/reports/{report_id}", token, **headers)


def test_no_report_content_without_scope_role_and_reason(api: Any) -> None:
    """Without the scope (403 naming it), a role that reads reports (viewer, officer: 403), or
    a reason (403), the answer holds nothing of the report and no read is audited."""
    report_id = _plant(api.dash)
    before = len(api.dash.audit.entries(actions=["report.read"]))
    answers = [_read(api, api.token("dev", scopes=["groups:read"]), report_id, REASON),
               _read(api, api.token("viewer", scopes=["admin"]), report_id, REASON),
               _read(api, api.token("officer", scopes=["admin"]), report_id, REASON),
               _read(api, api.token("dev", scopes=["reports:read"]), report_id, None),
               _read(api, api.token("dev", scopes=["reports:read"]), report_id, "short"),
               _read(api, api.token("outsider", scopes=["admin"]), report_id, REASON)]
    assert [403, 403, 403, 403, 403, 404] == [a.status_code for a in answers]
    assert "insufficient_scope" == answers[0].json()["error"]
    assert not any(CANARY_EMAIL in a.text or "declined" in a.text for a in answers)
    assert before == len(api.dash.audit.entries(actions=["report.read"]))


def test_read_with_reason_is_audited_like_the_dashboards(api: Any) -> None:
    """With scope, role and reason: the developer's fields, and the audit trail gets
    ``token.use`` then ``report.read`` (actor the token's user, the reason, the fields shown),
    committed before the answer."""
    report_id = api.dash.report_ids["load"]
    token = api.token("dev", scopes=["reports:read"])
    dev_id = next(u.user_id for u in api.dash.access.list_users() if u.name == "dev")
    answer = _read(api, token, report_id, REASON)
    body = answer.json()
    use, read = api.dash.audit.entries()[-2:]
    assert (200, report_id, "KeyError") == (answer.status_code, body["report_id"], body["fields"]["crash_type"])
    assert ("token.use", f"user:{dev_id}", f"token:{token.split('_')[1]}") == (use.action, use.actor, use.subject)
    assert ("report.read", f"user:{dev_id}", f"report:{report_id}", REASON, sorted(body["fields"])) == (
        read.action, read.actor, read.subject, read.details["reason"], read.details["fields"])


def test_unknown_report_is_404(api: Any) -> None:
    token = api.token("dev", scopes=["reports:read"])
    assert [404, 404] == [_read(api, token, rid, REASON).status_code for rid in (str(uuid.uuid4()), "x" * 60)]
