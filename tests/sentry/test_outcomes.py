"""Outcomes per DSN key: counted in memory, flushed in batches, from fixed vocabularies only;
client reports read; the public URL in printed DSNs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from crashveil.errors import ConfigError
from crashveil.server.db.sentry_tables import sentry_outcomes
from crashveil.server.sentry.client_reports import parse_client_report
from crashveil.server.sentry.outcomes import OutcomeRecorder
from crashveil.server.settings import Settings

from .conftest import envelope, event_envelope, python_event  # type: ignore[import-not-found]

PLANTED = "zoe.planted@example.org"


def _client_report(*entries: dict[str, Any]) -> bytes:
    return envelope(({"type": "client_report"}, json.dumps({"timestamp": 1.0, "discarded_events": list(entries)})
                     .encode()))


def test_client_report_discards_are_counted_by_category_and_reason(server: Any) -> None:
    """An envelope holding only a client report is answered 200 and its discards counted per
    (category, reason); a category or reason outside Sentry's vocabulary is counted as
    ``other``, so nothing the client wrote reaches the table."""
    body = _client_report({"reason": "queue_overflow", "category": "error", "quantity": 4},
                          {"reason": PLANTED, "category": "error", "quantity": 2},
                          {"reason": "ratelimit_backoff", "category": PLANTED, "quantity": 1},
                          {"reason": "before_send", "category": "error", "quantity": True},
                          {"reason": "before_send", "category": "error", "quantity": 10**9})
    response = server.post_envelope(body)
    assert (200, None) == (response.status_code, response.json().get("dropped"))
    assert {("client", "error", "queue_overflow"): 4, ("client", "error", "other"): 2,
            ("client", "other", "ratelimit_backoff"): 1} == server.outcomes()
    with server.storage.engine.connect() as conn:
        stored = json.dumps([list(row) for row in conn.execute(sa.select(sentry_outcomes))])
    assert PLANTED not in stored


def test_a_malformed_client_report_is_counted_not_an_error(server: Any) -> None:
    """A client report that is not JSON is counted as a malformed item; the envelope is still 200."""
    response = server.post_envelope(envelope(({"type": "client_report"}, b"{not json")))
    assert 200 == response.status_code
    assert {("item", "client_report", "malformed"): 1} == server.outcomes()


@pytest.mark.parametrize("payload", [b"[]", b'{"discarded_events": 3}', b"\xff", b"[" * 10_000])
def test_parse_client_report_refuses_odd_shapes(payload: bytes) -> None:
    assert parse_client_report(payload) is None


def test_a_stored_event_counts_accepted_and_the_fields_left_out(server: Any) -> None:
    """One stored event: ``accepted`` once (a retry of it adds nothing), and per field what the
    mapping left out and what the level did not allow, never the values."""
    body = event_envelope(python_event(tags={"customer": PLANTED}, user={"id": "u1", "email": PLANTED}))
    assert [200, 200] == [server.post_envelope(body).status_code for _ in range(2)]
    outcomes = server.outcomes()
    assert 1 == outcomes[("event", "error", "accepted")]
    assert {("field", "tags", "not_allowlisted"), ("field", "user.email", "not_allowlisted"),
            ("field", "exception.frames.vars", "not_allowlisted")} <= set(outcomes)
    assert PLANTED not in json.dumps(list(outcomes))


def test_a_skipped_event_and_a_refused_request_are_counted(server: Any) -> None:
    """An event the policy does not store is 200 with a reason and counted under it; a malformed
    envelope (400) is counted under its error code once the key is known."""
    message = python_event()
    del message["exception"]
    skipped = server.post_envelope(event_envelope(message))
    refused = server.post_envelope(b'{}\n{"type":"event","length":-1}\n{}\n')
    assert (200, 400) == (skipped.status_code, refused.status_code)
    assert {("event", "error", "not_an_error_event"): 1, ("event", "error", "malformed_envelope"): 1} == {
        k: n for k, n in server.outcomes().items() if k[0] == "event"}


def test_outcomes_are_flushed_in_one_transaction_per_batch(server: Any) -> None:
    """Counts added between flushes become one upsert; a second flush adds to the same rows."""
    recorder = OutcomeRecorder(server.storage.engine, interval_s=3600)
    for _ in range(500):
        recorder.add(server.key_id, "event", "error", "user_rate_limited")
    rows = recorder.flush()
    recorder.add(server.key_id, "event", "error", "user_rate_limited", 5)
    recorder.close()
    assert (1, 505) == (rows, server.outcomes()[("event", "error", "user_rate_limited")])


def test_the_outcome_metric_counts_by_kind_subject_and_reason(server: Any) -> None:
    server.post_envelope(event_envelope(python_event()))
    server.outcomes()  # flushed: the metric is counted at the flush
    text = server.client.get("/metrics").text
    assert 'crashveil_sentry_outcomes_total{kind="event",reason="accepted",subject="error"} 1.0' in text


# --- public_url ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://crash.example.com", "https://", "https://user@crash.example.com",
                                 "https://crash.example.com/sentry", "https://crash.example.com:99999",
                                 "https://crash.example.com/?a=1", "crash.example.com"])
def test_public_url_must_be_a_plain_http_url_of_a_host(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="public_url"):
        Settings(server_dir=tmp_path, database_url="sqlite:///x.db", public_url=url).validate()


def test_dsn_uses_public_url_when_set(tmp_path: Path, server_maker: Any) -> None:
    """With ``public_url`` (a reverse proxy with a public certificate) the printed DSN uses its
    scheme, host and port (none: the scheme's default), and connection strings its host."""
    from crashveil.server.cli.sentry_keys import sentry_key_group

    settings, storage = server_maker(tmp_path)
    storage.close()
    for url, expected in (("https://crash.example.com/", "https://{key}@crash.example.com/1"),
                          ("http://10.0.0.5:8080", "http://{key}@10.0.0.5:8080/1")):
        settings.settings_path.write_text(settings.to_toml() + f'public_url = "{url}"\n')
        created = CliRunner().invoke(sentry_key_group, ["create", "demo", "--server-dir", str(tmp_path)])
        dsn = created.stdout.strip()
        key = dsn.split("://", 1)[1].split("@", 1)[0]
        assert (0, expected.format(key=key)) == (created.exit_code, dsn)
    assert "10.0.0.5" == Settings.load(tmp_path).connect_host
