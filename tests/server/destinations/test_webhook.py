"""Signed webhooks: delivered to a real receiver that verifies them; verification refusals;
how HTTP outcomes map to retryable or not."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from crashveil.errors import DestinationError, WebhookSignatureError
from crashveil.server.alerts.destinations.http_post import retry_after_seconds
from crashveil.server.alerts.destinations.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookDestination,
    notification_json,
    sign,
    verify_webhook,
)
from crashveil.server.alerts.notification import Notification

SECRET = "whsec-test-secret"


def test_delivered_webhook_verifies_at_the_receiver(receiver: Any, make_notification: Callable[..., Notification]
                                                    ) -> None:
    """The receiver gets JSON of the notification with a timestamp and a v1 signature that
    ``verify_webhook`` accepts, headers looked up as the receiver's framework hands them."""
    destination = WebhookDestination("ops-hook", f"{receiver.url}/hooks/crashveil", SECRET)
    result = destination.deliver(make_notification(release="1.2.0", events=3))
    got = receiver.requests[0]
    lowered = {k.lower(): v for k, v in got.headers.items()}
    verify_webhook(SECRET, lowered, got.body)
    assert (True, 200, "/hooks/crashveil") == (result.ok, result.status, got.path)
    assert {"type": "crashveil.alert", "version": 1, "project_id": "demo", "rule": "new_group",
            "dedupe_key": "demo:new_group:42", "title": "KeyError in load",
            "summary": "3 events from 2 installations in the last hour",
            "link": "https://crash.example/dashboard/projects/demo/groups/42",
            "occurred_at": "2026-12-07T12:00:00+00:00", "fields": {"events": 3, "release": "1.2.0"}
            } == json.loads(got.body)


@pytest.fixture
def signed(make_notification: Callable[..., Notification]) -> tuple[dict[str, str], bytes, int]:
    body = notification_json(make_notification())
    now = 1_800_000_000
    return {TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: sign(SECRET, now, body)}, body, now


def test_verify_accepts_a_good_signature_and_a_rotation_list(signed: tuple[dict[str, str], bytes, int]) -> None:
    headers, body, now = signed
    verify_webhook(SECRET, headers, body, now=now + 299)
    rotated = {**headers, SIGNATURE_HEADER: f"{sign('old-secret', now, body)}, {headers[SIGNATURE_HEADER]}"}
    verify_webhook(SECRET, rotated, body, now=now)


@pytest.mark.parametrize(("case", "message"), [
    ("tampered body", "signature does not match"),
    ("wrong secret", "signature does not match"),
    ("stale timestamp", "timestamp outside the tolerance"),
    ("future timestamp", "timestamp outside the tolerance"),
    ("timestamp changed", "signature does not match"),
    ("no signature", "missing"),
])
def test_verify_refuses(case: str, message: str, signed: tuple[dict[str, str], bytes, int]) -> None:
    headers, body, now = signed
    secret, at = SECRET, now
    if case == "tampered body":
        body = body.replace(b"KeyError", b"KeyErrer")
    elif case == "wrong secret":
        secret = "another-secret"
    elif case == "stale timestamp":
        at = now + 301
    elif case == "future timestamp":
        at = now - 301
    elif case == "timestamp changed":
        headers = {**headers, TIMESTAMP_HEADER: str(now + 1)}
    else:
        del headers[SIGNATURE_HEADER]
    with pytest.raises(WebhookSignatureError) as caught:
        verify_webhook(secret, headers, body, now=at)
    assert message in str(caught.value) and b"KeyErr" not in str(caught.value).encode()


@pytest.mark.parametrize(("status", "headers", "expected"), [
    (201, {}, (True, 201, False, None)),
    (500, {}, (False, 500, True, None)),
    (503, {"Retry-After": "30"}, (False, 503, True, 30.0)),
    (429, {"Retry-After": "7"}, (False, 429, True, 7.0)),
    (408, {}, (False, 408, True, None)),
    (404, {}, (False, 404, False, None)),
    (401, {"Retry-After": "7"}, (False, 401, False, None)),
    (302, {"Location": "http://127.0.0.1:9/elsewhere"}, (False, 302, False, None)),
])
def test_http_outcomes(status: int, headers: dict[str, str], expected: tuple[object, ...], receiver: Any,
                       make_notification: Callable[..., Notification]) -> None:
    """2xx ok; 408, 429 and 5xx retryable with Retry-After read; other 4xx not; a redirect is
    not followed (one request only) and not retryable; ``detail`` holds no body."""
    receiver.answer(status, b'{"echo": "KeyError in load"}', **headers)
    result = WebhookDestination("ops-hook", receiver.url, SECRET).deliver(make_notification())
    assert expected == (result.ok, result.status, result.retryable, result.retry_after_s)
    assert 1 == len(receiver.requests) and "KeyError" not in result.detail


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


def test_connection_refused_and_timeout_are_retryable(silent_port: int,
                                                      make_notification: Callable[..., Notification]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = int(probe.getsockname()[1])  # bound, not listening: refused
        refused = WebhookDestination("h", f"http://127.0.0.1:{closed}/", SECRET).deliver(make_notification())
    started = time.monotonic()
    slow = WebhookDestination("h", f"http://127.0.0.1:{silent_port}/", SECRET, timeout_s=0.3).deliver(
        make_notification())
    assert (False, None, True, "connection failed (ConnectionRefusedError)") == (
        refused.ok, refused.status, refused.retryable, refused.detail)
    assert (False, None, True, "timed out") == (slow.ok, slow.status, slow.retryable, slow.detail)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x", "http:///nohost",
                                 "/relative"])
def test_only_http_urls(url: str) -> None:
    with pytest.raises(DestinationError, match="must be an http:// or https:// URL"):
        WebhookDestination("h", url, SECRET)


def test_retry_after_forms() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert [12.0, 60.0, 0.0, None, None, 86_400.0] == [
        retry_after_seconds("12", now=now), retry_after_seconds("Mon, 07 Dec 2026 12:01:00 GMT", now=now),
        retry_after_seconds("Mon, 07 Dec 2026 11:00:00 GMT", now=now), retry_after_seconds("soon", now=now),
        retry_after_seconds(None), retry_after_seconds("9999999", now=now)]


def test_receivers_need_no_server_extra() -> None:
    """``crashveil.webhooks`` (what a receiver imports) loads no server module nor cryptography."""
    code = ("import sys\nfrom crashveil.webhooks import verify_webhook\n"
            "print(sorted(m for m in sys.modules if m.startswith(('crashveil.server', 'cryptography', 'click'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    assert "[]" == out.strip()
