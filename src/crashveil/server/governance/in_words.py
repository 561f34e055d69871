"""What the dashboard and the CLI say in words: who an audit actor is, and when retention last
ran and what it did.

The audit trail stores actors as ids (``user:7``, ``token:ab12``): ids stay true when a user is
renamed and never put a name into the hash chain. People read names, so the privacy page and
``crashveil audit log`` show ``alice`` (and ``token ab12 of alice``) beside the stored id. The
retention run is stored as a JSON summary; :func:`retention_in_words` makes it one sentence
("last run 3 hours ago: deleted 12 reports, ...").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashveil.server.db.engine import read_tx
from crashveil.server.db.governance_tables import api_tokens, retention_runs, users

__all__ = ["LastRetention", "actor_names", "ago", "last_retention", "retention_in_words"]


def actor_names(engine: Engine, actors: Iterable[str]) -> dict[str, str]:
    """``{stored actor: what people read}`` for the user and token actors among ``actors``.

    ``user:7`` -> ``alice``; ``token:ab12`` -> ``token ab12 of alice``. Actors of other
    kinds (``cli``, ``os:root``, ``system``, anonymous) and ids no longer known are left out:
    callers show the stored actor then.
    """
    user_ids: set[int] = set()
    token_ids: set[str] = set()
    for actor in set(actors):
        kind, _, ident = actor.partition(":")
        if kind == "user" and ident.isdigit():
            user_ids.add(int(ident))
        elif kind == "token" and ident:
            token_ids.add(ident)
    if not user_ids and not token_ids:
        return {}
    names: dict[str, str] = {}
    with read_tx(engine) as conn:
        if user_ids:
            for row in conn.execute(sa.select(users.c.id, users.c.name).where(users.c.id.in_(sorted(user_ids)))):
                names[f"user:{row.id}"] = row.name
        if token_ids:
            query = (sa.select(api_tokens.c.token_id, users.c.name)
                     .join(users, users.c.id == api_tokens.c.user_id)
                     .where(api_tokens.c.token_id.in_(sorted(token_ids))))
            for row in conn.execute(query):
                names[f"token:{row.token_id}"] = f"token {row.token_id} of {row.name}"
    return names


def ago(moment: datetime, now: datetime) -> str:
    """``moment`` relative to ``now`` in words: "just now", "5 minutes ago", "3 days ago"."""
    seconds = int((now - moment.astimezone(UTC)).total_seconds())
    if seconds < 60:
        return "just now" if seconds >= 0 else "in the future (check the clock)"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class LastRetention:
    """The newest retention run: when it finished and its stored summary (``RetentionResult.to_dict``)."""

    finished_at: datetime
    summary: Mapping[str, object]


def last_retention(engine: Engine) -> LastRetention | None:
    """The newest recorded retention run, or ``None`` when retention never ran."""
    with read_tx(engine) as conn:
        row = conn.execute(sa.select(retention_runs.c.finished_at, retention_runs.c.summary)
                           .order_by(retention_runs.c.finished_at.desc()).limit(1)).first()
    if row is None:
        return None
    try:
        summary = json.loads(row.summary)
    except ValueError:
        summary = {}
    return LastRetention(row.finished_at, summary if isinstance(summary, dict) else {})


def retention_in_words(run: LastRetention | None, now: datetime) -> str:
    """One sentence: "last run 3 hours ago: deleted 12 reports, stripped 4 details, destroyed 2 day keys"."""
    if run is None:
        return "retention has never run: expired data is deleted only when it runs (crashveil retention run)"
    projects = run.summary.get("projects")
    rows = [p for p in projects if isinstance(p, dict)] if isinstance(projects, list) else []

    def total(key: str) -> int:
        return sum(int(p.get(key) or 0) for p in rows if isinstance(p.get(key) or 0, int))

    keys = sum(len(p.get("keys_destroyed") or ()) for p in rows)
    done = [_count(total("reports_deleted"), "report"), _count(total("details_rewritten"), "detail"),
            _count(keys, "day key"), _count(total("rollups_deleted"), "roll-up")]
    parts = [f"deleted {done[0]}", f"stripped {done[1]}", f"destroyed {done[2]}", f"deleted {done[3]}"]
    return f"last run {ago(run.finished_at, now)}: " + ", ".join(parts)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
