"""The SDK side of privacy feedback: allowed at every consent level and nothing else sent with it,
redacted and bounded on the device, never carrying a pseudonym unless the user links it (and then
only the current period's), queued as its own kind, and replies fetched for waiting handles only."""

from __future__ import annotations

import json

import pytest

import crashveil
from crashveil.errors import ConfigError
from crashveil.sdk.consent.feedback import FILE, FeedbackLog, feedback_payload, reply_digest
from crashveil.testing import RecordingTransport
from crashveil.wire.protocol import FEEDBACK_FIELDS

from .conftest import CANARIES


def _kinds(client) -> list[str]:
    queue = client.queue(create=False)
    return [item.meta.kind for item in queue.items()] if queue is not None else []


def test_payload_carries_no_pseudonym_unless_linked() -> None:
    """What is sealed, before sealing: exactly FEEDBACK_FIELDS; install_id only when passed, and the
    handle itself never (only its digest)."""
    common = {"feedback_id": "ab" * 16, "policy_digest": "sha256:" + "0" * 64, "topic": "question",
              "text": "hi", "handle": "H" * 43}
    plain, linked = feedback_payload(install_id=None, **common), feedback_payload(install_id="cd" * 16, **common)
    assert (sorted(FEEDBACK_FIELDS), "cd" * 16, reply_digest("H" * 43), False) == (
        sorted(plain), linked["install_id"], plain["reply_digest"], "H" * 43 in json.dumps(linked))


def test_linking_needs_the_users_choice_and_consent(make_client, opener, clock) -> None:
    """Sealed payloads as the server opens them: no install_id by default or at consent off (even
    with link_reports); with link_reports at a granted level, the current period's pseudonym only."""
    client = make_client(transport=RecordingTransport(status=503, opener=opener), flush_timeout_s=0.0)
    client.send_privacy_feedback("question", "Do you sell my data?", link_reports=True)  # consent off
    client.grant("crash")
    client.send_privacy_feedback("concern", "Too much is kept.")
    client.send_privacy_feedback("preference", "Link it please.", link_reports=True)
    queue = client.queue(create=False)
    payloads = [json.loads(opener(queue.read(item))) for item in queue.items()]
    current = client.secret.pseudonym("test-app", clock.now, client.policy.keys.pseudonym_rotation_days)
    assert ([None, None, current], ["feedback"] * 3) == ([p.get("install_id") for p in payloads], _kinds(client))


def test_sent_at_consent_off_redacted_and_nothing_else(make_client, opener) -> None:
    """Consent off: the feedback goes (through the queue, kind feedback) and nothing else does; the
    planted e-mail, phone, card and path are removed on the device; a restart at off keeps a queued
    item; grant('off') keeps it too. The local record holds the redacted text only."""
    held = make_client(transport=RecordingTransport(status=503, opener=opener), flush_timeout_s=0.0)
    held.send_privacy_feedback("concern", "Erase " + ", ".join(CANARIES))
    held.grant("off")
    transport = RecordingTransport(opener=opener)
    client = make_client(transport=transport)
    client.start()
    assert client.flush(10.0)
    sent = transport.payloads("feedback")
    record = (client.data_dir / FILE).read_text()
    assert (["feedback"], 1, [], [], "sent") == (
        [s.kind for s in transport.sent], len(sent), [c for c in CANARIES if c in sent[0].decode()],
        [c for c in CANARIES if c in record], client.privacy_feedback()[0].status)


def test_bad_topic_empty_or_long_text_and_no_init(make_client) -> None:
    client = make_client()
    refused = []
    for topic, text in (("complaint", "hi"), ("question", "  "), ("question", "x" * 2001)):
        with pytest.raises(ConfigError) as caught:
            client.send_privacy_feedback(topic, text)
        refused.append(caught.value.key)
    with pytest.raises(ConfigError):
        crashveil.send_privacy_feedback("question", "hi")
    assert (["topic", "text", "text"], [], []) == (refused, crashveil.privacy_feedback(), _kinds(client))


def test_replies_are_fetched_for_waiting_items_only(make_client, opener, clock) -> None:
    """After delivery the item waits; a fetch names its handle, records the answer, and
    privacy_feedback() shows it; the next look waits CHECK_EVERY_S, and an answered item is not
    asked about again. A malformed answer changes nothing."""
    transport = RecordingTransport(opener=opener)
    client = make_client(transport=transport)
    client.send_privacy_feedback("question", "How long do you keep reports?")
    assert client.flush(10.0)
    log = FeedbackLog(client.data_dir)
    handle = log.due_handles(clock.now)[0]
    transport.replies = b"not json"
    nothing = client.check_feedback_replies()
    transport.replies = json.dumps({"replies": [{"reply_to": reply_digest(handle), "status": "answered",
                                                 "day": "2026-12-07", "reply": "90 days at most."}]}).encode()
    answered = client.check_feedback_replies(force=True)
    clock.now += 7 * 3600
    after = (client.check_feedback_replies(), len(transport.reply_fetches))
    entry = client.privacy_feedback()[0]
    assert (0, 1, [[handle], [handle]], (0, 2), ("answered", "90 days at most.", "2026-12-07")) == (
        nothing, answered, transport.reply_fetches, after, (entry.status, entry.reply, entry.reply_day))


def test_policy_feedback_rule_survives_the_consent_record_and_the_diff() -> None:
    """The consent record's canonical policy keeps [feedback]; offering it is listed, not material
    (users are not asked again), while wider access is material."""
    import dataclasses

    from crashveil.policy import default_policy
    from crashveil.policy.diff import diff_policies
    from crashveil.policy.digest import canonical_policy
    from crashveil.sdk.consent.store import policy_from_canonical

    policy = default_policy()
    assert policy.feedback is not None
    without = dataclasses.replace(policy, feedback=None)
    wider = dataclasses.replace(policy, feedback=dataclasses.replace(policy.feedback, access=("viewer", "admin")))
    added, widened = diff_policies(without, policy), diff_policies(policy, wider)
    assert (policy.feedback, [("feedback_added", False)], [("access_widened", True)]) == (
        policy_from_canonical(canonical_policy(policy)).feedback, [(c.kind, c.material) for c in added.changes],
        [(c.kind, c.material) for c in widened.changes])
