"""Raw envelopes in the shapes other Sentry SDKs send (JavaScript browser, Java on Android,
native with a minidump), and malformed envelopes, posted to the envelope endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
PLANTED = ["alice", "Alice", "198.51.100.23", "Pixel", "Europe/Berlin", "{{auto}}", "de_DE", "shop.example.com",
           "mail.example.net", "js-user-1001", "android-user-77", "44719902"]


def _post(server: Any, name: str, **headers: str) -> Any:
    return server.post_envelope((FIXTURES / name).read_bytes(), headers={"Content-Type": "text/plain", **headers})


def _only_report(server: Any, stored_reports: Any) -> Any:
    rows = stored_reports(server)
    assert 1 == len(rows)
    return rows[0]


def _leaks(server: Any, stored_reports: Any) -> list[str]:
    text = json.dumps([[d.report.to_dict(), d.dropped_fields] for _, d in stored_reports(server)])
    files = b"".join(p.read_bytes() for p in server.settings.server_dir.rglob("*") if p.is_file())
    return sorted(v for v in PLANTED if v in text or v.encode() in files)


def test_javascript_browser_event_is_stored_minimised(diagnostic_server: Any, stored_reports: Any) -> None:
    """The browser event keeps its type, app frames without host or query, and a redacted message."""
    response = _post(diagnostic_server, "javascript_browser.envelope")
    assert (200, "9ec79c33ec9942ab8353589fcb2e04dc") == (response.status_code, response.json()["id"])
    _, detail = _only_report(diagnostic_server, stored_reports)
    report = detail.report
    assert "TypeError" == report.crash_type
    assert [("static/js/app.js", "loadProfile", 40), ("static/js/app.js", "renderProfile", 88)] == [
        (f.file, f.function, f.line) for f in report.stack.frames]
    assert "Cannot read properties of undefined (reading 'email') for <email>" == report.message
    assert ("Darwin", "10", "Chrome", "120.0") == (report.environment.os_family, report.environment.os_version,
                                                    report.environment.python_impl,
                                                    report.environment.python_version)
    assert [] == _leaks(diagnostic_server, stored_reports)


def test_javascript_sessions_are_dropped_with_a_reason_and_client_reports_counted(diagnostic_server: Any) -> None:
    """The session item is named as dropped (sessions are rate-limited for 300 s); the client
    report is read: its discarded transactions are counted as the key's client outcomes."""
    response = _post(diagnostic_server, "javascript_browser.envelope")
    assert [{"type": "session", "count": 1, "reason": "unsupported_item_type"}] == response.json()["dropped"]
    assert "300:session:key:crashveil_errors_only" == response.headers["x-sentry-rate-limits"]
    assert {("event", "error", "accepted"): 1, ("item", "session", "unsupported_item_type"): 1,
            ("client", "transaction", "sample_rate"): 3} == {
        k: n for k, n in diagnostic_server.outcomes().items() if k[0] != "field"}


def test_java_android_event_uses_module_paths_and_chain(server: Any, stored_reports: Any) -> None:
    """At level crash, Java frames become package paths (framework frames elided), the IOException is the
    chained cause, and the messages (a name and a file name no detector knows) and device details go."""
    assert 200 == _post(server, "java_android.envelope").status_code
    _, detail = _only_report(server, stored_reports)
    report = detail.report
    assert "java.lang.IllegalStateException" == report.crash_type
    assert [("com/example/shop/ReceiptActivity.java", "onCreate", True),
            ("com/example/shop/ReceiptActivity.java", "lambda$load$0", True)] == [
        (f.file, f.function, f.in_app) for f in report.stack.frames]
    assert 2 == report.stack.elided  # the framework frames, as the crashveil SDK elides them
    assert ("java.io.IOException", "excepthook") == (report.chain[0].crash_type, report.mechanism)
    assert ("Android", "14", "arm64") == (report.environment.os_family, report.environment.os_version,
                                           report.environment.arch)
    assert {"contexts.device", "contexts.app", "contexts.os.build", "user.email", "message", "tags",
            "chain.message"} <= set(detail.dropped_fields)
    assert ("520", "production", "fatal", "java", False, "mobile", None) == (
        report.dist, report.deployment, report.severity, report.platform, report.handled, report.device_class,
        report.tags)  # the tag ``locale`` is not on the policy's list
    assert [] == _leaks(server, stored_reports)


def test_native_crash_takes_the_crashed_threads_frames(server: Any, stored_reports: Any) -> None:
    """The native crash is SIGSEGV with ``signal:11``, frames of the crashed thread, home paths removed."""
    response = _post(server, "native.envelope")
    assert [{"type": "attachment", "count": 2, "reason": "unsupported_item_type"}] == response.json()["dropped"]
    _, detail = _only_report(server, stored_reports)
    report = detail.report
    assert ("SIGSEGV", "signal:11", "native") == (report.crash_type, report.error_code, report.mechanism)
    assert [("libc.so.6", "__libc_start_main"), ("~/src/game/main.cpp", "main"),
            ("~/src/game/game.cpp", "Game::update()")] == [(f.file, f.function) for f in report.stack.frames]
    assert [] == _leaks(server, stored_reports)


@pytest.mark.parametrize(("fixture", "title"), [("server", "Message"), ("diagnostic_server", "Message")])
def test_javascript_capture_message_is_a_message_group_not_an_error(
        request: pytest.FixtureRequest, stored_reports: Any, fixture: str, title: str) -> None:
    """A browser ``captureMessage`` with ``attachStacktrace`` (a synthetic exception without a type)
    is a message group titled "Message" (the shipped policy lets viewers see titles but not
    templates: ``messages.template_may_title``), never "Error"; its
    frames, deployment and the allowlisted tag are kept, the other tag dropped."""
    server = request.getfixturevalue(fixture)
    assert 200 == _post(server, "javascript_browser_message.envelope").status_code
    _, detail = _only_report(server, stored_reports)
    report = detail.report
    assert (title, "manual", True, "warning", "staging", "desktop") == (
        report.crash_type, report.mechanism, report.handled, report.severity, report.deployment,
        report.device_class)
    assert ([("static/js/search.js", "runSearch")], 1) == (
        [(f.file, f.function) for f in report.stack.frames], report.stack.elided)  # the vendor frame elided
    assert ((("feature", "search"),), True) == (tuple((t.key, t.value) for t in report.tags),
                                                "tags" in detail.dropped_fields)
    assert [] == _leaks(server, stored_reports)


@pytest.mark.parametrize(("fixture", "title", "template"), [
    ("server", "Message (com.example.shop.ReceiptStore)", None),
    ("diagnostic_server", "Message (com.example.shop.ReceiptStore)", "receipt {} missing for {}")])
def test_java_logged_message_keeps_its_template_never_its_params(
        request: pytest.FixtureRequest, stored_reports: Any, fixture: str, title: str, template: str | None) -> None:
    """A Java logging event (``message.message`` template, ``formatted``, ``params``) keeps the
    template where the level allows (developers only, under the shipped policy; the title stays
    bare); the formatted text and the params are dropped, as is the ``locale`` tag."""
    server = request.getfixturevalue(fixture)
    assert 200 == _post(server, "java_android_message.envelope").status_code
    _, detail = _only_report(server, stored_reports)
    report = detail.report
    assert (title, template, "logging", "info", "com.example.shop.ReceiptStore", "mobile") == (
        report.crash_type, report.message_template, report.mechanism, report.severity, report.logger,
        report.device_class)
    assert ((("feature", "receipts"),), {"message.formatted", "message", "tags"}) == (
        tuple((t.key, t.value) for t in report.tags), {"message.formatted", "message", "tags"} & set(
            detail.dropped_fields))
    assert [] == _leaks(server, stored_reports)


def test_native_message_keeps_its_redacted_text_as_template(diagnostic_server: Any, stored_reports: Any) -> None:
    """sentry-native's message event has only ``formatted`` text: it is the template, redacted (the
    home path); the ``component`` tag is kept, the ``machine`` tag (a host name) dropped."""
    assert 200 == _post(diagnostic_server, "native_message.envelope").status_code
    _, detail = _only_report(diagnostic_server, stored_reports)
    report = detail.report
    assert report.message_template is not None and "alicegamer" not in report.message_template
    assert report.message_template.startswith("audio device lost, config ")
    assert "Message (game.audio)" == report.crash_type
    assert ((("component", "audio"),), "game.audio", "warning", "native") == (
        tuple((t.key, t.value) for t in report.tags), report.logger, report.severity, report.platform)
    assert [] == _leaks(diagnostic_server, stored_reports)


def test_transactions_sessions_and_replays_are_counted_not_stored(server: Any, stored_reports: Any) -> None:
    """An envelope without an event is answered 200 with every item dropped and nothing stored."""
    response = _post(server, "transaction_and_sessions.envelope")
    assert 200 == response.status_code
    assert {"transaction": 1, "sessions": 1, "replay_event": 1, "replay_recording": 1, "profile": 1,
            "check_in": 1, "<unknown>": 1} == {d["type"]: d["count"] for d in response.json()["dropped"]}
    assert "300:monitor;profile;replay;session;transaction:key:crashveil_errors_only" == \
        response.headers["x-sentry-rate-limits"]
    assert [] == stored_reports(server)


@pytest.mark.parametrize("name", sorted(p.stem for p in (FIXTURES / "malformed").glob("*.envelope")))
def test_malformed_envelope_is_a_clear_400(server: Any, stored_reports: Any, name: str) -> None:
    """Each malformed envelope is refused with 400 and an error code; nothing is stored."""
    response = _post(server, f"malformed/{name}.envelope")
    body = response.json()
    assert (400, True) == (response.status_code, body["error"] in (
        "malformed_envelope", "empty_envelope", "bad_event_id", "bad_event"))
    assert [] == stored_reports(server)
