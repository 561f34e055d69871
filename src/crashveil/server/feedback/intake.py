"""Privacy feedback from users, and the device's fetch of the privacy officer's replies.

``POST /api/v1/projects/{project}/feedback`` carries a sealed JSON object with exactly
``FEEDBACK_FIELDS`` (and ``install_id`` only when the user linked it to their reports). The
order is the order of cost: project rate limit and body limits (``http/app.py``) -> open
(HPKE) -> strict parse (400 naming the key, never echoing a value) -> policy by digest and
its ``[feedback]``: the topic and the length (422) -> the text redacted again with the
policy's detectors (hits counted as a regression signal, never logged) -> stored encrypted
(``server/feedback/store.py``). No consent level is checked: feedback is allowed at every level,
``off`` included (``sdk/consent/feedback.py`` says why).

``GET .../feedback/replies`` names reply handles in ``REPLY_HANDLES_HEADER``; the server
keeps only their SHA-256, so the answer goes to whoever holds a handle, which only the
device that sent the feedback does.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crashveil.errors import ReportRejected
from crashveil.server.db import engine as db
from crashveil.server.feedback.store import NewFeedback, replies_for, store_feedback
from crashveil.server.ingest.rejections import reject
from crashveil.textsafe import find_unsafe
from crashveil.wire.protocol import FEEDBACK_FIELDS, FEEDBACK_OPTIONAL, MAX_REPLY_HANDLES

if TYPE_CHECKING:
    from crashveil.policy import Policy
    from crashveil.redact import Redactor
    from crashveil.server.ingest.pipeline import Ingestor

__all__ = ["FeedbackMessage", "MAX_FEEDBACK_BYTES", "accept_feedback", "check_feedback", "parse_feedback",
           "parse_handles", "policy_redactor", "reply_answer"]

#: An opened feedback item: at most 4,000 characters of text (4 bytes each) and the keys.
MAX_FEEDBACK_BYTES = 20 * 1024
_PATTERNS = {
    "feedback_id": (re.compile(r"^[0-9a-f]{32}$"), "expected 32 lower-case hex digits"),
    "policy_digest": (re.compile(r"^sha256:[0-9a-f]{64}$"), "expected sha256: and 64 lower-case hex digits"),
    "topic": (re.compile(r"^[a-z][a-z0-9_-]{0,39}$"), "expected a topic name"),
    "reply_digest": (re.compile(r"^[0-9a-f]{64}$"), "expected 64 lower-case hex digits"),
    "install_id": (re.compile(r"^[0-9a-f]{32}$"), "expected 32 lower-case hex digits"),
}
_HANDLE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_redactors: dict[str, Redactor] = {}


@dataclass(frozen=True)
class FeedbackMessage:
    """An opened, well-formed feedback item (not yet checked against the policy)."""

    feedback_id: str
    policy_digest: str
    topic: str
    text: str
    reply_digest: str
    install_id: str | None


def _bad(field: str | None, message: str) -> ReportRejected:
    return reject("bad_feedback", message, status=400, field=field)


def parse_feedback(payload: bytes) -> FeedbackMessage:
    """The feedback in ``payload`` (opened bytes); 400 naming the first wrong key."""
    if len(payload) > MAX_FEEDBACK_BYTES:
        raise _bad(None, f"the feedback is larger than {MAX_FEEDBACK_BYTES} bytes")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _bad(None, "the feedback is not UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise _bad(None, "expected an object")
    allowed = FEEDBACK_FIELDS + FEEDBACK_OPTIONAL
    for key in data:
        if key not in allowed:
            raise _bad(None, f"unknown key in the feedback (expected {', '.join(allowed)})")
    values: dict[str, str | None] = {}
    for key in allowed:
        value = data.get(key)
        if value is None and key in FEEDBACK_OPTIONAL:
            values[key] = None
            continue
        if value is None:
            raise _bad(key, "required key is missing")
        if not isinstance(value, str):
            raise _bad(key, "expected a string")
        pattern = _PATTERNS.get(key)
        if pattern is not None and not pattern[0].match(value):
            raise _bad(key, pattern[1])
        values[key] = value
    text = values["text"] or ""
    if not text.strip():
        raise _bad("text", "is empty")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad("text", "contains a lone surrogate") from None
    return FeedbackMessage(**values)  # type: ignore[arg-type]


def check_feedback(message: FeedbackMessage, policy: Policy | None) -> None:
    """422 unless ``policy`` (the project's, by the digest) declares ``[feedback]`` with this topic and length."""
    if policy is None:
        raise reject("unknown_policy_digest", "the feedback was sent under a policy this project does not have",
                     field="policy_digest")
    rule = policy.feedback
    if rule is None:
        raise reject("feedback_not_declared", "the policy declares no feedback channel", field=None)
    if message.topic not in rule.topics:
        raise reject("unknown_feedback_topic", "the policy has no such feedback topic", field="topic")
    if len(message.text) > rule.max_chars:
        raise reject("feedback_too_long", f"the text is longer than the policy's {rule.max_chars} characters",
                     field="text")


def policy_redactor(digest: str, policy: Policy) -> Redactor:
    """The policy's redactor (one per policy digest; it keeps no text)."""
    found = _redactors.get(digest)
    if found is None:
        from crashveil.redact import Redactor

        found = _redactors[digest] = Redactor(detectors=policy.redaction.detectors,
                                              placeholders=policy.redaction.placeholders)
    return found


def _visible_text(text: str) -> str:
    """Control and invisible formatting characters become spaces (a line break stays)."""
    out = []
    for part in text.split("\n"):
        while (at := find_unsafe(part)) >= 0:
            part = part[:at] + " " + part[at + 1:]
        out.append(part)
    return "\n".join(out)


def accept_feedback(ingestor: Ingestor, project_id: str, sealed: bytes, *, now: datetime) -> dict[str, Any]:
    """Open, check, redact and store one sealed feedback item; the answer's body (always the same)."""
    project = ingestor.project(project_id)
    message = parse_feedback(ingestor.open(project, sealed))
    policy = project.policies.get(message.policy_digest)
    check_feedback(message, policy)
    assert policy is not None and policy.feedback is not None, "check_feedback refused it otherwise"
    text, hits = policy_redactor(message.policy_digest, policy).redact_counted(_visible_text(message.text))
    for detector, count in hits.items():
        ingestor.metrics.redaction_hits.labels("feedback.text", detector).inc(count)
    item = NewFeedback(project_id=project.id, feedback_id=message.feedback_id, topic=message.topic,
                       text=text[:policy.feedback.max_chars], reply_digest=bytes.fromhex(message.reply_digest),
                       install_id=message.install_id, redactions=sum(hits.values()), day=now.date().isoformat())
    with db.write_tx(ingestor.storage.engine) as conn:
        store_feedback(conn, ingestor.storage.keys, item)
    return {"status": "accepted"}


def parse_handles(header: str | None) -> list[bytes]:
    """The SHA-256 digests of the reply handles in the header; 400 for a malformed or long list."""
    handles = (header or "").split()
    if not handles:
        raise _bad("handles", f"name 1 to {MAX_REPLY_HANDLES} reply handles")
    if len(handles) > MAX_REPLY_HANDLES:
        raise _bad("handles", f"at most {MAX_REPLY_HANDLES} reply handles")
    if not all(_HANDLE.match(handle) for handle in handles):
        raise _bad("handles", "expected 43 URL-safe base64 characters per handle")
    return [hashlib.sha256(handle.encode("ascii")).digest() for handle in handles]


def reply_answer(ingestor: Ingestor, project_id: str, header: str | None) -> dict[str, Any]:
    """The replies to the handles in ``header`` (the project must exist)."""
    project = ingestor.project(project_id)
    digests = parse_handles(header)
    with db.read_tx(ingestor.storage.engine) as conn:
        return {"replies": replies_for(conn, ingestor.storage.keys, project.id, digests)}
