"""The group page's triage forms: resolve, ignore, reopen, notes, merge and unmerge, the issue link.

Every handler is a CSRF-checked POST behind ``roles.STATUS_ROLES`` (``routes.py``); a viewer
gets the same 404 as a stranger. A malformed form is a 400 page naming the field
(:class:`~crashveil.errors.BadTriageAction`), never quoting what was sent. The SQL is in
``triage.actions`` and ``triage.merge``; each change writes its audit entry with the actor
in the same transaction.

Notes are staff text, but staff paste crash output: a note goes through the project
policy's redaction before it is stored (an e-mail address becomes ``<email>``), and notes
are shown only on the group page, escaped, to roles that triage or read reports; never on
the group list or a public page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from crashveil.errors import BadTriageAction, NotFound
from crashveil.server.dashboard.context import DashboardContext
from crashveil.server.dashboard.page import Visit, form_text, render
from crashveil.server.dashboard.roles import READ_ROLES, STATUS_ROLES
from crashveil.server.dashboard.triage import actions, merge
from crashveil.server.db.triage_tables import NOTE_CHARS
from crashveil.server.ingest import grouping

__all__ = ["add_note", "delete_note", "ignore", "link", "merge_into", "page_context", "reopen", "resolve", "unmerge"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_RELEASE_CHARS = 128
_MAX_IGNORE_DAYS = 366
_MAX_IGNORE_COUNT = 1_000_000
_GROUP_LIST = re.compile(r"^\s*#?\d{1,10}(\s*[,\s]\s*#?\d{1,10})*\s*$")


def _back(visit: Visit, group_id: int | None = None) -> RedirectResponse:
    gid = group_id if group_id is not None else visit.request.path_params["group"]
    return RedirectResponse(f"/dashboard/p/{visit.param('project')}/groups/{gid}", status_code=303)


async def _run(ctx: DashboardContext, visit: Visit, work: Callable[[], object]) -> Response:
    """Run ``work`` in a thread; back to the group page, or the 400 page naming the bad field."""
    try:
        await run_in_threadpool(work)
    except BadTriageAction as exc:
        return render(ctx, visit.session, "error.html", 400, title="Cannot do that", message=str(exc))
    return _back(visit)


def _release(visit: Visit) -> str | None:
    text = form_text(visit.form, "release").strip()
    if len(text) > _RELEASE_CHARS or _CONTROL.search(text):
        raise BadTriageAction("release", f"at most {_RELEASE_CHARS} characters, no control characters")
    return text or None


def _newest(ctx: DashboardContext, project_id: str, purpose: str) -> str:
    with ctx.engine.connect() as conn:
        newest = actions.newest_release(conn, project_id)
    if newest is None:
        raise BadTriageAction(purpose, "a project with releases that can be ordered (versions such as 1.4.2)")
    return newest


# -- resolve, ignore, reopen ---------------------------------------------------------------------


async def resolve(ctx: DashboardContext, visit: Visit) -> Response:
    """``action``: ``resolve`` (fixed in the release typed, or now when it is empty),
    ``resolve_next`` (in the release after the project's newest) or ``resolve_now``."""
    project_id, group_id, how = visit.param("project"), visit.request.path_params["group"], form_text(visit.form,
                                                                                                       "action")

    def work() -> None:
        base = dict(project_id=project_id, group_id=group_id, status=grouping.RESOLVED, actor=visit.user.actor,
                    at=ctx.now())
        if how == "resolve_next":
            newest = _newest(ctx, project_id, "resolve in the next release")
            change = actions.StatusChange(**base, resolved_after=newest,
                                          condition=f"in the next release after {newest}")
        elif how in ("resolve", "resolve_now"):
            release = _release(visit) if how == "resolve" else None
            change = actions.StatusChange(**base, resolved_in=release,
                                          condition=f"in {release}" if release else "now")
        else:
            raise BadTriageAction("action", "resolve, resolve_next or resolve_now")
        actions.apply_status(ctx.engine, ctx.audit, change)

    return await _run(ctx, visit, work)


def _ignore_date(text: str, today: date) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        day = None
    if day is None or not today < day <= today + timedelta(days=_MAX_IGNORE_DAYS):
        raise BadTriageAction("date", f"a day (YYYY-MM-DD) after today and at most {_MAX_IGNORE_DAYS} days ahead")
    return day


def _ignore_count(text: str) -> int:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= _MAX_IGNORE_COUNT:
        raise BadTriageAction("count", f"a whole number from 1 to {_MAX_IGNORE_COUNT}")
    return int(text)


async def ignore(ctx: DashboardContext, visit: Visit) -> Response:
    """``until``: ``forever`` (until reopened), ``date`` (with ``date``), ``count`` (with
    ``count`` further reports) or ``release`` (a release after the project's newest)."""
    project_id, group_id = visit.param("project"), visit.request.path_params["group"]
    until = form_text(visit.form, "until") or "forever"

    def work() -> None:
        now = ctx.now()
        base = dict(project_id=project_id, group_id=group_id, status=grouping.IGNORED, actor=visit.user.actor, at=now)
        extra: dict[str, Any]
        if until == "forever":
            extra = dict(condition="until reopened")
        elif until == "date":
            day = _ignore_date(form_text(visit.form, "date"), now.astimezone(UTC).date())
            extra = dict(ignored_until=datetime.combine(day, datetime.min.time(), tzinfo=UTC),
                         condition=f"until {day.isoformat()}")
        elif until == "count":
            count = _ignore_count(form_text(visit.form, "count"))
            extra = dict(ignored_for=count, condition=f"for {count} more reports")
        elif until == "release":
            newest = _newest(ctx, project_id, "ignore until a new release")
            extra = dict(ignored_until_release=newest, condition=f"until a release after {newest}")
        else:
            raise BadTriageAction("until", "forever, date, count or release")
        actions.apply_status(ctx.engine, ctx.audit, actions.StatusChange(**base, **extra))

    return await _run(ctx, visit, work)


async def reopen(ctx: DashboardContext, visit: Visit) -> Response:
    """Open the group again (any resolve or ignore condition is dropped)."""
    change = actions.StatusChange(visit.param("project"), visit.request.path_params["group"], grouping.OPEN,
                                  visit.user.actor, ctx.now())
    return await _run(ctx, visit, lambda: actions.apply_status(ctx.engine, ctx.audit, change))


# -- notes ---------------------------------------------------------------------------------------


def _redacted_note(ctx: DashboardContext, project_id: str, text: str) -> tuple[str, int]:
    """The note as stored (line ends normalised, redacted by the project's policy), and how
    many redactions were made."""
    from crashveil.redact import Redactor

    project = ctx.storage.project(project_id)
    if project is None:
        raise NotFound
    text = text.replace("\r\n", "\n").strip()
    if not text or len(text) > NOTE_CHARS or re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text):
        raise BadTriageAction("note", f"1 to {NOTE_CHARS} characters of text")
    redactor = Redactor(project.policy.redaction.detectors, project.policy.redaction.placeholders)
    clean, hits = redactor.redact_counted(text, kind="message")
    return clean[:NOTE_CHARS], sum(hits.values())


async def add_note(ctx: DashboardContext, visit: Visit) -> Response:
    project_id, group_id = visit.param("project"), visit.request.path_params["group"]

    def work() -> None:
        body, redacted = _redacted_note(ctx, project_id, form_text(visit.form, "note"))
        actions.add_note(ctx.engine, ctx.audit, project_id, group_id, author=visit.user.actor, body=body,
                         redacted=redacted, at=ctx.now())

    return await _run(ctx, visit, work)


async def delete_note(ctx: DashboardContext, visit: Visit) -> Response:
    """Delete one of the user's own notes (someone else's is a 404)."""
    project_id, group_id = visit.param("project"), visit.request.path_params["group"]
    note_id: int = visit.request.path_params["note"]
    return await _run(ctx, visit, lambda: actions.delete_note(ctx.engine, ctx.audit, project_id, group_id, note_id,
                                                              actor=visit.user.actor))


# -- merge, unmerge, link ------------------------------------------------------------------------


def _group_numbers(text: str) -> list[int]:
    if not _GROUP_LIST.match(text):
        raise BadTriageAction("groups", f"group numbers separated by commas, 1 to {merge.MAX_MERGED}")
    return [int(n) for n in re.findall(r"\d+", text)]


async def merge_into(ctx: DashboardContext, visit: Visit) -> Response:
    """Merge the groups numbered in ``groups`` into this one."""
    project_id, group_id = visit.param("project"), visit.request.path_params["group"]
    return await _run(ctx, visit, lambda: merge.merge_groups(
        ctx.engine, ctx.audit, project_id, group_id, _group_numbers(form_text(visit.form, "groups")),
        actor=visit.user.actor))


async def unmerge(ctx: DashboardContext, visit: Visit) -> Response:
    """Take this (merged) group out of its primary; back to this group's page."""
    project_id, group_id = visit.param("project"), visit.request.path_params["group"]
    return await _run(ctx, visit, lambda: merge.unmerge_group(ctx.engine, ctx.audit, project_id, group_id,
                                                              actor=visit.user.actor))


async def link(ctx: DashboardContext, visit: Visit) -> Response:
    """Link the group to an issue elsewhere (``url``; empty removes the link)."""
    project_id, group_id = visit.param("project"), visit.request.path_params["group"]
    return await _run(ctx, visit, lambda: actions.link_issue(
        ctx.engine, ctx.audit, project_id, group_id, actions.check_url(form_text(visit.form, "url")),
        actor=visit.user.actor))


# -- what the group page shows -------------------------------------------------------------------


def page_context(ctx: DashboardContext, group: Any, held: frozenset[str], actor: str) -> dict[str, object]:
    """The triage card's data for ``group`` (a ``crash_groups`` row): notes (for roles that
    triage or read reports), merged groups, and the release a "next release" would follow."""
    with ctx.engine.connect() as conn:
        show_notes = bool(held & (STATUS_ROLES | READ_ROLES))
        notes = actions.notes_of(conn, group.id) if show_notes else []
        merged = merge.merged_groups(conn, group.id)
        newest = actions.newest_release(conn, group.project_id)
    names = {f"user:{user.user_id}": user.name for user in ctx.access.list_users()} if notes else {}
    return dict(notes=[(note, names.get(note.author, "a former user"), note.author == actor) for note in notes],
                show_notes=show_notes, merged=merged, next_after=newest, note_chars=NOTE_CHARS,
                url_chars=actions.URL_CHARS)
