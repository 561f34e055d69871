"""What each stored report adds to its group for the triage list (migration 0013): title
parts, the latest message template, the all-time install sketch, the day counts of the
trend, and the group's facets; and for the group page (migration 0016): the stack
signature, the newest report's source lines and the day counts by runtime and environment.
Called by the report write path (``storage.reports``) in the batch's write transaction, on
the group dicts it holds locked.

The all-time install count is honest for the k rule as the per-day ones are
(``db.rollup_tables``): below :data:`EXACT_BELOW` it is the number of non-zero registers,
a guaranteed lower bound of the distinct pseudonyms, so a count the dashboard shows as
">= k" is certain for any k below that; above it, the HyperLogLog estimate.

Triage actions (migration 0014): :func:`status_after` judges each report against the
group's resolve or ignore (``ingest.grouping`` holds the rules), and :func:`follow_merges`
sends the reports of a merged group's fingerprint to the group it was merged into.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from crashveil.policy.model import Policy
from crashveil.server.db import engine as db
from crashveil.server.db.rollup_tables import SKETCH_BYTES, InstallSketch, estimate
from crashveil.server.db.tables import crash_groups
from crashveil.server.db.triage_tables import group_day_facets, group_facets
from crashveil.server.ingest import grouping
from crashveil.server.storage.records import StoreRow
from crashveil.server.storage.statements import bulk, in_chunks, in_keys, upsert_counts

__all__ = ["EXACT_BELOW", "GROUP_STATE", "add_day_facets", "add_facets", "expire_source_lines",
           "expire_title_messages", "finish_groups", "follow_merges", "install_count", "search_code", "status_after",
           "update_group", "write_day_facets", "write_facets"]

#: ``crash_groups`` columns this module keeps up to date with each report.
GROUP_STATE = ("culprit", "search_code", "title_message", "title_message_at", "installs", "install_count", "day_key",
               "day_count", "prev_day_count", "trend", "ignored_until", "ignored_until_count", "ignored_until_release",
               "ignore_ended", "ignore_ended_at", "signature", "source_lines", "source_at")
#: Install counts below this are the certain lower bound (see the module docstring).
EXACT_BELOW = 64
_SKETCH = "_triage_sketch"
_SEARCH_CHARS = 800
#: A facet value is cut to the column's width.
_VALUE_CHARS = 128


def update_group(group: dict[str, Any], item: StoreRow) -> None:
    """Count ``item`` in ``group``'s triage columns (the sketch is finished by :func:`finish_groups`)."""
    if group.get("culprit") is None and item.culprit is not None:
        group["culprit"], group["search_code"] = item.culprit, search_code(group["crash_type"], item)
    if item.title_message is not None:
        group["title_message"], group["title_message_at"] = item.title_message, item.received_at
    if group.get("signature") is None and item.signature is not None:
        group["signature"] = item.signature
    if item.source_lines is not None and (group.get("source_at") is None or group["source_at"] <= item.received_at):
        group["source_lines"], group["source_at"] = item.source_lines, item.received_at
    if item.install_id is not None:
        sketch = group.get(_SKETCH)
        if sketch is None:
            blob = group.get("installs")
            sketch = group[_SKETCH] = InstallSketch(blob if blob is not None and len(blob) == SKETCH_BYTES else None)
        sketch.add(item.install_id)
    day, current = item.day, group.get("day_key")
    if current == day:
        group["day_count"] = (group.get("day_count") or 0) + 1
    elif current is None or current < day:
        yesterday = (datetime.strptime(day, "%Y-%m-%d") - timedelta(days=1)).strftime("%Y-%m-%d")
        group["prev_day_count"] = (group.get("day_count") or 0) if current == yesterday else 0
        group["day_key"], group["day_count"] = day, 1
    group["trend"] = (group.get("day_count") or 0) - (group.get("prev_day_count") or 0)


def status_after(group: dict[str, Any], item: StoreRow) -> grouping.Transition:
    """Judge ``item`` against ``group``'s resolve or ignore (before its count is added); an
    ignore that ends is cleared here, with what ended it. The caller sets the status."""
    transition = grouping.on_report(
        grouping.GroupStatus(group["status"], group["resolved_in"], group["resolved_after"], group["resolved_at"],
                             group["ignored_until"], group["ignored_until_count"], group["ignored_until_release"]),
        item.release, count=group["total_count"] + 1, received_at=item.received_at, occurred_hour=item.occurred_hour)
    if transition.ignore_ended is not None:
        group.update(ignored_until=None, ignored_until_count=None, ignored_until_release=None,
                     ignore_ended=transition.ignore_ended, ignore_ended_at=item.received_at)
    return transition


def follow_merges(conn: sa.Connection, found: dict[tuple[str, str], dict[str, Any]]
                  ) -> dict[tuple[str, str], dict[str, Any]]:
    """``found`` (fingerprint -> group, locked) with each merged group replaced by the group it
    was merged into, locked too (one dict per group, so a batch counts each group once).

    Nothing is read unless a group of the batch was merged. A merged group whose primary is
    gone (retention deleted it) takes its own reports again."""
    targets = {group["merged_into"] for group in found.values() if group.get("merged_into") is not None}
    if not targets:
        return found
    by_id = {group["id"]: group for group in found.values()}
    wanted = sorted(targets - by_id.keys())
    for _, stmt, params in in_chunks(conn, "merged-into", wanted, _primaries_stmt):
        for row in db.fetch_dicts(conn, stmt, params):
            by_id[row["id"]] = row
    return {key: by_id.get(group["merged_into"], group) if group.get("merged_into") is not None else group
            for key, group in found.items()}


def _primaries_stmt(size: int) -> Any:
    return (sa.select(crash_groups).where(crash_groups.c.id.in_(in_keys(size))).order_by(crash_groups.c.id)
            .with_for_update())


def search_code(crash_type: str, item: StoreRow) -> str:
    """The group's code search text: type, culprit and in-app modules (``crash_groups.search_code``)."""
    return " ".join(part for part in (crash_type, item.culprit, item.modules) if part)[:_SEARCH_CHARS]


def install_count(registers: bytes | bytearray) -> int:
    """The stored install count of a sketch (see the module docstring)."""
    certain = len(registers) - registers.count(0)
    return certain if certain < EXACT_BELOW else max(certain, round(estimate(registers)))


def finish_groups(groups: Iterable[dict[str, Any]]) -> None:
    """Turn the sketches :func:`update_group` grew into the ``installs`` and ``install_count`` columns."""
    for group in groups:
        sketch: InstallSketch | None = group.pop(_SKETCH, None)
        if sketch is not None:
            group["installs"] = sketch.to_bytes()
            group["install_count"] = install_count(sketch.registers)
        for name in GROUP_STATE:
            group.setdefault(name, None)
        for name in ("install_count", "day_count", "prev_day_count", "trend"):
            if group[name] is None:
                group[name] = 0


def add_facets(facets: set[tuple[int, str, str, str]], item: StoreRow, group_id: int) -> None:
    """The (group, kind, value, project) facets ``item`` shows (an unknown value is ``""``)."""
    for kind, value in (("release", item.release), ("environment", item.deployment), ("platform", item.platform),
                        ("os", item.os_family)):
        facets.add((group_id, kind, (value or "")[:_VALUE_CHARS], item.project_id))


def write_facets(conn: sa.Connection, facets: set[tuple[int, str, str, str]]) -> None:
    """Insert the facets not stored yet (one statement for the batch)."""
    if not facets:
        return
    rows = [dict(group_id=g, kind=k, value=v, project_id=p) for g, k, v, p in sorted(facets)]
    bulk(conn, "group-facets", lambda c: db.dialect_insert(c, group_facets)
         .on_conflict_do_nothing(index_elements=["group_id", "kind", "value"]), rows)


def add_day_facets(facets: dict[tuple[int, str, str, str], list[Any]], item: StoreRow, group_id: int) -> None:
    """Count ``item`` in its (group, kind, value, day) runtime and environment cells (the day
    of the hour the roll-ups count it in: occurred, else received)."""
    day = (item.occurred_hour or item.received_hour)[:10]
    for kind, value in (("runtime", item.runtime), ("environment", item.deployment)):
        cell = facets.setdefault((group_id, kind, (value or "")[:_VALUE_CHARS], day), [item.project_id, 0])
        cell[1] += 1


def write_day_facets(conn: sa.Connection, facets: dict[tuple[int, str, str, str], list[Any]]) -> None:
    """Add the batch's day facet counts (one upsert statement)."""
    upsert_counts(conn, group_day_facets, ["group_id", "kind", "value", "day"],
                  [dict(group_id=g, kind=k, value=v, day=d, project_id=cell[0], count=cell[1])
                   for (g, k, v, d), cell in sorted(facets.items())], ("count",))


def expire_source_lines(conn: sa.Connection, project_id: str, policy: Policy, now: datetime) -> int:
    """Forget group source lines received before ``source_context``'s retention (retention
    calls this): they are kept no longer than the reports they came from."""
    rule = policy.fields.get("source_context")
    cutoff = now - timedelta(days=rule.retention_days) if rule is not None else now
    return conn.execute(crash_groups.update().where(
        crash_groups.c.project_id == project_id, crash_groups.c.source_at < cutoff)
        .values(source_lines=None, source_at=None)).rowcount


def expire_title_messages(conn: sa.Connection, project_id: str, policy: Policy, now: datetime) -> int:
    """Forget group message templates seen last before the shorter retention of ``message``
    and ``message_template`` (retention calls this; the search index follows by trigger).
    The template is a redacted message: it is kept no longer than the messages it came from."""
    days = [policy.fields[name].retention_days for name in ("message", "message_template") if name in policy.fields]
    cutoff = now - timedelta(days=min(days)) if days else now
    return conn.execute(crash_groups.update().where(
        crash_groups.c.project_id == project_id, crash_groups.c.title_message_at < cutoff)
        .values(title_message=None, title_message_at=None)).rowcount
