"""The Sentry endpoints over HTTP: authentication, Sentry's size limits, decompression bombs,
rate limits in Sentry's protocol, event ids, retries, the replay window and the store endpoint."""

from __future__ import annotations

import gzip
import json
import uuid
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import brotli
import pytest
import zstandard

from crashveil.server.sentry.keys import SentryKeys
from crashveil.server.sentry.routes import SentryLimits

from .conftest import build_server, envelope, event_envelope, python_event  # type: ignore[import-not-found]


def test_valid_event_is_answered_with_its_id_and_stored_as_sentry_sdk(server: Any, stored_reports: Any) -> None:
    """A Python event is answered 200 ``{"id": event_id}`` and stored with origin ``sentry-sdk``."""
    event = python_event()
    response = server.post_envelope(event_envelope(event))
    assert (200, {"id": event["event_id"]}) == (response.status_code, response.json())
    row, detail = stored_reports(server)[0]
    assert ("sentry-sdk", "crash", "KeyError") == (row.origin, row.level, detail.report.crash_type)


def test_missing_auth_is_401(server: Any) -> None:
    """Without X-Sentry-Auth or ``sentry_key`` the request is refused with 401."""
    response = server.client.post(server.envelope_url(), content=event_envelope(python_event()))
    assert (401, "missing_auth") == (response.status_code, response.json()["error"])


@pytest.mark.parametrize("key", ["0" * 32, "not-a-key", "", "A" * 32])
def test_unknown_key_is_401(server: Any, key: str) -> None:
    """An unknown or malformed key is refused with 401."""
    response = server.post_envelope(event_envelope(python_event()), headers=server.auth(key) if key else
                                    {"X-Sentry-Auth": "Sentry sentry_key="})
    assert 401 == response.status_code


def test_sentry_key_in_the_query_string_works(server: Any) -> None:
    """Browser SDKs put ``sentry_key`` in the query string; that authenticates too."""
    url = f"{server.envelope_url()}?sentry_key={server.key}&sentry_version=7"
    assert 200 == server.client.post(url, content=event_envelope(python_event())).status_code


def test_key_of_another_project_is_401(server: Any) -> None:
    """A valid key used with another project's numeric id is refused."""
    server.storage.create_project("other")
    other, _ = SentryKeys(server.storage.engine).create_key("other")
    response = server.client.post(server.envelope_url(other.numeric_id), content=event_envelope(python_event()),
                                  headers=server.auth())
    assert 401 == response.status_code


def test_revoked_key_is_refused(server: Any) -> None:
    """After ``revoke``, the key is refused (the cache is off in tests)."""
    assert 1 == SentryKeys(server.storage.engine).revoke("demo", server.key[:8])
    assert 401 == server.post_envelope(event_envelope(python_event())).status_code


@pytest.mark.parametrize("numeric", ["abc", "1e3", "99999999999", "-1"])
def test_non_numeric_project_is_404(server: Any, numeric: str) -> None:
    """A project id that is not a short number is 404 before any lookup."""
    response = server.client.post(f"/api/{numeric}/envelope/", content=b"{}\n", headers=server.auth())
    assert 404 == response.status_code


def test_declared_length_over_the_envelope_limit_is_413_unread(tmp_path: Path) -> None:
    """A Content-Length above the compressed envelope limit is 413 with X-Sentry-Error."""
    srv = build_server(tmp_path, limits=SentryLimits(max_envelope_bytes=1000))
    response = srv.post_envelope(b"{}\n" + b" " * 1001)
    assert (413, "too large") == (response.status_code, response.headers["x-sentry-error"])


def test_envelope_exactly_at_the_limit_is_accepted(tmp_path: Path) -> None:
    """An envelope of exactly the limit is accepted; one byte more is 413."""
    body = event_envelope(python_event())
    srv = build_server(tmp_path, limits=SentryLimits(max_envelope_bytes=len(body)))
    assert 200 == srv.post_envelope(body).status_code
    assert 413 == srv.post_envelope(body + b"\n").status_code


def test_event_over_1_mib_is_413(server: Any) -> None:
    """An event item larger than Sentry's 1 MiB event limit is 413."""
    event = python_event(extra={"blob": "x" * (1024 * 1024)})
    assert 413 == server.post_envelope(event_envelope(event)).status_code


def test_large_attachment_is_skipped_not_refused(server: Any, stored_reports: Any) -> None:
    """A 3 MiB attachment beside the event is dropped as it streams; the event is stored."""
    event = python_event()
    body = event_envelope(event).rstrip(b"\n") + b"\n" + json.dumps(
        {"type": "attachment", "length": 3 * 1024 * 1024}).encode() + b"\n" + b"\0" * (3 * 1024 * 1024) + b"\n"
    response = server.post_envelope(body, gzip_it=True)
    assert (200, 1) == (response.status_code, len(stored_reports(server)))


def _bomb(encoding: str, size: int) -> bytes:
    zeros = b'{}\n{"type":"attachment"}\n' + b"\0" * size  # a valid start, then a payload of zeros
    if encoding == "gzip":
        return gzip.compress(zeros, 9)
    if encoding == "deflate":
        return zlib.compress(zeros, 9)
    if encoding == "br":
        return brotli.compress(zeros)
    return zstandard.ZstdCompressor(write_content_size=False).compress(zeros)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_decompression_bomb_is_413(tmp_path: Path, encoding: str) -> None:
    """A body that inflates past the decompressed cap is 413 for each encoding."""
    srv = build_server(tmp_path, limits=SentryLimits(max_envelope_decompressed_bytes=4 * 1024 * 1024))
    bomb = _bomb(encoding, 16 * 1024 * 1024)
    response = srv.client.post(srv.envelope_url(), content=bomb, headers={**srv.auth(), "Content-Encoding": encoding})
    assert (413, "decompressed_too_large") == (response.status_code, response.json()["error"])


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_each_encoding_is_accepted(server: Any, encoding: str) -> None:
    """gzip, deflate, br and zstd bodies are decoded and the event stored."""
    body = event_envelope(python_event())
    packed = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress,
              "zstd": zstandard.ZstdCompressor().compress}[encoding](body)
    response = server.client.post(server.envelope_url(), content=packed,
                                  headers={**server.auth(), "Content-Encoding": encoding})
    assert 200 == response.status_code


@pytest.mark.parametrize(("encoding", "status"), [("gzip, br", 415), ("compress", 415)])
def test_stacked_or_unknown_encoding_is_415(server: Any, encoding: str, status: int) -> None:
    """Stacked or unknown encodings are refused with 415."""
    response = server.client.post(server.envelope_url(), content=b"{}\n",
                                  headers={**server.auth(), "Content-Encoding": encoding})
    assert status == response.status_code


def test_corrupt_or_trailing_gzip_is_400(server: Any) -> None:
    """A truncated gzip stream, or one with trailing bytes, is 400 ``bad_compression``."""
    packed = gzip.compress(event_envelope(python_event()))
    for body in (packed[:-5], packed + b"junk"):
        response = server.client.post(server.envelope_url(), content=body,
                                      headers={**server.auth(), "Content-Encoding": "gzip"})
        assert (400, "bad_compression") == (response.status_code, response.json()["error"])


def test_project_rate_limit_answers_sentrys_429(tmp_path: Path) -> None:
    """Past the project's errors budget: 429 with Retry-After and X-Sentry-Rate-Limits naming the
    error categories (never an empty list, which would also stop the SDK's client reports),
    counted as the key's outcome."""
    srv = build_server(tmp_path, project_rate_per_s=0.5, project_burst=1)
    try:
        assert 200 == srv.post_envelope(event_envelope(python_event())).status_code
        response = srv.post_envelope(event_envelope(python_event()))
        assert (429, "2", "2:default;error;security:key:project_rate_limited") == (
            response.status_code, response.headers["retry-after"], response.headers["x-sentry-rate-limits"])
        assert 1 == srv.outcomes()[("event", "error", "project_rate_limited")]
    finally:
        srv.storage.close()


def test_sessions_take_no_tokens_from_the_error_budget(tmp_path: Path) -> None:
    """Envelopes without an event (sessions, client reports) spend the other budget: past it
    they are refused for their own categories, and an error event still gets through."""
    srv = build_server(tmp_path, project_rate_per_s=0.01, project_burst=1)
    session = envelope(({"type": "session"}, b'{"sid":"ab","status":"ok"}'))
    try:
        first, second = srv.post_envelope(session), srv.post_envelope(session)
        event = srv.post_envelope(event_envelope(python_event()))
        assert (200, 429, 200) == (first.status_code, second.status_code, event.status_code)
        assert "error" not in second.headers["x-sentry-rate-limits"].split(":")[1].split(";")
        assert "session" in second.headers["x-sentry-rate-limits"].split(":")[1].split(";")
        # both budgets empty: refused before the body is read, for every category
        refused = srv.post_envelope(event_envelope(python_event()))
        assert (429, 2) == (refused.status_code, len(refused.headers["x-sentry-rate-limits"].split(",")))
        outcomes = srv.outcomes()
        assert (1, 1, 1) == (outcomes[("event", "error", "accepted")], outcomes[("item", "session", "rate_limited")],
                             outcomes[("item", "envelope", "project_rate_limited")])
    finally:
        srv.storage.close()


def test_noisy_user_is_answered_429_with_a_short_backoff(tmp_path: Path, stored_reports: Any) -> None:
    """Past the per-pseudonym limit an event is answered 429 (the SDK backs off and counts
    what it drops meanwhile), asking for at most USER_BACKOFF_MAX_S seconds for error
    categories only; another user's event is stored; the refusal is the key's outcome."""
    from crashveil.server.sentry.budgets import USER_BACKOFF_MAX_S

    srv = build_server(tmp_path, pseudonym_rate_per_hour=1)
    try:
        first = srv.post_envelope(event_envelope(python_event(user={"id": "u1"})))
        second = srv.post_envelope(event_envelope(python_event(user={"id": "u1"})))
        other = srv.post_envelope(event_envelope(python_event(user={"id": "u2"})))
        assert [200, 429, 200] == [first.status_code, second.status_code, other.status_code]
        backoff = int(USER_BACKOFF_MAX_S)
        assert (str(backoff), f"{backoff}:default;error;security:key:user_rate_limited") == (
            second.headers["retry-after"], second.headers["x-sentry-rate-limits"])
        assert 2 == len(stored_reports(srv))
        outcomes = srv.outcomes()
        assert (2, 1) == (outcomes[("event", "error", "accepted")], outcomes[("event", "error", "user_rate_limited")])
    finally:
        srv.storage.close()


def test_retried_event_is_stored_once(server: Any, stored_reports: Any) -> None:
    """The same event sent twice answers the same id and is stored once."""
    body = event_envelope(python_event())
    assert server.post_envelope(body).json() == server.post_envelope(body).json()
    assert 1 == len(stored_reports(server))


def test_non_v4_event_id_gets_a_stable_v4_report_id(server: Any, stored_reports: Any) -> None:
    """A version-1 event id is answered as sent, stored under a derived UUID4, once per retry."""
    event_id = uuid.uuid1().hex
    body = event_envelope(python_event(event_id=event_id))
    assert event_id == server.post_envelope(body).json()["id"]
    server.post_envelope(body)
    rows = stored_reports(server)
    assert (1, "4") == (len(rows), rows[0][0].report_id[14])
    assert event_id.replace("-", "") != rows[0][0].report_id.replace("-", "")


def test_event_id_mismatch_is_400(server: Any) -> None:
    """An event whose id differs from the envelope header's is refused."""
    event = python_event()
    body = event_envelope(event, event_id=uuid.uuid4().hex)
    body = body.replace(json.dumps({"event_id": event["event_id"]}).encode(), b"", 0)
    envelope = b'{"event_id":"' + uuid.uuid4().hex.encode() + b'"}\n' + body.split(b"\n", 1)[1]
    assert (400, "event_id_mismatch") == (
        server.post_envelope(envelope).status_code, server.post_envelope(envelope).json()["error"])


def test_old_event_is_outside_the_replay_window(server: Any) -> None:
    """An event older than the replay window is refused with 422, as native reports are."""
    server.clock[0] = server.clock[0] + timedelta(days=32)
    response = server.post_envelope(event_envelope(python_event()))
    assert (422, "outside_replay_window") == (response.status_code, response.json()["error"])


def test_clock_drift_is_corrected_by_sent_at(server: Any, stored_reports: Any) -> None:
    """A device clock two days behind is corrected by the envelope's ``sent_at`` before the window check."""
    event = python_event(timestamp="2026-04-29T12:29:58Z")
    assert 200 == server.post_envelope(event_envelope(event, sent_at="2026-04-29T12:29:59Z")).status_code
    assert "2026-05-01T12:00Z" == stored_reports(server)[0][1].report.occurred_hour


@pytest.mark.parametrize(("fixture", "title", "template"), [
    ("server", "Message (shop.billing)", None),
    ("diagnostic_server", "Message (shop.billing)", "card %s declined for <email>")])
def test_message_event_is_a_group_titled_by_its_template_only_where_the_level_allows(
        request: pytest.FixtureRequest, stored_reports: Any, fixture: str, title: str, template: str | None) -> None:
    """``capture_message`` and logging events carry no exception; they become groups. At level
    ``crash`` the title is ``Message (logger)`` and no text is stored; at ``diagnostic`` the
    redacted template is kept (never the formatted text or its params) but, under the shipped
    policy, only for developers: the title, which viewers see, stays ``Message (logger)``."""
    srv = request.getfixturevalue(fixture)
    event = python_event(logger="shop.billing", level="warning")
    del event["exception"]
    event["logentry"] = {"message": "card %s declined for alice@example.com", "params": ["4111 1111 1111 1111"],
                         "formatted": "card 4111 1111 1111 1111 declined for alice@example.com"}
    response = srv.post_envelope(event_envelope(event))
    assert (200, None) == (response.status_code, response.json().get("dropped"))
    (_, detail), = stored_reports(srv)
    report = detail.report
    assert (title, template, "warning", "shop.billing", "logging") == (
        report.crash_type, report.message_template, report.severity, report.logger, report.mechanism)
    text = json.dumps([report.to_dict(), detail.dropped_fields])
    assert (False, False) == ("4111" in text, "alice@" in text)


def test_store_endpoint_accepts_a_gzipped_event(server: Any, stored_reports: Any) -> None:
    """The legacy store endpoint takes one event as JSON (gzip) and stores it the same way."""
    event = python_event()
    response = server.client.post(server.store_url(), content=gzip.compress(json.dumps(event).encode()),
                                  headers={**server.auth(), "Content-Encoding": "gzip",
                                           "Content-Type": "application/json"})
    assert (200, event["event_id"]) == (response.status_code, response.json()["id"])
    assert "sentry-sdk" == stored_reports(server)[0][0].origin


def test_store_endpoint_over_200_kib_compressed_is_413(server: Any) -> None:
    """The store endpoint's compressed limit is Sentry's 200 KiB."""
    response = server.client.post(server.store_url(), content=b"{" + b" " * (200 * 1024) + b"}",
                                  headers=server.auth())
    assert 413 == response.status_code


def test_deeply_nested_event_is_400(server: Any) -> None:
    """An event nested 100,000 deep is refused with 400, not a 500."""
    payload = b'{"event_id":"' + uuid.uuid4().hex.encode() + b'","extra":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    body = b'{}\n{"type":"event"}\n' + payload + b"\n"
    assert 400 == server.post_envelope(body).status_code


def test_huge_integer_is_400(server: Any) -> None:
    """A 10,000-digit integer in the event is refused with 400, not a 500."""
    body = b'{}\n{"type":"event"}\n{"timestamp":' + b"9" * 10_000 + b"}\n"
    assert 400 == server.post_envelope(body).status_code


def test_cors_preflight_allows_browser_sdks(server: Any) -> None:
    """OPTIONS answers 200 with the CORS headers a browser SDK needs, without credentials."""
    response = server.client.options(server.envelope_url())
    assert ("*", None) == (response.headers["access-control-allow-origin"],
                           response.headers.get("access-control-allow-credentials"))


def test_metrics_count_dropped_items_and_fields(server: Any) -> None:
    """The metrics page counts dropped item types and dropped event fields by fixed names."""
    server.post_envelope(event_envelope(python_event(tags={"a": "b"})))
    server.outcomes()  # the metric is counted at the outcomes' flush (once a second)
    text = server.client.get("/metrics").text
    assert 'crashveil_sentry_outcomes_total{kind="field",reason="not_allowlisted",subject="tags"} 1.0' in text


def test_the_dsn_key_is_the_credential_its_events_are_weighed_by(server: Any) -> None:
    """Events count toward counts-only mode under their DSN key (a digest of it, never the
    key): two keys of one project are two credentials of the group."""
    import sqlalchemy as sa

    from crashveil.server.db.tables import group_credential_hours
    from crashveil.server.ingest.credential_weight import credential_id

    _, second = SentryKeys(server.storage.engine).create_key("demo", label="second")
    for key in (server.key, server.key, second):
        response = server.client.post(server.envelope_url(), content=event_envelope(python_event()),
                                      headers=server.auth(key))
        assert 200 == response.status_code
    with server.storage.engine.connect() as conn:
        rows = sorted((r.credential, r.count) for r in conn.execute(sa.select(group_credential_hours)))
    assert sorted([(credential_id("dsn", server.key.encode()), 2), (credential_id("dsn", second.encode()), 1)]) == rows
    assert all(server.key not in credential and second not in credential for credential, _ in rows)


def test_a_dsn_keys_own_flood_is_stored_counts_only_for_that_key_alone(tmp_path: Path) -> None:
    """Threshold 2, cap 1: past its own 2 events of a group in the hour, one DSN key's
    further events are stored counts-only (a DSN key has no config to serve: storing is what
    applies), audited with the key's digest as scope; another key's events of the same crash
    keep their details, and the group is not counts-only project-wide."""
    import sqlalchemy as sa

    from crashveil.server.db.tables import reports
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.ingest.credential_weight import credential_id
    from crashveil.server.sentry.mapping import report_id_for

    srv = build_server(tmp_path, mass_failure_per_hour=2, mass_failure_per_credential=1)
    try:
        _, second = SentryKeys(srv.storage.engine).create_key("demo", label="second")

        def send(key: str) -> bool:
            event = python_event()
            response = srv.client.post(srv.envelope_url(), content=event_envelope(event), headers=srv.auth(key))
            assert 200 == response.status_code
            with srv.storage.engine.connect() as conn:
                return conn.execute(sa.select(reports.c.detail).where(
                    reports.c.report_id == report_id_for(event["event_id"], "demo"))).scalar_one() is None

        flooded = [send(srv.key) for _ in range(4)]
        other = [send(second) for _ in range(2)]
        entered = AuditTrail.for_server_dir(srv.storage.engine, srv.settings.server_dir).entries(
            actions=["counts_only.enter"])
        assert ([False, False, True, True], [False, False]) == (flooded, other)
        assert [credential_id("dsn", srv.key.encode())] == [e.details["scope"] for e in entered]
        assert all(srv.key not in json.dumps(e.details) for e in entered)
    finally:
        srv.storage.close()
