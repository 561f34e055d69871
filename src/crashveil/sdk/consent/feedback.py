"""The privacy feedback channel on the device: the user's own message about the data practice.

``crashveil.send_privacy_feedback(topic, text)`` lets the person using the app tell its
developers what they think of how crash data is handled, ask a question or state a
preference. What leaves the device (``wire.protocol.FEEDBACK_FIELDS``)::

    {"feedback_id", "policy_digest", "topic", "text", "reply_digest"}

``topic`` is one of the policy's ``[feedback] topics``; ``text`` is redacted with the policy's
detectors (``crashveil.redact``) and at most ``max_chars`` long; ``reply_digest`` is the SHA-256
of a random *reply handle* that only this device keeps, so the privacy officer's answer can
be fetched later without any pseudonym. The install pseudonym (``install_id``, the current
period's only) is added only when the user passes ``link_reports=True`` and has consented to
crash reports (otherwise there are no reports to link it to).

Consent. Feedback may be sent at every consent level, ``off`` included: it is the user's own,
explicit act, and nothing else goes with it (no report, no adoption ping, no config fetch).
The notice says so. ``grant("off")`` keeps a queued feedback item; ``revoke()`` empties the
whole queue, feedback included (its local entry then stays ``queued``).

Delivery. The payload is sealed to the project's key like a report and put in the same
on-disk queue (kind ``feedback``), so the same sender, backoff and limits deliver it
(``POST .../feedback``).

Replies. ``feedback.json`` in the data directory (mode 0600) keeps the user's sent feedback
(the redacted text, topic, time, status, reply) and the reply handles, at most ``MAX_KEPT``
items. At ``start()``, when an item waits for an answer and the last look is older than
``CHECK_EVERY_S``, a daemon thread asks the server for the replies of at most
``MAX_REPLY_HANDLES`` waiting handles (``GET .../feedback/replies``, the handles in a header).
``crashveil.privacy_feedback()`` reads the file only.

Loaded only by the client's feedback calls; the client passes itself as a
:class:`FeedbackHost`, nothing here imports the client.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from crashveil.errors import ConfigError
from crashveil.sdk._internal import suppress_internal_errors
from crashveil.sdk.consent.store import OFF
from crashveil.wire.protocol import MAX_REPLY_HANDLES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from crashveil.policy.model import FeedbackRule, Policy
    from crashveil.sdk.delivery.host import SealedMessageHost as FeedbackHost

__all__ = ["CHECK_EVERY_S", "FILE", "KIND", "MAX_KEPT", "FeedbackEntry", "FeedbackLog", "apply_replies",
           "feedback_payload", "fetch_replies", "send_feedback", "start_reply_check"]

#: The queue item kind (``sdk/delivery/queue.py``) and transport kind of a feedback item.
KIND = "feedback"
#: The local record of the user's feedback, in the data directory.
FILE = "feedback.json"
#: Feedback items kept in the local record (the oldest go first).
MAX_KEPT = 50
#: Least time between two looks for replies.
CHECK_EVERY_S = 6 * 3600.0
#: Longest reply kept locally (the server bounds it too).
MAX_REPLY_CHARS = 4000
#: Statuses of an item that waits for an answer (its handle is asked about).
WAITING = ("sent",)
_lock = threading.Lock()


@dataclass(frozen=True)
class FeedbackEntry:
    """One feedback item as the user sees it: what they sent, its status and the answer.

    ``status``: ``queued`` (on the device), ``sent`` (delivered, no answer yet), ``rejected``
    (the server refused it), ``answered`` or ``closed`` (by the privacy officer).
    """

    id: str
    time: float
    topic: str
    text: str
    status: str
    linked: bool = False
    reply: str | None = None
    reply_day: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class _Kept:
    """A local record line: the entry, its reply handle and its queue item id."""

    entry: FeedbackEntry
    handle: str
    queue_item: str


def reply_digest(handle: str) -> str:
    """What the server keeps of a reply handle: its SHA-256, hex."""
    return hashlib.sha256(handle.encode("ascii")).hexdigest()


class FeedbackLog:
    """``feedback.json``: the user's feedback items and when replies were last looked for."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FILE

    def exists(self) -> bool:
        return self.path.is_file()

    def _read(self) -> tuple[list[_Kept], float]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            kept = [_Kept(FeedbackEntry(**item["entry"]), str(item["handle"]), str(item["queue_item"]))
                    for item in data["items"]]
            return kept, float(data.get("checked", 0.0))
        except (OSError, ValueError, TypeError, KeyError):
            return [], 0.0

    def _write(self, kept: list[_Kept], checked: float) -> None:
        from crashveil.sdk.consent.pseudonym import write_private_file

        items = [{"entry": asdict(k.entry), "handle": k.handle, "queue_item": k.queue_item} for k in kept[-MAX_KEPT:]]
        write_private_file(self.path, json.dumps({"items": items, "checked": checked}).encode("utf-8"))

    def entries(self) -> list[FeedbackEntry]:
        """The user's feedback, oldest first."""
        return [k.entry for k in self._read()[0]]

    def add(self, entry: FeedbackEntry, handle: str, queue_item: str) -> None:
        with _lock:
            kept, checked = self._read()
            self._write([*kept, _Kept(entry, handle, queue_item)], checked)

    def settle(self, queue_item: str, status: str) -> None:
        """The sender finished the queue item ``queue_item``: ``sent`` or ``rejected``."""
        with _lock:
            kept, checked = self._read()
            changed = [replace(k, entry=replace(k.entry, status=status))
                       if k.queue_item == queue_item and k.entry.status == "queued" else k for k in kept]
            if changed != kept:
                self._write(changed, checked)

    def due_handles(self, now: float, *, force: bool = False) -> list[str]:
        """The handles to ask about now (newest first), or none when the last look is recent."""
        kept, checked = self._read()
        if not force and now - checked < CHECK_EVERY_S:
            return []
        return [k.handle for k in reversed(kept) if k.entry.status in WAITING][:MAX_REPLY_HANDLES]

    def record_replies(self, replies: dict[str, tuple[str, str, str]], now: float) -> int:
        """Store ``replies`` (reply digest -> status, day, text); the number of items answered now."""
        with _lock:
            kept, _ = self._read()
            fresh = 0
            out = []
            for k in kept:
                found = replies.get(reply_digest(k.handle))
                if found is not None and (found[0], found[2]) != (k.entry.status, k.entry.reply):
                    fresh += 1
                    k = replace(k, entry=replace(k.entry, status=found[0], reply_day=found[1], reply=found[2]))
                out.append(k)
            self._write(out, now)
        return fresh


def _rule(policy: Policy) -> FeedbackRule:
    if policy.feedback is None:
        raise ConfigError("feedback", "the policy declares no [feedback] channel", "a [feedback] table in the policy")
    return policy.feedback


def _checked_text(rule: FeedbackRule, topic: object, text: object) -> str:
    if not isinstance(topic, str) or topic not in rule.topics:
        raise ConfigError("topic", "is not a feedback topic of the policy", ", ".join(rule.topics))
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("text", "is empty", "a few words from the user")
    if len(text) > rule.max_chars:
        raise ConfigError("text", f"is longer than {rule.max_chars} characters", f"at most {rule.max_chars}")
    return text


def feedback_payload(*, feedback_id: str, policy_digest: str, topic: str, text: str, handle: str,
                     install_id: str | None) -> dict[str, str]:
    """Exactly ``FEEDBACK_FIELDS`` (and ``install_id`` only when given): what is sealed."""
    payload = {"feedback_id": feedback_id, "policy_digest": policy_digest, "topic": topic, "text": text,
               "reply_digest": reply_digest(handle)}
    if install_id is not None:
        payload["install_id"] = install_id
    return payload


def send_feedback(host: FeedbackHost, topic: str, text: str, *, link_reports: bool = False) -> str | None:
    """Redact, seal and queue the user's feedback; its id, or None without a DSN.

    Raises ``ConfigError`` for a topic the policy does not list, an empty text or one over
    ``max_chars`` (the app should say so to the user), or a policy without ``[feedback]``.
    """
    policy = host.policy
    rule = _rule(policy)
    clean = host.redactor.redact(_checked_text(rule, topic, text), kind="message")[:rule.max_chars]
    now = host.now()
    install_id = None
    if link_reports and host.project and host.consent.level() != OFF:
        install_id = host.secret.pseudonym(host.project, now, policy.keys.pseudonym_rotation_days)
    feedback_id, handle = secrets.token_hex(16), secrets.token_urlsafe(32)
    from crashveil.wire.canonical import canonical_json

    payload = feedback_payload(feedback_id=feedback_id, policy_digest=host.consent.digest, topic=topic, text=clean,
                               handle=handle, install_id=install_id)
    sealed = host.seal_for_server(canonical_json(payload))
    if sealed is None:
        return None
    from crashveil.sdk.delivery.queue import QueueMeta

    item_id = host.queue(create=True).put(sealed, QueueMeta(kind=KIND, crash_type="", level=host.consent.level(),
                                                            created=now))
    FeedbackLog(host.data_dir).add(FeedbackEntry(feedback_id, now, topic, clean, "queued", install_id is not None),
                                   handle, item_id)
    host.wake_sender()
    return feedback_id


def apply_replies(log: FeedbackLog, body: bytes, now: float) -> int:
    """Record the replies in the server's answer ``body``; the number of items newly answered.

    The answer is read defensively (bounded, only the expected keys and types).
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return 0
    items = data.get("replies") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return 0
    replies: dict[str, tuple[str, str, str]] = {}
    for item in items[:MAX_REPLY_HANDLES]:
        if not isinstance(item, dict):
            continue
        to, status, day, reply = item.get("reply_to"), item.get("status"), item.get("day"), item.get("reply")
        if (isinstance(to, str) and status in ("answered", "closed") and isinstance(day, str) and len(day) <= 10
                and isinstance(reply, str)):
            replies[to] = (str(status), day, reply[:MAX_REPLY_CHARS])
    return log.record_replies(replies, now)


def fetch_replies(host: FeedbackHost, fetch: Callable[[list[str]], bytes | None], *, force: bool = False) -> int:
    """Ask the server for the replies to waiting feedback (if due); the number newly answered."""
    log = FeedbackLog(host.data_dir)
    now = host.now()
    handles = log.due_handles(now, force=force)
    if not handles:
        return 0
    body = fetch(handles)
    if body is None:
        return 0  # no answer: asked again at the next start
    return apply_replies(log, body, now)


def start_reply_check(host: FeedbackHost, fetch: Callable[[list[str]], bytes | None]) -> threading.Thread | None:
    """Look for replies on a daemon thread when some feedback waits and the last look is old."""
    if not FeedbackLog(host.data_dir).due_handles(host.now()):
        return None

    def run() -> None:
        with suppress_internal_errors("feedback"):
            fetch_replies(host, fetch)

    thread = threading.Thread(target=run, name="crashveil-feedback", daemon=True)
    try:
        thread.start()
    except RuntimeError:  # interpreter shutting down: the next start asks
        return None
    return thread
