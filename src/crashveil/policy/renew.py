"""Renew a policy field: a new ``expires`` and the review that renewed it, in the file's own text.

``crashveil policy renew FIELD --until DATE --review FILE`` edits three lines of the policy
file and nothing else, so its comments, order and layout stay as the people who wrote it
left them: the field's ``expires`` and ``review`` (each replaced where it stands, a
trailing comment kept) and ``[policy] version`` (its minor part raised: a renewal is a new
version of the policy, listed by ``crashveil policy diff`` as ``expiry_changed``). The
result is parsed with the strict loader before it is returned, so a renewal never writes a
file the loader would refuse. Stdlib only.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from crashveil.errors import PolicyError
from crashveil.policy.expiry import parse_expiry

__all__ = ["Renewal", "renew_field"]

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


@dataclass(frozen=True)
class Renewal:
    """The renewed file's text and what changed."""

    text: str
    old_expires: str
    old_version: str
    new_version: str


def renew_field(text: str, field: str, *, until: str, review: str, today: datetime.date,
                source: str = "<policy>") -> Renewal:
    """``text`` with ``fields.FIELD`` renewed until ``until`` under ``review``, version bumped.

    Raises:
        PolicyError: the field is not in the file, ``until`` is malformed or not in the
            future, or the result would not load (named by key path).
    """
    try:
        expiry = parse_expiry(until)
    except ValueError as exc:
        raise PolicyError(source, f"fields.{field}.expires", f"--until {exc}") from None
    if expiry.never or (expiry.day is not None and expiry.day <= today):
        raise PolicyError(source, f"fields.{field}.expires", "--until must lie in the future",
                          "a later date, or release:X.Y")
    if not review.strip() or re.search(r'["\\\x00-\x1f]', review):
        raise PolicyError(source, f"fields.{field}.review", "--review is not a plain file path",
                          "a path such as reviews/2027-01-10-renewal.md")
    lines = text.splitlines(keepends=True)
    start, end = _section(lines, f"fields.{field}", source)
    old_expires = _replace_value(lines, start, end, "expires", until, after="review")
    _replace_value(lines, start, end + (1 if not old_expires else 0), "review", review)
    head_start, head_end = _section(lines, "policy", source)
    old_version = _replace_value(lines, head_start, head_end, "version", "")
    new_version = _bumped(old_version, source)
    _replace_value(lines, head_start, head_end, "version", new_version)
    renewed = "".join(lines)
    _validate(renewed, source)
    return Renewal(renewed, old_expires, old_version, new_version)


def _section(lines: list[str], name: str, source: str) -> tuple[int, int]:
    """The line range ``[start, end)`` of table ``[name]`` (its header excluded)."""
    start = None
    for index, line in enumerate(lines):
        found = _HEADER.match(line)
        if found is None:
            continue
        if start is not None:
            return start, index
        if found.group(1) == name and not line.lstrip().startswith("[["):
            start = index + 1
    if start is None:
        raise PolicyError(source, name, "no such table in the file", f"a [{name}] table")
    return start, len(lines)


def _replace_value(lines: list[str], start: int, end: int, key: str, value: str, *, after: str | None = None) -> str:
    """Set ``key = "value"`` in ``lines[start:end]`` in place (an empty ``value`` only reads);
    the old value ('' if absent: then the line is inserted after ``after``)."""
    pattern = re.compile(rf'^(\s*{key}\s*=\s*)"([^"\\]*)"(\s*(#.*)?)$')
    for index in range(start, end):
        found = pattern.match(lines[index].rstrip("\r\n"))
        if found is None:
            continue
        if value:
            ending = lines[index][len(lines[index].rstrip("\r\n")):]
            lines[index] = f'{found.group(1)}"{value}"{found.group(3)}{ending}'
        return found.group(2)
    if after is None or not value:
        raise PolicyError("<policy>", key, f"no plain {key} = \"...\" line to renew")
    anchor = next(i for i in range(start, end) if re.match(rf"^\s*{after}\s*=", lines[i]))
    lines.insert(anchor + 1, f'{key} = "{value}"\n')
    return ""


def _bumped(version: str, source: str) -> str:
    parts = version.split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise PolicyError(source, "policy.version", "is not MAJOR.MINOR.PATCH", "a version such as 1.2.0")
    return f"{parts[0]}.{int(parts[1]) + 1}.0"


def _validate(text: str, source: str) -> None:
    import tomllib

    from crashveil.policy.loader import parse_policy

    try:
        parse_policy(tomllib.loads(text), source=source)
    except tomllib.TOMLDecodeError as exc:  # pragma: no cover - only the three values changed
        raise PolicyError(source, "", f"the renewed file is not TOML: {exc}") from exc
