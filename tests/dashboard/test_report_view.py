"""The report page's view model (``dashboard.report_view``): trace order, frame runs, source
lines, the breadcrumb timeline, field groups and badges, the raw JSON, the role's cut and
visible control characters. Pure: decoded reports in, dataclasses out."""

from __future__ import annotations

import json
import uuid

from crashveil.policy import compute_fingerprint, default_policy, policy_digest
from crashveil.server.dashboard.report_view import build_report_view
from crashveil.server.dashboard.report_view.timeline import before_crash
from crashveil.server.dashboard.report_view.trace import CAUSE, CONTEXT
from crashveil.server.governance.principals import visible_fields
from crashveil.wire.report import Breadcrumb, ChainedError, Environment, Frame, Report, SourceLine, Stack, Tag

POLICY = default_policy()
DEVELOPER = frozenset(visible_fields(POLICY, ["developer"]))
FRAMES = (Frame("app/main.py", "main", 10, True), Frame("lib/click/core.py", "invoke", 700, False),
          Frame("lib/click/core.py", "main", 800, False), Frame("app/save.py", "save", 42, True),
          Frame("lib/json/encoder.py", "encode", 99, False))


def _report(**values: object) -> Report:
    base: dict[str, object] = dict(
        schema_version=1, policy_digest=policy_digest(POLICY), consent_level="diagnostic",
        report_id=str(uuid.uuid4()), crash_type="RuntimeError", fingerprint=compute_fingerprint("RuntimeError", FRAMES),
        stack=Stack(FRAMES, elided=3), message="could not save", mechanism="thread",
        chain=(ChainedError("cause", "OSError", message="disk full",
                            stack=Stack((Frame("app/disk.py", "write", 7, True),))),
               ChainedError("context", "KeyError", message="'path'")),
        source_context=(SourceLine(0, "    main()"), SourceLine(3, "        json.dumps(doc)")),
        breadcrumbs=(Breadcrumb(5, "ui", "clicked save"), Breadcrumb(65, "nav", "opened settings"),
                     Breadcrumb(5, "io", "wrote draft")),
        environment=Environment("linux", "12", "cpython", "3.11", "x86_64"), release="1.2.0",
        tags=(Tag("feature", "export"),), client_stats={"sampled_out": 2})
    base.update(values)
    return Report(**base)  # type: ignore[arg-type]


def _present(report: Report, roles: frozenset[str]) -> frozenset[str]:
    """What ``AccessStore.read_report`` returns: the visible fields the report carries."""
    return frozenset(name for name in roles if getattr(report, name, None) is not None)


def test_chained_errors_come_oldest_first_each_with_python_words() -> None:
    """chain[0] led to the reported error, chain[1] to chain[0]: Python prints chain[1] first, then
    the sentence of its relation, chain[0], its sentence, and the reported error last."""
    report = _report()
    trace = build_report_view(report, _present(report, DEVELOPER), POLICY).trace
    assert [("KeyError", CONTEXT, "'path'"), ("OSError", CAUSE, "disk full"),
            ("RuntimeError", None, "could not save")] == [(e.crash_type, e.then, e.message) for e in trace.errors]


def test_library_frames_fold_into_runs_and_in_app_frames_stand_alone() -> None:
    """Frames keep their order (innermost last); consecutive library frames make one folded run;
    a stack of library frames only is shown open; elided frames are counted."""
    report = _report()
    reported = build_report_view(report, _present(report, DEVELOPER), POLICY).trace.reported
    only_library = _report(stack=Stack(FRAMES[1:3]), source_context=None)
    library_run = build_report_view(only_library, _present(only_library, DEVELOPER), POLICY).trace.reported.runs
    assert ([(True, 1, False), (False, 2, False), (True, 1, False), (False, 1, False)], 3, [(False, 2, True)]) == (
        [(r.in_app, len(r.frames), r.open) for r in reported.runs], reported.elided,
        [(r.in_app, len(r.frames), r.open) for r in library_run])


def test_source_lines_sit_on_their_frames_only_for_roles_that_may_see_them() -> None:
    """``SourceLine.frame`` indexes the main stack; the line is stripped. Without
    ``source_context`` in the role's fields, no frame carries one."""
    report = _report()
    shown = _present(report, DEVELOPER)
    frames = [f for run in build_report_view(report, shown, POLICY).trace.reported.runs for f in run.frames]
    hidden = [f for run in build_report_view(report, shown - {"source_context"}, POLICY).trace.reported.runs
              for f in run.frames]
    assert (["main()", None, None, "json.dumps(doc)", None], [None] * 5) == (
        [f.source for f in frames], [f.source for f in hidden])


def test_a_role_without_message_sees_no_message_anywhere() -> None:
    """Without ``message``: no message on the reported or chained errors, none in the raw JSON."""
    report = _report()
    view = build_report_view(report, _present(report, DEVELOPER) - {"message"}, POLICY)
    raw = json.loads(view.raw_json)
    assert ([None, None, None], "message" in raw, [c.get("message") for c in raw["chain"]],
            "disk full" in view.raw_json) == ([e.message for e in view.trace.errors], False, [None, None], False)


def test_a_role_without_stack_sees_no_frames_and_fields_it_may_not_see_are_not_listed() -> None:
    """Only ``shown`` fields reach the view: no frames without ``stack``, no source lines listed,
    and the field groups and raw JSON name exactly the shown fields."""
    report = _report()
    shown = frozenset({"crash_type", "release", "environment", "occurred_hour"}) & _present(report, DEVELOPER)
    view = build_report_view(report, shown, POLICY)
    listed = {f.name for g in view.groups for f in g.fields}
    assert (False, (), set(shown), set(shown), None) == (
        view.trace.reported.frames_visible, view.trace.reported.runs, listed, set(json.loads(view.raw_json)),
        view.timeline)


def test_breadcrumbs_run_oldest_first_with_ties_in_sent_order() -> None:
    """Largest offset first; equal offsets keep the report's order; times are in words and ISO durations."""
    report = _report()
    timeline = build_report_view(report, _present(report, DEVELOPER), POLICY).timeline
    assert [("1 min 5 s before", "PT0H1M5S", "nav"), ("5 s before", "PT0H0M5S", "ui"),
            ("5 s before", "PT0H0M5S", "io")] == [(c.when, c.duration, c.category) for c in timeline or ()]
    assert ("at the crash", "2 h 1 s before") == (before_crash(0), before_crash(7201))


def test_fields_are_grouped_by_the_policys_sensitivity_classes_with_their_consent_levels() -> None:
    """Groups follow ``SENSITIVITY_CLASSES``; each field carries its level's name, title and rank;
    fields shown in the trace or timeline point there instead of repeating their value."""
    report = _report()
    view = build_report_view(report, _present(report, DEVELOPER), POLICY)
    fields = {f.name: f for g in view.groups for f in g.fields}
    environment = [(e.label, e.text) for e in fields["environment"].entries]
    assert (["technical", "quasi-identifier", "free-text"], ("diagnostic", 2), ("crash", 1), "trace", "breadcrumbs",
            ("os_family", "linux"), [("feature", "export")], [("sampled_out", "2")]) == (
        [g.sensitivity for g in view.groups], (fields["message"].consent.level, fields["message"].consent.rank),
        (fields["release"].consent.level, fields["release"].consent.rank), fields["stack"].section,
        fields["breadcrumbs"].section, environment[0], [(e.label, e.text) for e in fields["tags"].entries],
        [(e.label, e.text) for e in fields["client_stats"].entries])


def test_control_and_bidi_characters_are_shown_as_escapes() -> None:
    """A right-to-left override in a message, ESC in a breadcrumb and a bidi isolate in a tag are
    shown as escapes; the message's line break stays a line break; the raw JSON escapes them too."""
    report = _report(message="line one\nline two \u202egnp.exe", tags=(Tag("feature", "ex\u2066port"),),
                     breadcrumbs=(Breadcrumb(1, "ui", "\x1b[31mred"),))
    view = build_report_view(report, _present(report, DEVELOPER), POLICY)
    tags = [e.text for g in view.groups for f in g.fields if f.name == "tags" for e in f.entries]
    assert ("line one\nline two \\u202egnp.exe", "\\x1b[31mred", ["ex\\u2066port"], False) == (
        view.trace.reported.message, (view.timeline or ())[0].message, tags,
        any(ch in view.raw_json for ch in "\u202e\u2066\x1b"))


def test_mechanism_names_the_thread() -> None:
    """A crash caught by ``threading.excepthook`` says it was not the main thread."""
    report = _report()
    main = _report(mechanism="excepthook")
    assert ("thread other than the main thread" in (build_report_view(report, _present(report, DEVELOPER),
                                                                      POLICY).trace.mechanism or ""),
            "main thread" in (build_report_view(main, _present(main, DEVELOPER), POLICY).trace.mechanism or "")) \
        == (True, True)
