"""Shared by the web integration tests: a reporting SDK and the personal data planted in requests.

``CANARIES`` go into every part of a request that must never reach a report: the URL path,
the query string, a header, a cookie, the body and the client's address. ``reporting()``
starts the real SDK with a ``RecordingTransport``; ``delivered()`` opens what it sent, as
the server would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import crashveil
from crashveil.testing import RecordingTransport

CANARIES = {
    "path": "alice-path-canary-4711",
    "query": "bob-query-canary-4712",
    "header": "carol-header-canary-4713",
    "cookie": "dave-cookie-canary-4714",
    "body": "erin-body-canary-4715",
    "client": "203.0.113.77",
}
PLANTED = [value.encode() for value in CANARIES.values()]


@contextmanager
def reporting(tmp_path: Path, dsn: str, opener: Callable[[bytes], bytes], *, level: str | None = "crash",
              **options: Any) -> Iterator[RecordingTransport]:
    """The SDK, initialised with ``options`` and a recording transport; ``level`` granted (device mode)."""
    transport = RecordingTransport(opener=opener)
    crashveil.init(dsn=dsn, data_dir=tmp_path / "data", app_root=Path(__file__).parent, release="web@1.0",
                   transport=transport, keep_history_content=True, **options)
    if level is not None:
        crashveil.grant(level)
    try:
        yield transport
    finally:
        crashveil.shutdown()


def delivered(transport: RecordingTransport) -> list[dict[str, Any]]:
    """The reports the sender delivered, opened (waits for the sender, bounded)."""
    assert crashveil.flush(10.0) is True
    return [json.loads(payload) for payload in transport.payloads("report")]


def assert_no_canary(transport: RecordingTransport, data_dir: Path) -> None:
    """No planted value in any opened report, nor in any file the SDK wrote (history with content)."""
    for payload in transport.payloads("report"):
        for canary in PLANTED:
            assert canary not in payload
    for path in data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for canary in PLANTED:
                assert canary not in content, path.name
