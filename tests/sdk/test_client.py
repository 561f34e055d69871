"""The client end to end with real parts: redactor, sealing, queue files, sender, RecordingTransport."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crashveil.errors import ConfigError
from crashveil.wire.report import report_from_json


def crash(message: str = "boom") -> BaseException:
    try:
        raise ValueError(message)
    except ValueError as exc:
        return exc


def sent_reports(client: Any) -> list[dict[str, Any]]:
    assert client.flush(5.0) is True
    return [json.loads(p) for p in client.transport_for_test.payloads("report")]


def test_consent_off_records_nothing(make_client: Any, tmp_path: Path) -> None:
    """At the default level nothing is built, written or sent."""
    client = make_client()
    assert (None, False, []) == (client.capture_exception(crash()), (tmp_path / "data").exists(),
                                 client.transport_for_test.sent)


def test_capture_seals_queues_and_sends(make_client: Any) -> None:
    """With consent a crash is sealed, queued and delivered; the server opens exactly the previewed report."""
    client = make_client()
    client.grant("crash")
    report_id = client.capture_exception(crash())
    [payload] = sent_reports(client)
    assert (report_id, "crash", None) == (payload["report_id"], payload["consent_level"], payload.get("message"))


def test_report_is_written_before_capture_returns(make_client: Any, opener: Any) -> None:
    """The sealed report is on disk when capture returns, even if the server is down."""
    from crashveil.testing import RecordingTransport

    client = make_client(transport=RecordingTransport(status=503))
    client.grant("crash")
    report_id = client.capture_exception(crash())
    queue = client.queue(create=False)
    [item] = queue.items()
    assert report_id == report_from_json(opener(queue.read(item)))[0].report_id


def test_diagnostic_message_is_redacted(make_client: Any) -> None:
    """At ``diagnostic`` the message is sent, redacted."""
    client = make_client()
    client.grant("diagnostic")
    client.capture_exception(crash("mail alice@example.org now"))
    [payload] = sent_reports(client)
    assert "alice@example.org" not in payload["message"]


def test_preview_matches_what_is_sent(make_client: Any) -> None:
    """The preview is the report that is sent, but for the random report id and the stats."""
    client = make_client()
    client.grant("diagnostic")
    exc = crash("x")
    preview = client.preview(exc).to_dict()
    client.capture_exception(exc)
    [payload] = sent_reports(client)
    for key in ("report_id", "client_stats"):
        preview.pop(key, None)
        payload.pop(key, None)
    assert preview == payload


def test_preview_before_consent_writes_nothing(make_client: Any, tmp_path: Path) -> None:
    """A preview at level off shows the lowest level and leaves no file."""
    client = make_client()
    assert ("crash", False) == (client.preview(crash()).consent_level, (tmp_path / "data").exists())


def test_grant_rejects_unknown_level(make_client: Any) -> None:
    """Granting a level the policy lacks is a ConfigError naming ``level``."""
    with pytest.raises(ConfigError) as info:
        make_client().grant("everything")
    assert "level" == info.value.key


def test_crash_inside_the_sdk_is_swallowed(make_client: Any, allow_internal_errors: list[BaseException]) -> None:
    """A failure inside the SDK never reaches the app: it is counted and seen by the test listener."""
    from crashveil.sdk import _internal

    client = make_client()
    client.grant("crash")

    class Broken:
        def redact(self, text: str, kind: str = "message") -> str:
            raise RuntimeError("redactor exploded")

    client.collector.redactor = Broken()
    assert client.capture_exception(crash()) is None
    assert ([RuntimeError], 1) == ([type(e) for e in allow_internal_errors], _internal.dropped_counts()["capture"])


def test_revoke_deletes_and_requests_deletion(make_client: Any, tmp_path: Path, opener: Any) -> None:
    """Revoke empties the queue, deletes secrets and sends a deletion request with the pseudonyms."""
    from crashveil.testing import RecordingTransport

    transport = RecordingTransport(status=503, opener=opener)
    client = make_client(transport=transport)
    client.grant("crash")
    client.capture_exception(crash())
    pseudonym = client.secret.pseudonym("test-app", client.now(), 30)
    client.revoke()
    items = client.queue(create=False).items()
    assert (["deletion"], False, "off") == ([i.meta.kind for i in items],
                                            (tmp_path / "data" / "secrets").exists(), client.level())
    request = json.loads(client.transport_for_test.opener(client.queue(create=False).read(items[0])))
    assert (pseudonym, ["install_ids", "request_id"]) == (request["install_ids"][0], sorted(request))


def test_deletion_request_is_retried_until_acknowledged(make_client: Any) -> None:
    """A deletion request stays queued while the server fails and goes once it answers."""
    from crashveil.testing import RecordingTransport

    transport = RecordingTransport(status=503, opener=None)
    client = make_client(transport=transport)
    client.grant("crash")
    client.secret.get()
    client.revoke()
    client.flush(0.5)
    transport.status = 202
    client._sender.wake()
    assert client.flush(10.0) is True
    assert (["deletion"], []) == ([item.kind for item in transport.sent], client.queue(create=False).items())


def test_ask_each_time_keeps_the_crash_until_decided(make_client: Any) -> None:
    """In "ask me each time" mode nothing is sent until the user approves; the comment is redacted."""
    client = make_client()
    client.grant("diagnostic", ask_each_time=True)
    client.capture_exception(crash("x"))
    [pending] = client.pending()
    assert [] == client.transport_for_test.sent
    client.decide(pending.id, "crash", "my email is bob@example.org")
    [payload] = sent_reports(client)
    assert ("crash", None, False) == (payload["consent_level"], payload.get("message"),
                                      "bob@example.org" in payload["comment"])
    assert [] == client.pending()


def test_discarded_pending_crash_is_never_sent(make_client: Any) -> None:
    """Saying no to a pending crash deletes it."""
    client = make_client()
    client.grant("crash", ask_each_time=True)
    client.capture_exception(crash())
    client.decide(client.pending()[0].id, None)
    assert ([], []) == (client.pending(), client.queue(create=False).items())


class RemoteConfig:
    """Stands in for the verified remote config: asks for ``diagnostic`` for one fingerprint."""

    stopped_fields: frozenset[str] = frozenset()

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint

    def requested_level(self, fingerprint: str) -> str | None:
        return "diagnostic" if fingerprint == self.fingerprint else None

    def counts_only(self, fingerprint: str) -> bool:
        return False


def test_progressive_disclosure_asks_and_respects_a_no(make_client: Any) -> None:
    """When the server wants more for a crash, the app's callback decides; a no sends the granted level."""
    requests: list[Any] = []
    client = make_client(consent_callback=lambda request: requests.append(request) or False)
    client.grant("crash")
    exc = crash("detail")
    client.remote.config = RemoteConfig(client.collector.record(exc, mechanism="manual").fingerprint)
    client.capture_exception(exc)
    [payload] = sent_reports(client)
    assert (["diagnostic"], "crash", None) == ([r.requested_level for r in requests], payload["consent_level"],
                                               payload.get("message"))
    assert "detail" == requests[0].preview.message


def test_progressive_disclosure_yes_applies_to_that_crash_only(make_client: Any) -> None:
    """A yes sends the richer level for that fingerprint, and only that one."""
    client = make_client(consent_callback=lambda request: True)
    client.grant("crash")
    exc = crash("detail")
    client.remote.config = RemoteConfig(client.collector.record(exc, mechanism="manual").fingerprint)
    client.capture_exception(exc)
    try:
        raise KeyError("other")
    except KeyError as other:
        client.capture_exception(other)
    levels = sorted((p["crash_type"], p["consent_level"]) for p in sent_reports(client))
    assert [("KeyError", "crash"), ("ValueError", "diagnostic")] == levels


def test_a_report_queued_without_its_history_line_is_listed_when_sent(make_client: Any) -> None:
    """Killed after the queue file, before the history line: the next start delivers the
    report and the history lists it, sent with its receipt, from the queue meta alone."""
    from crashveil.sdk.delivery.queue import QueueMeta

    first = make_client()
    first.grant("crash")
    first.history_log.record = lambda *args, **kwargs: None  # the kill: no history line ...
    first.wake_sender = lambda: None  # ... and nothing sent in that run
    first.capture_exception(crash())
    [item] = first.queue(create=False).items()
    first.close()
    second = make_client()
    second.start()
    assert second.flush(5.0)
    [entry] = second.history()
    assert (item.id, "report", "ValueError", "crash", "sent", True, None) == (
        entry.id, entry.kind, entry.crash_type, entry.level, entry.state, bool(entry.receipt), entry.content)
    assert QueueMeta(kind="report", crash_type="ValueError", level="crash", created=entry.time) == item.meta


def test_history_lists_sent_reports_without_content(make_client: Any) -> None:
    """The history says what was sent and its receipt, not what it said."""
    client = make_client()
    client.grant("crash")
    client.capture_exception(crash())
    assert client.flush(5.0)  # the sender records the delivery before the item leaves the queue
    [entry] = client.history()
    assert ("ValueError", "crash", "sent", True, None) == (entry.crash_type, entry.level, entry.state,
                                                           bool(entry.receipt), entry.content)
