"""The group list's free-text search: one meaning on both engines, and the trigram shortcut.

A search is a substring match, case-insensitive for ASCII letters only, other characters as
they are (SQLite's ``LIKE``; PostgreSQL compares the ASCII-folded copies that migration
0015 keeps, ``db.triage_tables``: an ``ILIKE`` would fold other letters too, by the
server's locale, and folding at query time costs ~5x a plain ``LIKE`` per row). What is
searched follows the roles: the code text (type, culprit, modules) where ``stack`` may be
read, else the type; and the message template where messages may be read, within their
retention (:class:`~crashveil.server.dashboard.triage.titles.TitleRules`).

:func:`candidates` asks the engine's trigram index for the matching ids first, so a rare
term reads its few groups instead of walking 100k; a common one (more than
:data:`MAX_CANDIDATES` matches) walks the sort's index, where a page fills at once.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashveil.server.dashboard.triage.titles import TitleRules
from crashveil.server.db.tables import crash_groups
from crashveil.server.db.triage_tables import (
    SEARCH_TEXT_INDEXES,
    code_folded,
    code_text,
    fold_ascii,
    group_search,
    group_search_text,
    message_folded,
)

__all__ = ["MAX_CANDIDATES", "Candidates", "candidates", "matches"]

#: Search matches taken from the trigram index at most (see :func:`candidates`).
MAX_CANDIDATES = 500
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_c = crash_groups.c
logger = logging.getLogger("crashveil.server.dashboard")


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's special characters escaped (escape character ``\\``)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _terms(text: str, rules: TitleRules, *, sqlite: bool) -> tuple[Any, Any | None]:
    """(code or type matches, message matches or ``None``) for ``text`` under ``rules``."""
    if sqlite:
        pattern = like_pattern(text)
        code = (code_text() if rules.culprit else _c.crash_type).like(pattern, escape="\\")
        message = _c.title_message.like(pattern, escape="\\")
    else:
        pattern = like_pattern(text.translate(_ASCII_LOWER))
        code = (code_folded() if rules.culprit else fold_ascii(_c.crash_type)).like(pattern, escape="\\")
        message = message_folded().like(pattern, escape="\\")
    return code, (message if rules.message_since is not None else None)


def matches(text: str, rules: TitleRules, *, sqlite: bool) -> Any:
    """The groups whose searchable text under ``rules`` contains ``text`` (a WHERE term)."""
    code, message = _terms(text, rules, sqlite=sqlite)
    if message is None:
        return code
    return sa.or_(code, sa.and_(message, _c.title_message_at >= rules.message_since))


class Candidates:
    """Ids from the trigram index; ``exact``: they are the matches (PostgreSQL), not a
    superset the caller must still check (SQLite's FTS5 folds all letters' case)."""

    def __init__(self, ids: list[int], *, exact: bool) -> None:
        self.ids = ids
        self.exact = exact


def candidates(conn: Connection, project_id: str, text: str, rules: TitleRules) -> Candidates | None:
    """The groups matching ``text`` from the engine's trigram index; ``None`` when the
    index is no help: a text shorter than a trigram, more than :data:`MAX_CANDIDATES`
    matches, or PostgreSQL without ``pg_trgm``."""
    if len(text) < 3:
        return None
    if conn.dialect.name == "sqlite":
        # A trigram table matches a quoted phrase of 3 or more characters as a substring, in
        # any case; any character may be in it (a quote doubled), unlike a LIKE pattern.
        columns = "{code message}" if rules.message_since is not None else "code"
        phrase = '"' + text.replace('"', '""') + '"'
        query: Any = sa.select(group_search.c.rowid).where(
            sa.literal_column("group_search").op("MATCH")(f"{columns} : {phrase}"))
    elif _trigram_indexed(conn):
        query = _pg_candidates(project_id, text, rules)
    else:
        return None
    found = [gid for (gid,) in conn.execute(query.limit(MAX_CANDIDATES + 1))]
    if len(found) > MAX_CANDIDATES:
        return None
    return Candidates(found, exact=conn.dialect.name != "sqlite")


def _pg_candidates(project_id: str, text: str, rules: TitleRules) -> Any:
    """PostgreSQL: the ids whose folded text matches, from ``group_search_text``'s trigram
    indexes (``db.triage_tables``, migration 0030): :func:`matches`, on that table's copies
    of the texts. The message's retention is a ``crash_groups`` column, so the terms on the search table alone
    come first (a bitmap OR of its GIN indexes), the exact condition after the join."""
    s = group_search_text.c
    pattern = like_pattern(text.translate(_ASCII_LOWER))
    code = (s.code_folded if rules.culprit else s.type_folded).like(pattern, escape="\\")
    query = (sa.select(_c.id).select_from(group_search_text.join(crash_groups, _c.id == s.group_id))
             .where(s.project_id == project_id))
    if rules.message_since is None:
        return query.where(code)
    message = s.message_folded.like(pattern, escape="\\")
    return query.where(sa.or_(code, message), sa.or_(code, _c.title_message_at >= rules.message_since))


_TRIGRAM_CHECKED: dict[str, bool] = {}


def _trigram_indexed(conn: Connection) -> bool:
    """Whether PostgreSQL has the trigram indexes (checked once per database; a warning once
    when not: migration 0015 could not create ``pg_trgm``)."""
    key = conn.engine.url.render_as_string(hide_password=True)
    known = _TRIGRAM_CHECKED.get(key)
    if known is None:
        names = ", ".join(f"to_regclass('{name}')" for name in SEARCH_TEXT_INDEXES)
        known = _TRIGRAM_CHECKED[key] = None not in conn.exec_driver_sql(f"SELECT {names}").one()
        if not known:
            logger.warning("the group list's search runs without trigram indexes (pg_trgm missing): rare terms"
                           " walk every group; db.triage_tables.search_text_index_ddl() creates them")
    return known
