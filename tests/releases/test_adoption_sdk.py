"""The SDK's adoption ping: never without consent (or the app's switch, or the policy's
[adoption]), at most once per release and day, exactly its five keys, sent through the queue,
dropped with everything unsent when the user opts out."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from crashveil.sdk.adoption import MARKER, queue_ping, utc_day
from crashveil.testing import RecordingTransport
from crashveil.wire.protocol import ADOPTION_FIELDS


def _kinds(client: Any) -> list[str]:
    queue = client.queue(create=False)
    return [item.meta.kind for item in queue.items()] if queue is not None else []


def _wait_for(predicate: Any, timeout_s: float = 30.0) -> bool:
    """Poll ``predicate`` until it holds or the deadline passes (no fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_no_ping_without_consent(make_client) -> None:
    """Consent off: start() queues nothing, writes no marker, and the ping itself refuses."""
    client = make_client(adoption_ping=True)
    client.start()
    refused = queue_ping(client, "app@1.0")
    assert (False, [], False, []) == (refused, _kinds(client), (client.data_dir / MARKER).exists(),
                                      client.transport_for_test.sent)


def test_at_most_once_per_release_and_day(make_client, clock, opener) -> None:
    """Twice the same day: one ping; another release: one more; the next day: one more. Each payload
    holds exactly the five keys, the report's pseudonym and the UTC day."""
    client = make_client(adoption_ping=True, transport=RecordingTransport(status=503, opener=opener))
    client.grant("crash")
    queued = [queue_ping(client, "app@1.0"), queue_ping(client, "app@1.0"), queue_ping(client, "app@1.1")]
    clock.now += 86_400
    queued.append(queue_ping(client, "app@1.0"))
    queue = client.queue(create=False)
    payloads = [json.loads(opener(queue.read(item))) for item in queue.items()]
    pseudonym = client.secret.pseudonym("test-app", clock.now, client.policy.keys.pseudonym_rotation_days)
    assert ([True, False, True, True], ["adoption"] * 3) == (queued, [item.meta.kind for item in queue.items()])
    assert ([sorted(ADOPTION_FIELDS)] * 3, ["app@1.0", "app@1.1", "app@1.0"], utc_day(clock.now), pseudonym,
            "crash") == ([sorted(p) for p in payloads], [p["release"] for p in payloads], payloads[-1]["day"],
                         payloads[-1]["install_id"], payloads[-1]["consent_level"])


def test_start_sends_it_through_the_queue_when_turned_on(make_client) -> None:
    """With the app's switch on and consent given, start() sends one ping to the adoption route;
    without the switch it sends none."""
    off = make_client()
    off.grant("crash")
    off.start()
    client = make_client(adoption_ping=True)
    client.start()
    sent = _wait_for(lambda: [i.kind for i in client.transport_for_test.sent] == ["adoption"])
    assert (True, [], True) == (sent, off.transport_for_test.sent, (client.data_dir / MARKER).exists())


def test_opting_out_drops_a_queued_ping(make_client, opener) -> None:
    """A ping still queued (server away) goes with grant('off'); afterwards none is made."""
    client = make_client(adoption_ping=True, transport=RecordingTransport(status=503, opener=opener))
    client.grant("crash")
    first = queue_ping(client, "app@2.0")
    client.grant("off")
    again = queue_ping(client, "app@2.1")
    assert (True, [], False) == (first, _kinds(client), again)


def test_a_policy_without_adoption_sends_nothing(make_client, tmp_path) -> None:
    """The policy decides: without [adoption] there is no ping whatever the app and the user say."""
    from crashveil.policy import default_policy

    text = Path(default_policy().source).read_text(encoding="utf-8")
    stripped = text[:text.index("[adoption]")] + text[text.index("[redaction]"):]
    path = tmp_path / "no-adoption.toml"
    path.write_text(stripped, encoding="utf-8")
    client = make_client(adoption_ping=True, policy=str(path))
    client.grant("crash")
    assert (False, []) == (queue_ping(client, "app@1.0"), _kinds(client))


def test_canary_the_release_is_redacted_before_it_leaves(make_client, opener) -> None:
    """A planted e-mail address in the release never leaves the device in the ping, and the marker
    on disk holds no release text at all."""
    client = make_client(adoption_ping=True, transport=RecordingTransport(status=503, opener=opener))
    client.grant("crash")
    queue_ping(client, "app@3.0 dora.canary@example.com")
    queue = client.queue(create=False)
    payload = opener(queue.read(queue.items()[0])).decode()
    marker = (client.data_dir / MARKER).read_text()
    assert (False, True, False, False) == ("dora.canary" in payload, "app@3.0" in payload, "dora" in marker,
                                           "app@3.0" in marker)
