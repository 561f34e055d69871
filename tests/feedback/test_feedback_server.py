"""The server side of privacy feedback: strict ingest, the inbox for the policy's roles only, audited
reads, replies and closing, the device's reply fetch, retention, erasure, the audit report, and
the canaries (planted personal data never in the database, its WAL, the logs or the pages)."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crashveil.policy import default_policy, policy_digest
from crashveil.server.feedback import store
from crashveil.server.feedback.tables import feedback_items
from crashveil.wire.canonical import canonical_json
from crashveil.wire.protocol import (
    REPLY_HANDLES_HEADER,
    SCHEMA_HEADER,
    SEALED_CONTENT_TYPE,
    feedback_path,
    feedback_replies_path,
)

from .conftest import CANARIES, NOW, ORIGIN, csrf_of, login

HEADERS = {"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"}


def item(**changes: Any) -> dict[str, Any]:
    body = {"feedback_id": secrets.token_hex(16), "policy_digest": policy_digest(default_policy()),
            "topic": "concern", "text": "Why do you keep the crash messages for a month?",
            "reply_digest": hashlib.sha256(b"x").hexdigest()}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def post(api: Any, seal: Any, body: dict[str, Any] | bytes) -> Any:
    raw = body if isinstance(body, bytes) else canonical_json(body)
    return api.post(feedback_path("demo"), content=seal(raw), headers=HEADERS)


def rows(storage: Any) -> list[Any]:
    with storage.engine.connect() as conn:
        return list(conn.execute(sa.select(feedback_items).order_by(feedback_items.c.id)).all())


BAD = [
    (b"not json", 400, None),
    (canonical_json([1]), 400, None),
    (canonical_json({**item(), "email": "a@example.com"}), 400, None),
    (item(text=None), 400, "text"),
    (item(text="   "), 400, "text"),
    (item(text=7), 400, "text"),
    (item(topic="Bad Topic"), 400, "topic"),
    (item(feedback_id="alice@example.com"), 400, "feedback_id"),
    (item(reply_digest="nope"), 400, "reply_digest"),
    (item(install_id="alice"), 400, "install_id"),
    (item(policy_digest="sha256:" + "0" * 64), 422, "policy_digest"),
    (item(topic="complaint"), 422, "topic"),
    (item(text="x" * 2001), 422, "text"),
]


def test_ingest_is_strict_and_names_the_key_without_echoing(api, seal, storage) -> None:
    """Each malformed or disallowed item: 4xx naming the key, nothing stored, no value echoed."""
    answers = [post(api, seal, body if isinstance(body, bytes) else canonical_json(body)) for body, _, _ in BAD]
    assert [(status, field) for _, status, field in BAD] == [(a.status_code, a.json()["field"]) for a in answers]
    assert ([], False) == (rows(storage), any("alice" in a.text for a in answers))


def test_a_retry_is_stored_once_and_feedback_needs_no_consent_level(api, seal, storage) -> None:
    """The same feedback id twice: one row, the same 202 both times; no consent level in the payload."""
    body = item()
    answers = [post(api, seal, body), post(api, seal, body)]
    assert ([202, 202], 1, "new", None) == ([a.status_code for a in answers], len(rows(storage)),
                                             rows(storage)[0].status, rows(storage)[0].install_id)


def test_canaries_never_reach_the_database_logs_or_pages(api, seal, storage, settings, dashboard, caplog) -> None:
    """Planted e-mail, phone, card and path, sent raw (as a client skipping its own redaction would):
    the server redacts them before storing; neither the database file, its WAL, the log, the inbox
    nor the opened item holds any of them in clear, and the text itself is stored encrypted."""
    text = "Please delete my data: " + ", ".join(CANARIES) + " thanks"
    caplog.set_level(logging.DEBUG)
    assert 202 == post(api, seal, item(text=text)).status_code
    officer = login(dashboard, "officer")
    inbox = officer.get("/dashboard/p/demo/feedback")
    reason = officer.get("/dashboard/p/demo/feedback/1")
    opened = officer.post("/dashboard/p/demo/feedback/1", data={"csrf": csrf_of(reason.text),
                                                                 "reason": "ticket 77: erasure question"},
                          headers={"Origin": ORIGIN})
    db_file = Path(settings.database_url.removeprefix("sqlite:///"))
    raw = b"".join(path.read_bytes() for path in (db_file, db_file.with_name(db_file.name + "-wal"))
                   if path.exists())
    planted = [c.encode() for c in CANARIES] + [b"Please delete my data"]
    assert (200, 200, [], []) == (inbox.status_code, opened.status_code, [p for p in planted if p in raw],
                                  [c for c in CANARIES if c in caplog.text or c in inbox.text or c in opened.text])
    assert ("Please delete my data" in opened.text, "&lt;email&gt;" in opened.text or "<email>" in opened.text) == (
        True, True)


def _one_item(api: Any, seal: Any, **changes: Any) -> str:
    handle = secrets.token_urlsafe(32)
    assert 202 == post(api, seal, item(reply_digest=hashlib.sha256(handle.encode()).hexdigest(), **changes)).status_code
    return handle


def test_only_the_policys_roles_see_the_inbox(api, seal, dashboard) -> None:
    """Developer and viewer: the dashboard's 404 on the inbox, the item and its posts (as for any
    page a role may not see: nothing to enumerate); privacy officer and admin: the inbox, with the
    nav entry. Nothing of the item is closed by a refused post."""
    _one_item(api, seal)
    seen = {}
    for name in ("dev", "viewer", "officer", "admin"):
        client = login(dashboard, name)
        token = csrf_of(client.get("/dashboard/").text)
        seen[name] = (client.get("/dashboard/p/demo/feedback").status_code,
                      client.get("/dashboard/p/demo/feedback/1").status_code,
                      client.post("/dashboard/p/demo/feedback/1/reply", data={"csrf": token, "reply": "hi"},
                                  headers={"Origin": ORIGIN}, follow_redirects=False).status_code)
    page = login(dashboard, "officer").get("/dashboard/p/demo/feedback")
    assert ({"dev": (404, 404, 404), "viewer": (404, 404, 404), "officer": (200, 200, 303),
             "admin": (200, 200, 303)}, True) == (seen, 'href="/dashboard/p/demo/feedback"' in page.text)


def test_read_reply_close_are_audited_and_the_device_fetches_the_reply(api, seal, storage, dashboard, audit) -> None:
    """No reason, no text (400); then the read, the (redacted) reply and the closing are audited;
    the device's handle fetches the reply, another handle gets nothing; 400 for a bad handle list."""
    handle = _one_item(api, seal, text="What do you do with my crash data?")
    officer = login(dashboard, "officer")
    token = csrf_of(officer.get("/dashboard/p/demo/feedback/1").text)
    refused = officer.post("/dashboard/p/demo/feedback/1", data={"csrf": token, "reason": "x"},
                           headers={"Origin": ORIGIN})
    forged = officer.post("/dashboard/p/demo/feedback/1/reply", data={"csrf": "forged", "reply": "hi"},
                          headers={"Origin": ORIGIN})
    opened = officer.post("/dashboard/p/demo/feedback/1", data={"csrf": token, "reason": "answering the user"},
                          headers={"Origin": ORIGIN})
    replied = officer.post("/dashboard/p/demo/feedback/1/reply", data={
        "csrf": token, "reply": "We keep them 30 days. Write to dpo@example.com"}, headers={"Origin": ORIGIN},
        follow_redirects=False)
    fetched = api.get(feedback_replies_path("demo"), headers={REPLY_HANDLES_HEADER: f"{handle} {'A' * 43}"})
    closed = officer.post("/dashboard/p/demo/feedback/1/close", data={"csrf": token}, headers={"Origin": ORIGIN},
                          follow_redirects=False)
    after = api.get(feedback_replies_path("demo"), headers={REPLY_HANDLES_HEADER: handle}).json()["replies"]
    bad = api.get(feedback_replies_path("demo"), headers={REPLY_HANDLES_HEADER: "short"})
    entries = [(e.action, e.subject) for e in audit.entries(actions=["feedback.read", "feedback.reply",
                                                                     "feedback.close"])]
    replies = fetched.json()["replies"]
    assert (400, 403, 200, 303, 303, 400) == (refused.status_code, forged.status_code, opened.status_code,
                                              replied.status_code, closed.status_code, bad.status_code)
    assert ([("feedback.read", "feedback:1"), ("feedback.reply", "feedback:1"), ("feedback.close", "feedback:1")],
            1, "answered", "dpo@example.com" in replies[0]["reply"], "We keep them 30 days." in replies[0]["reply"],
            "closed") == (entries, len(replies), replies[0]["status"], False, True, after[0]["status"])


def test_retention_and_erasure(api, seal, storage, audit) -> None:
    """Items go after the policy's retention_days (with a KEK rotation after); erasing an
    installation deletes the feedback it linked, and only that."""
    from crashveil.server.governance.erasure import erase_installs
    from crashveil.server.governance.retention import run_retention

    _one_item(api, seal, install_id="ab" * 16)
    _one_item(api, seal)
    erase_installs(storage, audit, "demo", "11" * 16, ["ab" * 16], now=NOW)
    left = [(r.install_id, r.status) for r in rows(storage)]
    kept = run_retention(storage, audit, now=NOW + timedelta(days=180))
    rotation = storage.rotate_kek(now=NOW + timedelta(days=180))  # the item's key is rewrapped too
    with storage.engine.connect() as conn:
        readable = store.open_feedback(conn, storage.keys, "demo", rows(storage)[0].id)
    rewrapped = rotation.new_kek_id == rows(storage)[0].kek_id
    gone = run_retention(storage, audit, now=NOW + timedelta(days=182))
    assert ([(None, "new")], 0, True, True, 1, True, []) == (
        left, kept.projects[0].feedback_deleted, rewrapped,
        readable is not None and "crash messages" in readable.text, gone.projects[0].feedback_deleted,
        gone.shredded, rows(storage))


def test_audit_report_counts_by_topic(api, seal, storage, audit, dashboard) -> None:
    """Counts per topic and status in the period, never a text."""
    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit_report import build_audit_report, render_audit_report

    for topic in ("question", "question", "concern"):
        _one_item(api, seal, topic=topic, text="a canary-text-9931 line")
    data = build_audit_report(storage, audit, AccessStore(storage.engine, audit, now=lambda: NOW),
                              since=NOW - timedelta(days=1), until=NOW + timedelta(days=1))
    topics = {t["topic"]: t["new"] for t in data["projects"][0]["feedback"]["topics"]}
    text = render_audit_report(data, "md")
    assert ({"question": 2, "concern": 1, "preference": 0, "other": 0}, True, False) == (
        topics, "Privacy feedback by topic" in text, "canary-text-9931" in text)


@pytest.mark.parametrize("handles", ["", " ".join(["A" * 43] * 9)])
def test_reply_fetch_refuses_no_or_too_many_handles(api, handles) -> None:
    assert 400 == api.get(feedback_replies_path("demo"), headers={REPLY_HANDLES_HEADER: handles}).status_code
