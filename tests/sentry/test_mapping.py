"""The Sentry mapping on its own (``crashveil.server.sentry.mapping``): events as current SDKs
send them -> reports, and what was dropped and why."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from crashveil.errors import EventSkipped
from crashveil.policy import Policy, default_policy
from crashveil.server.ingest.grouping import report_fingerprint
from crashveil.server.sentry.mapping import (
    DROP_REASONS,
    DROPPABLE_PATHS,
    MappedEvent,
    event_to_report,
    with_fingerprint,
)
from crashveil.server.sentry.mapping.exceptions import MECHANISMS
from crashveil.wire import Report

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
DIGEST = "sha256:" + "0" * 64


def _map(event: dict[str, Any], level: str = "diagnostic") -> MappedEvent:
    event = {"event_id": uuid.uuid4().hex, "timestamp": "2026-05-01T12:29:58Z", **event}
    return event_to_report(event, project_id="p1", policy_digest=DIGEST, level=level, received_at=NOW)


def _error(frames: list[dict[str, Any]], mechanism: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"type": "TypeError", "value": "x", "stacktrace": {"frames": frames}}
    if mechanism is not None:
        value["mechanism"] = mechanism
    return {"exception": {"values": [value]}, **extra}


@pytest.mark.parametrize(("name", "sent_handled", "kind", "handled"), [
    ("auto.node.onuncaughtexception", False, "excepthook", False),
    ("auto.node.onunhandledrejection", False, "rejection", False),
    ("auto.browser.global_handlers.onerror", False, "excepthook", False),
    ("auto.browser.global_handlers.onunhandledrejection", False, "rejection", False),
    ("auto.browser.browserapierrors.setTimeout", False, "excepthook", False),
    ("onerror", False, "excepthook", False), ("onunhandledrejection", False, "rejection", False),
    ("instrument", False, "excepthook", False), ("auto.middleware.express", False, "framework", False),
    ("auto.function.nestjs.exception_captured", True, "framework", True),
    ("auto.child_process.worker_thread", False, "thread", False),
    ("excepthook", True, "excepthook", False),  # a crash that ended the process is unhandled, whatever was sent
    ("threading", False, "thread", False), ("asyncio", False, "asyncio", False), ("logging", True, "logging", True),
    ("django", False, "framework", False), ("celery", False, "framework", False), ("generic", True, "manual", True),
    ("UncaughtExceptionHandler", False, "excepthook", False),
    ("AppDomain.UnhandledException", False, "excepthook", False),
    ("UnobservedTaskException", False, "rejection", False), ("signalhandler", True, "native", False),
    ("minidump", False, "native", False), ("FlutterError", True, "framework", True),
])
def test_mechanisms_of_current_sdks_map_to_crash_kinds(name: str, sent_handled: bool, kind: str,
                                                        handled: bool) -> None:
    report = _map(_error([{"filename": "a.py", "function": "f", "in_app": True}],
                         {"type": name, "handled": sent_handled})).report
    assert (kind, handled) == (report.mechanism, report.handled)


def test_unknown_mechanism_is_dropped_and_named() -> None:
    mapped = _map(_error([{"filename": "a.py", "function": "f"}], {"type": "Mystery Handler!", "handled": False}))
    assert (None, False) == (mapped.report.mechanism, mapped.report.handled)
    assert ("exception.mechanism.type", "not_allowlisted") in mapped.dropped
    assert "Mystery Handler!" not in MECHANISMS


@pytest.mark.parametrize(("source", "relation"), [("__cause__", "cause"), ("cause", "cause"),
                                                  ("__context__", "context"), (None, "context")])
def test_chain_relation_follows_the_sdks_source(source: str | None, relation: str) -> None:
    cause: dict[str, Any] = {"type": "KeyError", "value": "k", "mechanism": {"type": "chained", "exception_id": 1,
                                                                            "parent_id": 0}}
    if source is not None:
        cause["mechanism"]["source"] = source
    top = {"type": "ValueError", "value": "v", "mechanism": {"type": "generic", "exception_id": 0}}
    report = _map({"exception": {"values": [cause, top]}}).report
    assert [(relation, "KeyError")] == [(c.relation, c.crash_type) for c in report.chain]


def _node_frames(prefix: str) -> list[dict[str, Any]]:
    return [
        {"filename": "node:internal/process/task_queues", "function": "processTicksAndRejections", "in_app": False},
        {"filename": f"{prefix}/node_modules/express/lib/router/index.js", "function": "handle", "in_app": False},
        {"filename": f"{prefix}/src/routes/cart.js", "function": "checkout", "in_app": True, "lineno": 12},
        {"filename": f"{prefix}/src/lib/money.js", "function": "total", "in_app": True, "lineno": 3},
    ]


def test_node_paths_lose_the_deployment_prefix_and_group_together() -> None:
    """``/srv/releases/v1/app/src/x.js`` and ``.../v2/...`` become ``src/x.js``: one fingerprint."""
    one = _map(_error(_node_frames("/srv/releases/v1/app"), platform="node")).report
    two = _map(_error(_node_frames("/srv/releases/v2/app"), platform="node")).report
    assert ["src/routes/cart.js", "src/lib/money.js"] == [f.file for f in one.stack.frames]
    assert one.fingerprint == two.fingerprint
    assert report_fingerprint(one) == report_fingerprint(two)


@pytest.mark.parametrize(("frames", "files"), [
    ([{"abs_path": "/srv/v9/app/a/x.js", "in_app": True}, {"abs_path": "/srv/v9/app/a/b/y.js", "in_app": True}],
     ["x.js", "b/y.js"]),
    ([{"filename": "C:\\deploy\\r7\\app\\src\\x.js", "in_app": True},
      {"filename": "C:\\deploy\\r7\\app\\node_modules\\lib\\z.js", "in_app": False}],
     ["src/x.js", "node_modules/lib/z.js"]),
    ([{"filename": "app:///src/main.js", "in_app": True}], ["src/main.js"]),
    ([{"filename": "https://cdn.example.com/assets/app.js?v=3#x", "in_app": True}], ["assets/app.js"]),
    ([{"filename": "shop/cart.py", "abs_path": "/home/alice/shop/cart.py", "module": "shop.cart", "in_app": True},
      {"filename": "/usr/lib/python3/dist-packages/requests/api.py", "in_app": False}],
     ["shop/cart.py", "requests/api.py"]),
    ([{"filename": "Main.java", "module": "com.example.Main", "in_app": True}], ["com/example/Main.java"]),
])
def test_frame_paths_are_relative_to_the_app(frames: list[dict[str, Any]], files: list[str]) -> None:
    for frame in frames:
        frame.setdefault("function", "f")
    assert files == [f.file for f in _map(_error(frames)).report.stack.frames]


def test_sdk_fingerprint_is_honoured_for_grouping() -> None:
    """The SDK's ``fingerprint`` groups as the app says, ``{{ default }}`` standing for ours."""
    custom = _map(_error([{"filename": "a.py", "function": "f", "in_app": True}], fingerprint=["payments"])).report
    other_stack = _map(_error([{"filename": "b.py", "function": "g", "in_app": True}], fingerprint=["payments"])).report
    plain = _map(_error([{"filename": "a.py", "function": "f", "in_app": True}])).report
    extended = _map(_error([{"filename": "a.py", "function": "f", "in_app": True}],
                           fingerprint=["{{default}}", "db"])).report
    prints = [with_fingerprint(r).fingerprint for r in (custom, other_stack, plain, extended)]
    assert prints[0] == prints[1] and len(set(prints[1:])) == 3
    assert [report_fingerprint(r) for r in (custom, plain)] == [prints[0], prints[2]]
    assert (("{{ default }}", "db"), None) == (extended.grouping, plain.grouping)


def test_tags_keep_listed_keys_with_capped_values() -> None:
    mapped = _map({**_error([{"filename": "a.py", "function": "f"}]),
                   "tags": [["feature", "x" * 300], ["customer", "alice@example.org"], ["handled", True]]})
    assert [("feature", 200), ("handled", 4)] == [(t.key, len(t.value)) for t in mapped.report.tags]
    assert {("tags.value", "too_large"), ("tags", "not_allowlisted")} <= set(mapped.dropped)


def test_python_os_comes_from_the_runtime_build() -> None:
    """sentry-python sends no ``contexts.os``: the compiler tag of ``sys.version`` names the family."""
    families = [_map(_error([], contexts={"runtime": {"name": "CPython", "version": "3.12.1", "build": build}}))
                .report.environment.os_family
                for build in ("3.12.1 (main) [GCC 12.2.0]", "3.12.1 (tags/v3.12.1) [MSC v.1937 64 bit (AMD64)]",
                              "3.12.1 (main) [Clang 15.0.0 (clang-1500.1.0.2.5)]", "3.12.1")]
    assert ["Linux", "Windows", "Darwin", "unknown"] == families


def test_message_event_without_text_or_exception_is_skipped() -> None:
    with pytest.raises(EventSkipped):
        _map({"level": "info"})
    with pytest.raises(EventSkipped):
        _map({"type": "transaction", "transaction": "/x"})


def test_logging_template_is_kept_and_params_dropped() -> None:
    mapped = _map({"logger": "shop.db", "level": "warning",
                   "logentry": {"message": "slow query %s", "params": ["SELECT 1"],
                                "formatted": "slow query SELECT 1"}})
    report = mapped.report
    assert ("Message (shop.db)", "slow query %s", "logging", "warning") == (
        report.crash_type, report.message_template, report.mechanism, report.severity)
    assert {("logentry.params", "not_allowlisted"), ("logentry.formatted", "not_allowlisted")} <= set(mapped.dropped)


def _message(template: str, policy: Policy | None = None) -> Report:
    event = {"event_id": uuid.uuid4().hex, "timestamp": "2026-05-01T12:29:58Z", "logger": "shop.db",
             "level": "warning", "logentry": {"message": template}}
    return event_to_report(event, project_id="p1", policy_digest=DIGEST, level="diagnostic", received_at=NOW,
                           policy=policy).report


def test_a_template_titles_a_group_only_where_every_reader_of_titles_may_read_it_as_long() -> None:
    """The shipped policy shows titles (``crash_type``) to viewers for 90 days and templates to
    developers for 30: a title made of a template would outlive and outreach it, so titles stay
    bare. A policy that gives templates the title's readers and retention titles by template."""
    shipped = default_policy()
    assert "Message (shop.db)" == _message("slow query %s").crash_type
    title = shipped.fields["crash_type"]
    wider = dataclasses.replace(shipped, fields={**shipped.fields, "message_template": dataclasses.replace(
        shipped.fields["message_template"], access=title.access, retention_days=title.retention_days)})
    assert "slow query %s" == _message("slow query %s", wider).crash_type


def test_bare_message_titles_still_group_by_template() -> None:
    """Two logged problems of one logger are two groups (their templates differ), one problem
    logged twice is one: the template is in the fingerprint, not in the title."""
    first, again, other = (with_fingerprint(_message(t)) for t in ("slow query %s", "slow query %s", "pool empty"))
    assert (first.crash_type, first.crash_type) == (again.crash_type, other.crash_type)
    assert first.fingerprint == again.fingerprint != other.fingerprint
    assert report_fingerprint(first) == first.fingerprint


def test_every_drop_has_a_known_path_and_reason() -> None:
    """Each (path, reason) is from the closed lists; the level's own drops are ``level_too_low``."""
    frames = [{"filename": f"lib{i}.py", "function": "f", "in_app": False, "vars": {"a": "1"}} for i in range(100)]
    frames[-1]["in_app"] = True
    frames[-1]["context_line"] = "x = 1"
    mapped = _map({**_error(frames, {"type": "generic", "data": {"x": 1}}), "request": {"url": "https://x"},
                   "extra": {"k": "v"}, "weird_key": 1, "timestamp": "not a time",
                   "breadcrumbs": [{"message": "m", "data": {"a": 1}}],
                   "contexts": {"os": {"name": "Linux", "kernel_version": "6"}, "made_up": {}}}, level="crash")
    assert set(mapped.dropped) <= {(p, r) for p in DROPPABLE_PATHS for r in DROP_REASONS}
    assert {("request", "not_allowlisted"), ("extra", "not_allowlisted"), ("<unknown>", "not_allowlisted"),
            ("timestamp", "malformed"), ("exception.frames.elided", "too_large"), ("message", "level_too_low"),
            ("breadcrumbs", "level_too_low"), ("source_context", "level_too_low"),
            ("contexts.<unknown>", "not_allowlisted"), ("contexts.os.kernel_version", "not_allowlisted"),
            ("exception.frames.vars", "not_allowlisted")} <= set(mapped.dropped)
    assert 99 == mapped.dropped[("exception.frames.elided", "too_large")]
