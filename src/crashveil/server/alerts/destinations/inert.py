"""Crash strings made inert for each format a destination speaks.

Every string of a notification but its link comes from a crash report, so from whoever
controls a client: it must not become a mention (``@channel``, ``<!here>``, ``@user`` that
notifies someone), a link or an image pointing somewhere chosen by the attacker, markup, a
GitLab quick action (``/close`` at a line start), or an e-mail header. The common steps:

- controls and invisible formatting characters are shown as escapes (:func:`visible`), so a
  value stays on its line (no forged lines, no quick action at a line start);
- :func:`defang`: a zero-width space after each ``@`` (no mention matches ``@\u200bname``)
  and inside ``://`` and ``www.`` (chat and trackers link bare URLs by themselves).

Then each format's own escaping: Slack's ``& < >`` entities (which also stop ``<!channel>``
and ``<http://x|y>``), Markdown backslash escapes of every metacharacter (no ``[...](...)``,
``![...]``, HTML or emphasis), plain one-line text for e-mail headers.
"""

from __future__ import annotations

import re

from crashveil.textsafe import UNSAFE, md_cell, visible

__all__ = ["defang", "markdown_inert", "one_line", "plain_inert", "slack_inert", "header_safe"]

_ZWSP = "\u200b"
_LINKISH = re.compile(r"@|://|(?i:www)\.")
_MARKDOWN_EXTRA = re.compile(r"([$%])")
_SLACK = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def _break(match: re.Match[str]) -> str:
    text = match.group()
    if text == "@":
        return "@" + _ZWSP
    if text == "://":
        return ":" + _ZWSP + "//"
    return text[:-1] + _ZWSP + "."


def defang(text: str) -> str:
    """``text`` with mentions and bare links broken by zero-width spaces (it reads the same)."""
    return _LINKISH.sub(_break, text)


def one_line(value: object, limit: int) -> str:
    """``value`` on one line with controls shown as escapes, cut to ``limit`` characters."""
    text = visible(value)
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def plain_inert(value: object, limit: int) -> str:
    """For a plain-text channel (Teams text runs, an e-mail body): one line, defanged."""
    return defang(one_line(value, limit))


def slack_inert(value: object, limit: int) -> str:
    """For Slack ``mrkdwn`` (and the fallback ``text``): one line, ``& < >`` as entities, defanged."""
    return defang(one_line(value, limit).translate(_SLACK))


def markdown_inert(value: object, limit: int) -> str:
    """For GitHub/GitLab Markdown, in a paragraph or a table cell: every metacharacter
    backslash-escaped (also ``$``, math, and ``%``, GitLab's milestone references), one line,
    defanged."""
    return defang(_MARKDOWN_EXTRA.sub(r"\\\1", md_cell(one_line(value, limit))))


def header_safe(value: object, limit: int) -> str:
    """For an e-mail header (the subject): CR, LF and every other control or invisible
    character replaced by a space, runs of spaces collapsed, cut to ``limit``."""
    text = value if isinstance(value, str) else str(value)
    text = " ".join(UNSAFE.sub(" ", text).split())
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"
