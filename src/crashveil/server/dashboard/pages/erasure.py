"""Erasure by installation code, for a privacy officer (or an admin) of the project.

The form takes the code the person gives (the app showed it: ``crashveil.installation_code()``)
and a reason; the CSRF-checked post erases through the same path as the SDK's ``revoke()``
(``governance/erasure_by_code/erase.py``, audited as ``erasure.by_code``) and shows the signed
confirmation to hand to the person, with a download button. The download posts the document
back: it is verified against the project's signing keys before it is served as a file, so the
server keeps nothing of it and serves nothing it did not sign.

A role in the project without erasure rights gets a 403 (the project is theirs to see); no role
at all, the usual 404. The code is never echoed: a wrong one is named by what is wrong with it.
"""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from crashveil.errors import BadApiInput, ConfirmationInvalid, InstallationCodeError, NotFound
from crashveil.server.dashboard.context import DashboardContext
from crashveil.server.dashboard.page import Visit, form_text, render
from crashveil.server.governance.erasure_by_code.confirmation import DOCUMENT_KEYS, parse_document, verify_document
from crashveil.server.governance.erasure_by_code.erase import MAX_REASON, MIN_REASON, erase_by_code

__all__ = ["ERASURE_ROLES", "erasure_form", "erasure_post", "confirmation_download"]

#: Who may erase by installation code in a project.
ERASURE_ROLES = frozenset({"privacy-officer", "admin"})
_TITLE = "Erase by installation code"


def _refused(ctx: DashboardContext, visit: Visit) -> Response | None:
    if visit.held & ERASURE_ROLES:
        return None
    return render(ctx, visit.session, "error.html", 403, title="Refused",
                  message="Erasing by installation code needs the privacy-officer or admin role in this project.")


def _form(ctx: DashboardContext, visit: Visit, status: int = 200, *, error: str | None = None,
          reason: str = "") -> Response:
    return render(ctx, visit.session, "erasure.html", status, title=_TITLE, project_id=visit.param("project"),
                  error=error, reason=reason, document=None, min_reason=MIN_REASON, max_reason=MAX_REASON)


async def erasure_form(ctx: DashboardContext, visit: Visit) -> Response:
    """The form: code and reason."""
    return _refused(ctx, visit) or _form(ctx, visit)


async def erasure_post(ctx: DashboardContext, visit: Visit) -> Response:
    """Erase, then show the signed confirmation; a bad code or reason is the form again, with a 400."""
    refused = _refused(ctx, visit)
    if refused is not None:
        return refused
    reason = form_text(visit.form, "reason")
    try:
        result = await run_in_threadpool(erase_by_code, ctx.storage, ctx.audit, visit.param("project"),
                                         form_text(visit.form, "code"), reason=reason, actor=visit.user.actor,
                                         now=ctx.now())
    except (InstallationCodeError, BadApiInput) as exc:
        return _form(ctx, visit, 400, error=str(exc), reason=reason)
    document = json.dumps(result.document, indent=2, sort_keys=True)
    return render(ctx, visit.session, "erasure.html", title=_TITLE, project_id=visit.param("project"), error=None,
                  reason="", document=document, request_id=result.request_id, min_reason=MIN_REASON,
                  max_reason=MAX_REASON)


async def confirmation_download(ctx: DashboardContext, visit: Visit) -> Response:
    """The posted confirmation as a file, once it verifies against this project's signing keys."""
    refused = _refused(ctx, visit)
    if refused is not None:
        return refused
    project = await run_in_threadpool(ctx.storage.project, visit.param("project"))
    if project is None:
        raise NotFound
    try:
        document = parse_document(form_text(visit.form, "document"))
        stated = verify_document(document, [key.public_key_string() for key in project.signing_keys])
    except ConfirmationInvalid as exc:
        return render(ctx, visit.session, "error.html", 400, title="Not a confirmation", message=str(exc))
    if stated.project_id != project.id:
        return render(ctx, visit.session, "error.html", 400, title="Not a confirmation",
                      message="This confirmation is of another project.")
    kept = {key: document[key] for key in DOCUMENT_KEYS if isinstance(document.get(key), str)}
    body = json.dumps(kept, indent=2, sort_keys=True) + "\n"
    name = f"crashveil-erasure-{stated.request_id}.json"
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
