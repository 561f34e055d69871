"""Ingestion through the app: limits, opening, policy validation, redaction, storage, answers.

Real parts throughout: the app from ``create_app`` over the ``storage`` fixture (SQLite and
PostgreSQL), reports sealed with the SDK's ``seal_report`` to the project's real key.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import gzip
import json
import logging
import os
import ssl
import uuid
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import zstandard

with warnings.catch_warnings():  # starlette >= 1.0 prefers httpx2 and warns when it finds httpx
    warnings.simplefilter("ignore", UserWarning)  # StarletteDeprecationWarning is a UserWarning
    from starlette.testclient import TestClient

from crashveil.errors import StorageError
from crashveil.sdk.delivery.seal import seal_report, verify_config_signature
from crashveil.server.http.app import create_app
from crashveil.server.http.errors import log_safe
from crashveil.server.ingest.redaction import redact_report
from crashveil.server.storage.records import StoreResult, StoreRow
from crashveil.server.storage.store import Storage
from crashveil.wire import Report
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
REPORTS = "/api/v1/projects/demo/reports"
DELETIONS = "/api/v1/projects/demo/deletion-requests"
HEADERS = {"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"}


class Clock:
    """Monotonic seconds under the test's control (rate limiters)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_app(settings: Any, storage: Any, clock: Clock) -> Callable[..., Any]:
    """Build an app over the fixture storage with some settings overridden."""
    def build(storage_override: Storage | None = None, **overrides: Any) -> Any:
        return create_app(dataclasses.replace(settings, **overrides), storage_override or storage,
                          now=lambda: NOW, clock=clock)
    return build


@pytest.fixture
def client(make_app: Callable[..., Any]) -> TestClient:
    return TestClient(make_app())


@pytest.fixture
def seal(storage: Any) -> Callable[..., bytes]:
    """Seal a report (or raw bytes) for the demo project as the SDK does."""
    project = storage.project("demo")

    def run(report: Report | bytes | dict[str, Any] | list[Any], project_id: str = "demo") -> bytes:
        if isinstance(report, Report):
            payload = report.to_json()
        elif isinstance(report, (dict, list)):
            payload = json.dumps(report).encode()
        else:
            payload = report
        return seal_report(payload, project.keypairs[0].public_key(), project_id=project_id, schema_version=1)
    return run


def post(client: TestClient, body: bytes, path: str = REPORTS, **headers: str) -> Any:
    return client.post(path, content=body, headers={**HEADERS, **headers})


def metric(client: TestClient, name: str, **labels: str) -> float:
    """The value of one sample of the app's own registry."""
    registry = client.app.state.metrics.registry  # type: ignore[attr-defined]
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def error_of(response: Any) -> tuple[int, str, str | None]:
    body = response.json()
    return response.status_code, body["error"], body["field"]


# --- the happy path and idempotency ------------------------------------------------------------


def test_new_report_is_201_with_receipt_and_retry_is_200_same_receipt(client: TestClient, seal: Callable[..., bytes],
                                                                      make_report: Callable[..., Report]) -> None:
    """A new report is stored (201 + receipt); sending it again answers 200 with the same receipt."""
    body = seal(make_report())
    first = post(client, body)
    second = post(client, body)
    assert (201, "stored") == (first.status_code, first.json()["status"])
    assert (200, first.json()["receipt"]) == (second.status_code, second.json()["receipt"])
    assert 1.0 == metric(client, "crashveil_reports_accepted_total", outcome="created")
    assert 1.0 == metric(client, "crashveil_reports_accepted_total", outcome="retry")


def test_receipt_resolves_to_public_status(client: TestClient, seal: Callable[..., bytes],
                                           make_report: Callable[..., Report]) -> None:
    """The receipt of a stored report resolves to its status and hour, and nothing else."""
    receipt = post(client, seal(make_report(message="secret content"))).json()["receipt"]
    response = client.get(f"/api/v1/receipts/{receipt}")
    assert 200 == response.status_code
    assert {"receipt": receipt, "status": "grouped", "fixed_in": None, "received_hour": "2026-05-01T12:00Z"} \
        == response.json()


def test_unknown_receipt_is_404(client: TestClient) -> None:
    """A receipt that does not exist, or cannot exist, is 404 unknown_receipt."""
    for receipt in ("AAAAAAAAAAAAAAAAAAAAAA", "x" * 200, "bad!chars"):
        response = client.get(f"/api/v1/receipts/{receipt}")
        assert (404, "unknown_receipt") == (response.status_code, response.json()["error"])


def test_gzip_and_zstd_bodies_are_accepted(client: TestClient, seal: Callable[..., bytes],
                                           make_report: Callable[..., Report]) -> None:
    """A sealed body sent with gzip or zstd Content-Encoding is decoded and stored."""
    gz = post(client, gzip.compress(seal(make_report())), **{"Content-Encoding": "gzip"})
    zs = post(client, zstandard.ZstdCompressor().compress(seal(make_report())), **{"Content-Encoding": "zstd"})
    assert (201, 201) == (gz.status_code, zs.status_code)


# --- policy validation ----------------------------------------------------------------------


def test_unknown_project_is_404(client: TestClient, seal: Callable[..., bytes],
                                make_report: Callable[..., Report]) -> None:
    """A report for a project that does not exist (or cannot) is 404 unknown_project."""
    missing = post(client, seal(make_report(), project_id="nope"), "/api/v1/projects/nope/reports")
    malformed = post(client, b"x", "/api/v1/projects/NOT_VALID/reports")
    assert (404, "unknown_project", None) == error_of(missing)
    assert (404, "unknown_project", None) == error_of(malformed)


def test_report_sealed_for_another_project_is_400_unsealable(client: TestClient, seal: Callable[..., bytes],
                                                             make_report: Callable[..., Report]) -> None:
    """The project id is bound into the seal: a report sealed for another project does not open."""
    response = post(client, seal(make_report(), project_id="other"))
    assert (400, "unsealable", None) == error_of(response)


def test_unknown_policy_digest_is_422(client: TestClient, seal: Callable[..., bytes],
                                      make_report: Callable[..., Report]) -> None:
    """A digest the project has no policy for is 422 unknown_policy_digest."""
    report = dataclasses.replace(make_report(), policy_digest="sha256:" + "0" * 64)
    assert (422, "unknown_policy_digest", "policy_digest") == error_of(post(client, seal(report)))


@pytest.mark.parametrize(("level", "code"), [("galaxy", "unknown_consent_level"), ("off", "consent_off")])
def test_bad_consent_level_is_422(client: TestClient, seal: Callable[..., bytes], make_report: Callable[..., Report],
                                  level: str, code: str) -> None:
    """An unknown consent level, and level off, are 422 with their own codes."""
    report = dataclasses.replace(make_report(), consent_level=level)
    assert (422, code, "consent_level") == error_of(post(client, seal(report)))


def test_fields_beyond_the_level_are_dropped_and_counted(client: TestClient, storage: Any,
                                                         seal: Callable[..., bytes],
                                                         make_report: Callable[..., Report]) -> None:
    """At level crash the message is not allowed: it is not stored, and the drop is counted."""
    report = dataclasses.replace(make_report(message="boom"), consent_level="crash")
    assert 201 == post(client, seal(report)).status_code
    stored = storage.report_detail("demo", report.report_id)
    assert None is stored.report.message
    assert 1.0 == metric(client, "crashveil_dropped_fields_total", field="message", cause="not_allowed")


def test_tags_whose_key_the_policy_does_not_list_are_dropped(client: TestClient, storage: Any,
                                                             seal: Callable[..., bytes],
                                                             make_report: Callable[..., Report]) -> None:
    """A native report's tags keep only the keys the policy lists (``feature``), as the Sentry bridge does."""
    from crashveil.wire.report import Tag

    report = dataclasses.replace(make_report(), tags=(Tag("customer", "alice@example.org"), Tag("feature", "sync")))
    assert 201 == post(client, seal(report)).status_code
    stored = storage.report_detail("demo", report.report_id)
    assert ((Tag("feature", "sync"),), ("tags",)) == (stored.report.tags, stored.dropped_fields)
    assert 1.0 == metric(client, "crashveil_dropped_fields_total", field="tags", cause="not_allowed")


def test_unknown_fields_are_dropped_and_counted(client: TestClient, storage: Any, seal: Callable[..., bytes],
                                                make_report: Callable[..., Report]) -> None:
    """Keys the wire format does not know are dropped (201), and counted under a fixed label."""
    report = make_report()
    data = report.to_dict()
    data["hostname"] = "alice-laptop"
    data["stack"]["frames"][0]["locals"] = {"password": "hunter2"}
    assert 201 == post(client, seal(data)).status_code
    assert ("hostname", "stack.frames[0].locals") == storage.report_detail("demo", report.report_id).dropped_fields
    assert 1.0 == metric(client, "crashveil_dropped_fields_total", field="<unknown>", cause="unknown")
    assert 1.0 == metric(client, "crashveil_dropped_fields_total", field="stack", cause="unknown")


@pytest.mark.parametrize(("hour", "accepted"), [
    ("2026-05-01T12:00Z", True), ("2026-04-01T12:00Z", True), ("2026-05-01T13:00Z", True),
    ("2026-03-30T10:00Z", False), ("2026-05-01T14:00Z", False), ("2016-05-01T12:00Z", False),
    ("2036-05-01T12:00Z", False),
])
def test_replay_window_on_occurred_hour(client: TestClient, seal: Callable[..., bytes],
                                        make_report: Callable[..., Report], hour: str, accepted: bool) -> None:
    """Reports older than the replay window or more than an hour ahead are 422 outside_replay_window."""
    response = post(client, seal(dataclasses.replace(make_report(), occurred_hour=hour)))
    if accepted:
        assert 201 == response.status_code
    else:
        assert (422, "outside_replay_window", "occurred_hour") == error_of(response)


def test_impossible_hour_is_422_not_500(client: TestClient, seal: Callable[..., bytes],
                                        make_report: Callable[..., Report]) -> None:
    """An hour that matches the pattern but is no date is 422 bad_format."""
    response = post(client, seal(dataclasses.replace(make_report(), occurred_hour="2026-13-45T99:00Z")))
    assert (422, "bad_format", "occurred_hour") == error_of(response)


# --- redaction ------------------------------------------------------------------------------


def test_server_redacts_again_and_counts_hits(client: TestClient, storage: Any, seal: Callable[..., bytes],
                                              make_report: Callable[..., Report]) -> None:
    """An e-mail the SDK missed is redacted before storage and counted as a redaction hit."""
    report = make_report(message="cannot mail alice.smith@example.com now")
    assert 201 == post(client, seal(report)).status_code
    stored = storage.report_detail("demo", report.report_id).report
    assert "alice.smith@example.com" not in (stored.message or "")
    assert 1.0 == metric(client, "crashveil_redaction_hits_total", field="message", detector="email")


def test_redact_report_visits_every_free_string() -> None:
    """Every free string of a report goes through the redactor, under a fixed field name."""
    from crashveil.wire import Breadcrumb, ChainedError, Environment, Frame, Stack

    frames = Stack((Frame("a.py", "f", 1, True),))
    report = Report(schema_version=1, policy_digest="sha256:" + "0" * 64, consent_level="diagnostic",
                    report_id=str(uuid.uuid4()), crash_type="E", fingerprint="v1:" + "0" * 32, stack=frames,
                    chain=(ChainedError("cause", "E2", message="m", stack=frames),), release="r",
                    environment=Environment("l", "6", "c", "3", "x"), comment="c", message="m",
                    breadcrumbs=(Breadcrumb(1, "ui", "b"),))
    seen: list[tuple[str, str]] = []

    def redact(text: str, kind: str) -> tuple[str, dict[str, int]]:
        seen.append((text, kind))
        return "X", {"test": 1}

    redacted, hits = redact_report(report, redact)
    assert {("message", "test"): 1, ("comment", "test"): 1, ("release", "test"): 1, ("stack.file", "test"): 1,
            ("stack.function", "test"): 1, ("chain.message", "test"): 1, ("chain.stack.file", "test"): 1,
            ("chain.stack.function", "test"): 1, ("breadcrumbs.message", "test"): 1,
            ("crash_type", "test"): 1, ("chain.crash_type", "test"): 1, ("breadcrumbs.category", "test"): 1,
            **{(f"environment.{name}", "test"): 1 for name in
               ("os_family", "os_version", "python_impl", "python_version", "arch")}} == hits
    assert ("X", "X", "X") == (redacted.message, redacted.chain[0].message, redacted.environment.arch)
    assert ("a.py", "path") in seen


# --- rate limits ------------------------------------------------------------------------------


def test_project_rate_limit_is_429_with_retry_after(make_app: Callable[..., Any], clock: Clock,
                                                    seal: Callable[..., bytes],
                                                    make_report: Callable[..., Report]) -> None:
    """Past the project's burst the answer is 429 with Retry-After; time refills the bucket."""
    client = TestClient(make_app(project_rate_per_s=0.5, project_burst=2))
    statuses = [post(client, seal(make_report())).status_code for _ in range(3)]
    limited = post(client, seal(make_report()))
    clock.now += 2.0
    after = post(client, seal(make_report()))
    assert [201, 201, 429] == statuses
    assert ("2", "rate_limited") == (limited.headers["Retry-After"], limited.json()["error"])
    assert 201 == after.status_code
    assert 2.0 == metric(client, "crashveil_rate_limited_total", scope="project")


def test_pseudonym_rate_limit_is_per_install(make_app: Callable[..., Any], seal: Callable[..., bytes],
                                             make_report: Callable[..., Report]) -> None:
    """One install past its hourly limit gets 429; another install of the same project does not."""
    client = TestClient(make_app(pseudonym_rate_per_hour=2))
    statuses = [post(client, seal(make_report(install_id="a" * 32))).status_code for _ in range(3)]
    other = post(client, seal(make_report(install_id="b" * 32)))
    assert [201, 201, 429] == statuses
    assert 201 == other.status_code



def test_a_counts_only_flood_leaves_the_projects_other_groups_answered(
        make_app: Callable[..., Any], seal: Callable[..., bytes], make_report: Callable[..., Report]) -> None:
    """A mass failure does not use up the project's bucket for its other groups: once its
    group is counts-only, its reports are charged to the group's own bucket (same burst); when
    that is empty the flood takes project tokens again, so it is still limited (at most 2x)."""
    client = TestClient(make_app(project_rate_per_s=0.001, project_burst=10, mass_failure_per_hour=3,
                                 pseudonym_rate_per_hour=1000))

    def flood() -> int:
        return post(client, seal(make_report(install_id=uuid.uuid4().hex))).status_code

    # 3 stored whole (3 project tokens), then 10 counts-only charged to the group: 7 tokens left
    first = [flood() for _ in range(13)]
    other = post(client, seal(make_report(function="elsewhere", install_id=uuid.uuid4().hex)))
    # the group's bucket is empty: the flood takes the 6 project tokens left, then 429
    rest = [flood() for _ in range(7)]
    assert ([201] * 13, 201) == (first, other.status_code)
    assert [201] * 6 + [429] == rest
    assert "rate_limited" == post(client, seal(make_report(function="third"))).json()["error"]

# --- storage failure --------------------------------------------------------------------------


class FailingStorage(Storage):
    """A real Storage over the fixture's database and key ring, except that storing fails
    while ``failing`` is set (every write path goes through ``store_rows``)."""

    def __init__(self, inner: Storage) -> None:
        super().__init__(inner.settings, inner.engine, inner.keys, clock=lambda: NOW)
        self.failing = True

    def store_rows(self, batch: Sequence[StoreRow], **kwargs: Any) -> list[StoreResult]:
        if self.failing:
            raise StorageError("database is locked (test)")
        return super().store_rows(batch, **kwargs)


def test_storage_failure_is_503_with_retry_after_and_nothing_acknowledged(
        make_app: Callable[..., Any], storage: Any, seal: Callable[..., bytes],
        make_report: Callable[..., Report]) -> None:
    """A failing database answers 503 + Retry-After; the retry after recovery is stored (201)."""
    failing = FailingStorage(storage)
    client = TestClient(make_app(storage_override=failing))
    body = seal(make_report())
    refused = post(client, body)
    failing.failing = False
    retried = post(client, body)
    assert (503, "storage_unavailable", "30") == (refused.status_code, refused.json()["error"],
                                                  refused.headers["Retry-After"])
    assert 201 == retried.status_code
    assert 0.0 == metric(client, "crashveil_reports_accepted_total", outcome="retry")


def test_readyz_follows_storage(make_app: Callable[..., Any], storage: Any) -> None:
    """/readyz is 200 while storage answers and 503 when it does not; /healthz stays 200."""
    class Down(FailingStorage):
        def ping(self) -> None:
            raise StorageError("down")

    up = TestClient(make_app())
    down = TestClient(make_app(storage_override=Down(storage)))
    assert (200, 503, 200) == (up.get("/readyz").status_code, down.get("/readyz").status_code,
                               down.get("/healthz").status_code)


# --- body limits, raw ASGI ------------------------------------------------------------------


def asgi_post(app: Any, path: str, chunks: list[bytes], headers: dict[str, str], *,
              client: tuple[str, int] = ("198.51.100.7", 4242), stall: bool = False) -> tuple[int, dict[str, Any]]:
    """Drive the app with exact ASGI messages (lying Content-Length, chunks, stalls)."""
    async def run() -> tuple[int, dict[str, Any]]:
        messages = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1 or stall}
                    for i, chunk in enumerate(chunks)] or [{"type": "http.request", "body": b"", "more_body": stall}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)  # a stalled client sends nothing more: the app's timeout cancels this
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "https", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "root_path": "", "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
                 "client": client, "server": ("127.0.0.1", 8443), "state": {}}
        await app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return start["status"], json.loads(body)
    return asyncio.run(run())


def test_body_at_limit_passes_the_size_check_and_one_more_byte_is_413(make_app: Callable[..., Any]) -> None:
    """Exactly max_body_bytes gets past the size check (then fails to open); +1 byte is 413."""
    app = make_app(max_body_bytes=1000)
    at_limit = asgi_post(app, REPORTS, [b"x" * 1000], {**HEADERS, "Content-Length": "1000"})
    over = asgi_post(app, REPORTS, [b"x" * 1001], {**HEADERS, "Content-Length": "1001"})
    assert (400, "unsealable") == (at_limit[0], at_limit[1]["error"])
    assert (413, "too_large") == (over[0], over[1]["error"])


def test_oversized_content_length_is_refused_before_reading(make_app: Callable[..., Any]) -> None:
    """A Content-Length above the limit is 413 at once, even if the body never comes."""
    status, body = asgi_post(make_app(), REPORTS, [], {**HEADERS, "Content-Length": str(10**9)}, stall=True)
    assert (413, "too_large") == (status, body["error"])


def test_chunked_body_over_limit_is_413_while_streaming(make_app: Callable[..., Any]) -> None:
    """Without Content-Length the bytes are counted as they arrive."""
    status, body = asgi_post(make_app(max_body_bytes=1000), REPORTS, [b"x" * 600, b"x" * 600], HEADERS)
    assert (413, "too_large") == (status, body["error"])


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "", "99999999999999999999"])
def test_malformed_content_length_is_400(make_app: Callable[..., Any], length: str) -> None:
    """A Content-Length that is not one decimal number is 400 bad_content_length."""
    status, body = asgi_post(make_app(), REPORTS, [b"x"], {**HEADERS, "Content-Length": length})
    assert (400, "bad_content_length") == (status, body["error"])


def test_content_length_differing_from_body_is_400(make_app: Callable[..., Any]) -> None:
    """A Content-Length smaller than what arrives is 400 (the server below normally enforces it)."""
    status, body = asgi_post(make_app(), REPORTS, [b"x" * 50], {**HEADERS, "Content-Length": "10"})
    assert (400, "bad_content_length") == (status, body["error"])


def test_stalled_body_is_408(settings: Any, storage: Any, clock: Clock) -> None:
    """A body that stops arriving is answered 408 after the body timeout."""
    app = create_app(settings, storage, now=lambda: NOW, clock=clock, body_timeout_s=0.2)
    status, body = asgi_post(app, REPORTS, [b"x" * 10], HEADERS, stall=True)
    assert (408, "body_timeout") == (status, body["error"])


@pytest.mark.parametrize(("headers", "expected"), [
    ({"Content-Type": "application/json"}, (415, "unsupported_media_type")),
    ({SCHEMA_HEADER: "2"}, (400, "unsupported_schema")),
    ({"Content-Encoding": "gzip, gzip"}, (415, "stacked_encoding")),
    ({"Content-Encoding": "compress"}, (415, "unsupported_encoding")),
])
def test_header_refusals(client: TestClient, headers: dict[str, str], expected: tuple[int, str]) -> None:
    """Wrong content type, schema version or encoding are refused before the body is used."""
    response = post(client, b"x" * 10, **headers)
    assert expected == (response.status_code, response.json()["error"])


def test_gzip_bomb_is_413(client: TestClient) -> None:
    """A small gzip body that inflates past the decompressed cap is 413 decompressed_too_large."""
    response = post(client, gzip.compress(bytes(64 * 1024 * 1024)), **{"Content-Encoding": "gzip"})
    assert (413, "decompressed_too_large") == (response.status_code, response.json()["error"])


# --- hostile content never yields a 5xx -------------------------------------------------------


@pytest.mark.parametrize("payload", [
    b"", b"null", b"[]", b"{}", b"\xff\xfe", b"[" * 100_000, b'{"a":' * 5000, b"1" * 5000,
    json.dumps({"schema_version": 1}).encode(), b'{"schema_version": 1e400}',
], ids=["empty", "null", "array", "object", "not-utf8", "deep-array", "deep-object", "huge-int", "partial",
        "float-overflow"])
def test_hostile_payloads_inside_a_valid_seal_are_4xx(client: TestClient, seal: Callable[..., bytes],
                                                      payload: bytes) -> None:
    """Whatever JSON (or not) is sealed, the answer is a 4xx with a code, never a 5xx."""
    response = post(client, seal(payload))
    assert 400 <= response.status_code < 500
    assert {"error", "field", "message"} == set(response.json())


def test_error_messages_never_echo_submitted_values(client: TestClient, seal: Callable[..., bytes],
                                                    make_report: Callable[..., Report]) -> None:
    """A rejected field's value does not appear in the error message."""
    data = make_report().to_dict()
    data["crash_type"] = "CANARY-" + "z" * 300
    response = post(client, seal(data))
    assert 400 == response.status_code
    assert "CANARY" not in response.text


# --- privacy of the client address and of logs ------------------------------------------------


def test_client_address_is_in_no_log_and_no_row(make_app: Callable[..., Any], settings: Any, storage: Any,
                                                seal: Callable[..., bytes], make_report: Callable[..., Report],
                                                caplog: pytest.LogCaptureFixture) -> None:
    """The peer address of a request appears in no log record and nowhere in the database."""
    caplog.set_level(logging.DEBUG)
    app = make_app()
    ok = asgi_post(app, REPORTS, [seal(make_report())], HEADERS, client=("203.0.113.77", 4242))
    bad = asgi_post(app, REPORTS, [b"garbage"], HEADERS, client=("203.0.113.77", 4242))
    assert (201, 400) == (ok[0], bad[0])
    assert "203.0.113.77" not in caplog.text
    if settings.database_url.startswith("sqlite:///"):
        storage.engine.dispose()
        for suffix in ("", "-wal"):
            path = settings.database_url[len("sqlite:///"):] + suffix
            if os.path.exists(path):
                with open(path, "rb") as file:
                    assert b"203.0.113.77" not in file.read()
    else:
        import sqlalchemy as sa

        with storage.engine.connect() as conn:
            tables = conn.execute(sa.text(
                "select table_name from information_schema.tables where table_schema='public'")).scalars().all()
            for table in tables:
                text = " ".join(str(row) for row in conn.execute(sa.text(f'select * from "{table}"')))
                assert "203.0.113.77" not in text


def test_log_safe_escapes_control_characters() -> None:
    """CR, LF, ANSI escapes and line separators are escaped; long text is cut."""
    assert "a\\x0d\\x0a{\"level\":\"admin\"}\\x1b[31m\\u2028" == log_safe('a\r\n{"level":"admin"}\x1b[31m\u2028')
    assert 203 == len(log_safe("x" * 10_000))


# --- deletion requests --------------------------------------------------------------------------


def test_deletion_request_deletes_and_confirms_with_a_signature(client: TestClient, storage: Any,
                                                                 seal: Callable[..., bytes],
                                                                 make_report: Callable[..., Report]) -> None:
    """A sealed deletion request deletes the install's reports and answers 202 with a signed record
    that names the request, not how many reports went (the audit trail keeps the count)."""
    mine = [post(client, seal(make_report(install_id="a" * 32))).json()["receipt"] for _ in range(2)]
    other = post(client, seal(make_report(install_id="b" * 32))).json()["receipt"]
    request_id = str(uuid.uuid4())
    response = post(client, seal({"request_id": request_id, "install_ids": ["a" * 32]}), DELETIONS)
    body = response.json()
    record = base64.urlsafe_b64decode(body["record"] + "==")
    signature = base64.urlsafe_b64decode(body["confirmation"] + "==")
    public = storage.project("demo").signing_key.public_key_string()
    assert (202, request_id, "processed", False) == (response.status_code, body["request_id"], body["status"],
                                                     "deleted" in body)
    assert verify_config_signature(record, signature, public)
    assert {"request_id": request_id, "project_id": "demo", "processed_at": "2026-05-01T12:30:00Z"} == \
        json.loads(record)
    assert [404, 404, 200] == [client.get(f"/api/v1/receipts/{r}").status_code for r in (*mine, other)]
    erasures = client.app.state.ingestor.audit.entries(actions=["erasure"])  # type: ignore[attr-defined]
    assert [("demo", {"installs": 1, "reports_deleted": 2})] == [(e.project_id, json.loads(e.detail)) for e in erasures]


@pytest.mark.parametrize(("payload", "field"), [
    ({"request_id": "not-a-uuid", "install_ids": ["a" * 32]}, "request_id"),
    ({"request_id": str(uuid.uuid4()), "install_ids": []}, "install_ids"),
    ({"request_id": str(uuid.uuid4()), "install_ids": ["a" * 32] * 65}, "install_ids"),
    ({"request_id": str(uuid.uuid4()), "install_ids": ["A" * 32]}, "install_ids[0]"),
    ({"request_id": str(uuid.uuid4()), "install_ids": ["a" * 32], "extra": 1}, None),
    ([], None),
])
def test_malformed_deletion_request_is_400(client: TestClient, seal: Callable[..., bytes], payload: Any,
                                           field: str | None) -> None:
    """A deletion request that is not exactly {request_id: uuid4, install_ids: 1..64 ids} is 400."""
    response = post(client, seal(payload), DELETIONS)
    assert (400, "bad_deletion_request", field) == error_of(response)


# --- remote config and mass-failure mode -------------------------------------------------------



def test_config_verifies_for_apps_pinning_a_key_in_its_rotation_overlap(make_app: Callable[..., Any],
                                                                        storage: Any) -> None:
    """After ``keys rotate`` the config is signed by the new key and, in ``signatures``, by
    every key still in its overlap: an app shipped with the old connection string (pinning
    the old key) and one with the new string both verify it."""
    from crashveil.sdk.remote.config import RemoteConfig

    old = storage.project("demo").signing_key.public_key_string()
    storage.rotate_project_keys("demo", now=NOW, kinds=("signing",))
    new = storage.project("demo", fresh=True).signing_key.public_key_string()
    response = TestClient(make_app()).get("/api/v1/projects/demo/config")
    parsed = [RemoteConfig.parse(response.content, pin, project="demo", now=NOW.timestamp()).project
              for pin in (old, new)]
    assert (200, 2, ["demo", "demo"]) == (response.status_code, len(response.json()["signatures"]), parsed)

def test_config_is_signed_and_lists_counts_only_groups(make_app: Callable[..., Any], storage: Any,
                                                       seal: Callable[..., bytes],
                                                       make_report: Callable[..., Report]) -> None:
    """Past the mass-failure threshold a group is counts-only, and the signed config says so."""
    client = TestClient(make_app(pseudonym_rate_per_hour=1000))
    report = make_report()
    for _ in range(8):
        post(client, seal(make_report(install_id=uuid.uuid4().hex)))
    response = client.get("/api/v1/projects/demo/config")
    body = response.json()
    config_bytes = base64.urlsafe_b64decode(body["config"] + "==")
    signature = base64.urlsafe_b64decode(body["signature"] + "==")
    config = json.loads(config_bytes)
    assert 200 == response.status_code
    assert verify_config_signature(config_bytes, signature, storage.project("demo").signing_key.public_key_string())
    assert ("demo", [report.fingerprint]) == (config["project"], config["counts_only"])
    assert (int(NOW.timestamp()), int(NOW.timestamp()) + 86400) == (config["issued_at"], config["expires_at"])
    from crashveil.sdk.remote.config import RemoteConfig

    parsed = RemoteConfig.parse(response.content, storage.project("demo").signing_key.public_key_string(),
                                project="demo", now=NOW.timestamp())
    assert (True, False) == (parsed.counts_only(report.fingerprint), parsed.counts_only("v1:" + "f" * 32))


def test_config_of_unknown_project_is_404(client: TestClient) -> None:
    """The config of a project that does not exist is 404."""
    assert 404 == client.get("/api/v1/projects/nope/config").status_code


# --- counts-only mode weighed by credential ---------------------------------------------------


def _with_client_cert(app: Any, pem: str) -> Any:
    """``app`` as a TLS server would run it for a peer that presented ``pem``: the scope
    carries the ASGI TLS extension (``crashveil.server.http.peer`` reads it first)."""
    async def run(scope: Any, receive: Any, send: Any) -> None:
        scope = dict(scope)
        scope["extensions"] = {**(scope.get("extensions") or {}), "tls": {"client_cert_chain": [pem]}}
        await app(scope, receive, send)
    return run


def test_counts_only_per_credential_and_project_wide_each_mode_change_is_audited(
        make_app: Callable[..., Any], storage: Any, settings: Any, seal: Callable[..., bytes],
        make_report: Callable[..., Report]) -> None:
    """Threshold 3, cap 2 a credential. 6 reports from one certificate (fresh pseudonyms
    each): past its own 3 the group is counts-only for that certificate alone (its reports
    stored without details, its config lists the group, the second's does not; audit entry
    scoped to its digest). The second certificate's reports then pass the capped weight (2 +
    2 > 3): the group enters counts-only project-wide (audit entry, scope ``project``, with
    the figures), listed for both. Once both modes expired, neither config lists the group
    and each end is an audit entry with its scope. The trail verifies."""
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.ingest.credential_weight import credential_id
    from crashveil.server.keys import pki

    ca = pki.create_ca("test CA", now=NOW)
    pems = [pki.issue_client_cert(ca, f"app-{i}", now=NOW).cert_pem().decode() for i in range(2)]
    digest = credential_id("cert", ssl.PEM_cert_to_DER_cert(pems[0]))
    limits = {"mass_failure_per_hour": 3, "mass_failure_per_credential": 2}
    storage.settings = dataclasses.replace(storage.settings, **limits)  # the writer's settings decide
    app = make_app(pseudonym_rate_per_hour=1000, **limits)
    first, second = (TestClient(_with_client_cert(app, pem)) for pem in pems)
    fingerprint = make_report().fingerprint

    def send(client: TestClient) -> bool:
        response = post(client, seal(make_report(install_id=uuid.uuid4().hex)))
        assert 201 == response.status_code
        return storage.report_detail("demo", _report_id_of(storage, response.json()["receipt"])) is None

    def listed(client: TestClient) -> list[str]:
        config = client.get("/api/v1/projects/demo/config").json()["config"]
        return list(json.loads(base64.urlsafe_b64decode(config + "=" * (-len(config) % 4)))["counts_only"])

    def scopes(action: str) -> list[tuple[str, str]]:
        return [(e.details["scope"], e.subject) for e in trail.entries(actions=[action])]

    trail = AuditTrail.for_server_dir(storage.engine, settings.server_dir)
    one_sender = [send(first) for _ in range(6)]
    listed_alone = (listed(first), listed(second))
    scoped_entries = scopes("counts_only.enter")
    two_senders = [send(second) for _ in range(3)]
    entered = trail.entries(actions=["counts_only.enter"])
    assert ([False] * 3 + [True] * 3, ([fingerprint], []), [False, True, True], [fingerprint], [fingerprint]) == (
        one_sender, listed_alone, two_senders, listed(first), listed(second))
    assert ([digest], [digest, "project"]) == ([s for s, _ in scoped_entries], [e.details["scope"] for e in entered])
    assert ({"reports": 4, "threshold": 3, "fingerprint": fingerprint}, "system") == (
        {k: entered[0].details[k] for k in ("reports", "threshold", "fingerprint")}, entered[0].actor)
    assert ({"weight": 4, "reports": 8, "credentials": 2, "threshold": 3, "per_credential_cap": 2}, "system") == (
        {k: entered[1].details[k] for k in ("weight", "reports", "credentials", "threshold", "per_credential_cap")},
        entered[1].actor)
    later = create_app(dataclasses.replace(settings, **limits), storage, now=lambda: NOW + timedelta(hours=3))
    before_end = scopes("counts_only.leave")
    after_end = (listed(TestClient(_with_client_cert(later, pems[1]))),
                 listed(TestClient(_with_client_cert(later, pems[0]))))
    left = trail.entries(actions=["counts_only.leave"])
    assert ([], ([], []), 2) == (before_end, after_end, len(left))
    assert {(digest, entered[0].subject), ("project", entered[0].subject)} == {
        (e.details["scope"], e.subject) for e in left}
    assert all("expired" in e.details["reason"] for e in left)
    assert trail.verify().ok


def test_a_credentials_own_mode_ends_on_its_next_report_once_expired_audited_once(
        make_app: Callable[..., Any], storage: Any, settings: Any, seal: Callable[..., bytes],
        make_report: Callable[..., Report]) -> None:
    """Threshold 3: one certificate's 4th report of the hour is stored counts-only. Three
    hours later its next report keeps its details and the writer records the end of that
    credential's mode (scope: its digest); fetching its config then records nothing more."""
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.ingest.credential_weight import credential_id
    from crashveil.server.keys import pki

    pem = pki.issue_client_cert(pki.create_ca("test CA", now=NOW), "app", now=NOW).cert_pem().decode()
    limits = {"mass_failure_per_hour": 3, "mass_failure_per_credential": 2}
    storage.settings = dataclasses.replace(storage.settings, **limits)
    now_client = TestClient(_with_client_cert(make_app(pseudonym_rate_per_hour=1000, **limits), pem))
    later_client = TestClient(_with_client_cert(create_app(dataclasses.replace(settings, **limits), storage,
                                                           now=lambda: NOW + timedelta(hours=3)), pem))

    def send(client: TestClient) -> bool:
        response = post(client, seal(make_report(install_id=uuid.uuid4().hex)))
        assert 201 == response.status_code
        return storage.report_detail("demo", _report_id_of(storage, response.json()["receipt"])) is None

    trail = AuditTrail.for_server_dir(storage.engine, settings.server_dir)
    first_hour = [send(now_client) for _ in range(4)]
    later = send(later_client)
    left = [e.details["scope"] for e in trail.entries(actions=["counts_only.leave"])]
    config = later_client.get("/api/v1/projects/demo/config").json()["config"]
    listed = json.loads(base64.urlsafe_b64decode(config + "=" * (-len(config) % 4)))["counts_only"]
    digest = credential_id("cert", ssl.PEM_cert_to_DER_cert(pem))
    assert ([False, False, False, True], False, [digest], []) == (first_hour, later, left, listed)
    assert 1 == len(trail.entries(actions=["counts_only.leave"]))
    assert trail.verify().ok


def _report_id_of(storage: Any, receipt: str) -> str:
    import sqlalchemy as sa

    from crashveil.server.db.tables import reports

    with storage.engine.connect() as conn:
        return str(conn.execute(sa.select(reports.c.report_id).where(reports.c.receipt == receipt)).scalar_one())
