"""One report as the report page shows it: typed view models built from the decoded report.

``view.build_report_view`` is the way in; it reads only the fields the audited read returned
(the roles' fields), and every string it hands the template has its control and bidi
characters made visible (``text.py``). ``trace.py`` builds the stack trace (chained errors in
Python's order, in-app frames apart from library runs, source lines), ``timeline.py`` the
breadcrumbs, ``fields.py`` the policy's field groups with their consent levels and the raw JSON.
"""

from __future__ import annotations

from crashveil.server.dashboard.report_view.view import ReportView, build_report_view

__all__ = ["ReportView", "build_report_view"]
