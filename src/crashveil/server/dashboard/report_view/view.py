"""The report page's view: the decoded report, cut to the fields the audited read returned."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from crashveil.policy.model import Policy
from crashveil.server.dashboard.report_view.fields import FieldGroup, field_groups, raw_json
from crashveil.server.dashboard.report_view.timeline import Crumb, timeline_of
from crashveil.server.dashboard.report_view.trace import TraceView, trace_of
from crashveil.wire.report import Report

__all__ = ["TRACE", "TIMELINE", "ReportView", "build_report_view"]

#: Ids of the page sections that show a field's value instead of the field list.
TRACE = "trace"
TIMELINE = "breadcrumbs"


@dataclass(frozen=True)
class ReportView:
    """What the report page shows: the trace, the breadcrumb timeline (None: not shown), the
    field groups, the raw JSON of the same fields, and their names."""

    trace: TraceView
    timeline: tuple[Crumb, ...] | None
    groups: tuple[FieldGroup, ...]
    raw_json: str
    shown: tuple[str, ...]


def build_report_view(report: Report, shown: Collection[str], policy: Policy) -> ReportView:
    """The view of ``report`` reading only ``shown`` fields (the names ``AccessStore.read_report``
    returned and audited). A chained error's message is part of ``message``: gone without it."""
    names = frozenset(shown)
    cut = report.restricted_to(tuple(names))
    sections = {"stack": TRACE, "chain": TRACE, "message": TRACE, "breadcrumbs": TIMELINE}
    if "stack" in names:
        sections["source_context"] = TRACE
    timeline = timeline_of(cut.breadcrumbs) if "breadcrumbs" in names and cut.breadcrumbs else None
    return ReportView(trace=trace_of(cut, names), timeline=timeline,
                      groups=field_groups(cut, names, policy, sections), raw_json=raw_json(cut, names),
                      shown=tuple(name for name in policy.fields if name in names))
