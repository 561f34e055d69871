"""The fingerprint of a mapped (and redacted) report, as the server's grouping computes it."""

from __future__ import annotations

import dataclasses

from crashveil.policy import compute_fingerprint
from crashveil.policy.fingerprint import grouping_title
from crashveil.wire import Report

__all__ = ["with_fingerprint"]


def with_fingerprint(report: Report) -> Report:
    """``report`` with the fingerprint recomputed from its (redacted) stack, title and, when
    the SDK sent its own, ``grouping`` (``ingest.grouping.report_fingerprint`` does the same)."""
    frames = report.stack.frames if report.stack is not None else ()
    title = grouping_title(report.crash_type, report.message_template)
    return dataclasses.replace(report, fingerprint=compute_fingerprint(title, frames, report.grouping))
