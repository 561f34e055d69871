"""One report through the API: scope ``reports:read``, a role that reads reports, and a stated
reason in the ``Crashveil-Reason`` header; audited exactly as a dashboard read.

The read goes through the dashboard's own function (``dashboard.pages.reports.read_report`` ->
``AccessStore.read_report``): the permission and the reason are checked, and the
``report.read`` entry (the token's user as actor, the reason, the fields shown) is committed
before anything is decrypted. Only the fields the policy gives the token's roles are sent.
Just before it, a ``token.use`` entry names the token that asked.
"""

from __future__ import annotations

import dataclasses

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crashveil.errors import NotVisible
from crashveil.server.api.auth import authenticate, require_scope
from crashveil.server.api.context import ApiContext
from crashveil.server.dashboard.pages import reports as reports_page
from crashveil.server.governance.principals import check_reason, require_permission

__all__ = ["REASON_HEADER", "get_report"]

REASON_HEADER = "Crashveil-Reason"


async def get_report(ctx: ApiContext, request: Request) -> Response:
    """GET /projects/{project}/reports/{report}: the visible fields, after the audited reason."""
    caller = await authenticate(request, ctx.access)
    require_scope(caller, "reports:read")
    project_id = request.path_params["project"]
    report_id = request.path_params["report"]
    roles = require_permission(caller.principal, project_id, "reports.read")
    reason = check_reason(request.headers.get(REASON_HEADER))
    # The audit actor is the token's user, as for a dashboard read; the token is named by token.use.
    reader = dataclasses.replace(caller.principal, kind="session", token_id=None)

    def read() -> dict[str, object]:
        dash = ctx.dashboard
        if not reports_page.report_exists(dash.storage.engine, project_id, report_id):
            raise NotVisible("no such report")
        dash.audit.record("token.use", actor=reader.actor, project_id=project_id,
                          subject=f"token:{caller.principal.token_id}",
                          detail={"operation": "getReport", "report": f"report:{report_id}"})
        data = reports_page.read_report(dash, reader, roles, project_id, report_id, reason)
        fields = data["fields"]
        assert isinstance(fields, list)
        return {"report_id": report_id, "fields": dict(fields), "hidden": data["hidden"]}

    return JSONResponse(await run_in_threadpool(read), headers={"Cache-Control": "no-store"})
