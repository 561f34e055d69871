"""The privacy feedback inbox: users' feedback on the data practice, read and answered.

For the roles the project's policy lists in ``[feedback] access`` (privacy officer and admin in
the default policy), and only those: anyone else gets the dashboard's 404. The list shows topic,
status and day, never the text. Opening one item is like opening one report: a stated reason
first, written to the audit trail (``feedback.read``) before the text is decrypted. A reply is a
CSRF-checked post, redacted with the project's policy before it is stored (encrypted), and
audited (``feedback.reply``: length and redactions, never the text); so is closing an item
(``feedback.close``). Texts are rendered by Jinja2 with autoescape only.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from crashveil.errors import AccessDenied, NotFound
from crashveil.policy.model import FeedbackRule
from crashveil.server.dashboard.context import DashboardContext
from crashveil.server.dashboard.page import Visit, form_text, render
from crashveil.server.db.engine import read_tx, write_tx
from crashveil.server.feedback import store
from crashveil.server.feedback.tables import STATUSES
from crashveil.server.governance.principals import check_reason

__all__ = ["FEEDBACK_ROLES", "close", "inbox", "item_open", "item_reason", "reply"]

#: The roles that may ever see the inbox; the project's policy narrows them (``[feedback] access``).
FEEDBACK_ROLES = frozenset({"privacy-officer", "admin"})
#: Longest reply (the device keeps at most as much).
MAX_REPLY_CHARS = 4000
_REASON_TITLE = "Why do you need to read this feedback?"


def _rule(ctx: DashboardContext, visit: Visit) -> tuple[str, FeedbackRule]:
    """The project and its ``[feedback]`` rule; 404 unless the user holds one of its roles."""
    project_id = visit.param("project")
    project = ctx.storage.project(project_id)
    if project is None or project.policy.feedback is None:
        raise NotFound
    rule = project.policy.feedback
    if not visit.held & set(rule.access) & FEEDBACK_ROLES:
        raise NotFound
    return project_id, rule


def _item_id(visit: Visit) -> int:
    return int(visit.request.path_params["item"])


async def inbox(ctx: DashboardContext, visit: Visit) -> Response:
    """The list: topic, status and day of each item, newest first; ``?status=`` filters."""
    project_id, rule = await run_in_threadpool(_rule, ctx, visit)
    wanted = visit.request.query_params.get("status") or None
    if wanted is not None and wanted not in STATUSES:
        return render(ctx, visit.session, "error.html", 400, title="Unknown status",
                      message="status must be one of: " + ", ".join(STATUSES))

    def load() -> list[store.FeedbackSummary]:
        with read_tx(ctx.engine) as conn:
            return store.list_feedback(conn, project_id, status=wanted)

    items = await run_in_threadpool(load)
    return render(ctx, visit.session, "feedback_inbox.html", title="Privacy feedback", project_id=project_id,
                  items=items, statuses=STATUSES, wanted=wanted, topics=rule.topics,
                  retention_days=rule.retention_days)


def _exists(ctx: DashboardContext, project_id: str, item_id: int) -> bool:
    with read_tx(ctx.engine) as conn:
        return store.exists(conn, project_id, item_id)


async def item_reason(ctx: DashboardContext, visit: Visit) -> Response:
    """The form asking why the user needs to read the item."""
    project_id, _ = await run_in_threadpool(_rule, ctx, visit)
    item_id = _item_id(visit)
    if not await run_in_threadpool(_exists, ctx, project_id, item_id):
        raise NotFound
    return render(ctx, visit.session, "feedback_reason.html", title=_REASON_TITLE, project_id=project_id,
                  item_id=item_id, error=None, reason="")


def read_item(ctx: DashboardContext, visit: Visit, project_id: str, item_id: int, reason: str) -> store.FeedbackItem:
    """The audited read: the reason checked and the entry committed before the text is decrypted."""
    text = check_reason(reason)
    if not _exists(ctx, project_id, item_id):
        raise NotFound
    ctx.audit.record("feedback.read", actor=visit.user.actor, project_id=project_id,
                     subject=f"feedback:{item_id}", detail={"reason": text})
    with read_tx(ctx.engine) as conn:
        item = store.open_feedback(conn, ctx.storage.keys, project_id, item_id)
    if item is None:
        raise NotFound
    return item


async def item_open(ctx: DashboardContext, visit: Visit) -> Response:
    """The posted reason: the item's text and reply, with the reply and close forms."""
    project_id, _ = await run_in_threadpool(_rule, ctx, visit)
    item_id = _item_id(visit)
    reason = form_text(visit.form, "reason")
    try:
        item = await run_in_threadpool(read_item, ctx, visit, project_id, item_id, reason)
    except AccessDenied as exc:
        return render(ctx, visit.session, "feedback_reason.html", 400, title=_REASON_TITLE, project_id=project_id,
                      item_id=item_id, reason=" ".join(reason.split())[:500], error=str(exc))
    return render(ctx, visit.session, "feedback_item.html", title="Privacy feedback", project_id=project_id,
                  item_id=item_id, item=item, max_reply=MAX_REPLY_CHARS)


def _store_reply(ctx: DashboardContext, visit: Visit, project_id: str, item_id: int, reply: str) -> None:
    from crashveil.server.feedback.intake import policy_redactor

    project = ctx.storage.project(project_id)
    if project is None:
        raise NotFound
    clean, hits = policy_redactor(project.digest, project.policy).redact_counted(reply)
    with write_tx(ctx.engine) as conn:
        if not store.reply_feedback(conn, ctx.storage.keys, project_id, item_id, clean,
                                    day=ctx.now().date().isoformat()):
            raise NotFound
        ctx.audit.record("feedback.reply", actor=visit.user.actor, project_id=project_id,
                         subject=f"feedback:{item_id}", detail={"length": len(clean), "redactions": sum(hits.values())},
                         conn=conn)
    ctx.audit.checkpoint()


async def reply(ctx: DashboardContext, visit: Visit) -> Response:
    """Store the posted reply (redacted) and mark the item answered; back to the inbox."""
    project_id, _ = await run_in_threadpool(_rule, ctx, visit)
    item_id = _item_id(visit)
    text = form_text(visit.form, "reply").strip()
    if not text or len(text) > MAX_REPLY_CHARS:
        return render(ctx, visit.session, "error.html", 400, title="Reply not sent",
                      message=f"A reply is 1 to {MAX_REPLY_CHARS} characters.")
    await run_in_threadpool(_store_reply, ctx, visit, project_id, item_id, text)
    return RedirectResponse(f"/dashboard/p/{project_id}/feedback", status_code=303)


def _close(ctx: DashboardContext, visit: Visit, project_id: str, item_id: int) -> None:
    with write_tx(ctx.engine) as conn:
        if not store.close_feedback(conn, project_id, item_id):
            raise NotFound
        ctx.audit.record("feedback.close", actor=visit.user.actor, project_id=project_id,
                         subject=f"feedback:{item_id}", conn=conn)
    ctx.audit.checkpoint()


async def close(ctx: DashboardContext, visit: Visit) -> Response:
    """Close the item (audited); back to the inbox."""
    project_id, _ = await run_in_threadpool(_rule, ctx, visit)
    await run_in_threadpool(_close, ctx, visit, project_id, _item_id(visit))
    return RedirectResponse(f"/dashboard/p/{project_id}/feedback", status_code=303)
