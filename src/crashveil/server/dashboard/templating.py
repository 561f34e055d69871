"""The dashboard's Jinja2 environment (shared by the signed-in pages and the public summary)."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

import jinja2

__all__ = ["PACKAGE", "templates"]

#: The dashboard package's files (``templates/`` and ``static/``).
PACKAGE = resources.files("crashveil.server.dashboard")


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "–"


def templates() -> jinja2.Environment:
    """The dashboard's template environment: autoescape on for every template."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(PACKAGE / "templates")),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["when"] = _when
    return env
