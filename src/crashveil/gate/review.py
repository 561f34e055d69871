"""Review records: who reviewed which exact policy (by digest), when and why.

A review record is a TOML file, or a Markdown file whose TOML front block sits between two
``+++`` lines (prose for people may follow); the keys are described in
:mod:`crashveil.gate.check`. Stdlib only.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crashveil.errors import PolicyError

__all__ = ["REVIEWS_DIR", "ReviewRecord", "load_review_record"]

#: Review records live in this directory beside the policy.
REVIEWS_DIR = "reviews"

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_RECORD_REQUIRED = {"reviewer", "date", "policy_digest", "reason"}
_RECORD_OPTIONAL = {"changes", "policy_version"}
_FRONT = "+++"


@dataclass(frozen=True)
class ReviewRecord:
    """A committed privacy review of one exact policy (by digest)."""

    source: str
    reviewer: str
    date: datetime.date
    policy_digest: str
    reason: str
    changes: tuple[str, ...] = ()
    policy_version: str | None = None


def load_review_record(path: str | Path, *, source: str | None = None, required: bool = True
                       ) -> ReviewRecord | None:
    """Read one review record (``.toml``, or ``.md`` with a ``+++`` TOML front block).

    Returns ``None`` for a Markdown file without a front block when ``required`` is false
    (prose such as a README in ``reviews/``).

    Raises:
        PolicyError: the record is unreadable or breaks a rule; names the file and key.
    """
    import tomllib

    source = source or str(path)
    text = _record_text(Path(path), source, required)
    if text is None:
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, "", f"not valid TOML: {exc}") from exc
    return _checked_record(data, source)


def _record_text(path: Path, source: str, required: bool) -> str | None:
    """The TOML text of a record: the whole ``.toml`` file, or a Markdown file's front block."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(source, "", "cannot read the review record as UTF-8 text") from exc
    if path.suffix != ".md":
        return text
    lines = text.splitlines()
    if not lines or lines[0].strip() != _FRONT:
        if not required:
            return None
        raise PolicyError(source, "", "no TOML front block", f"the file to start with a '{_FRONT}' line")
    try:
        end = next(index for index, line in enumerate(lines[1:], 1) if line.strip() == _FRONT)
    except StopIteration:
        raise PolicyError(source, "", "the front block is not closed", f"a second '{_FRONT}' line") from None
    return "\n".join(lines[1:end])


def _checked_record(data: dict[str, Any], source: str) -> ReviewRecord:
    """The record in parsed TOML ``data``; ``PolicyError`` names the first key that breaks a rule."""
    unknown = sorted(set(data) - _RECORD_REQUIRED - _RECORD_OPTIONAL)
    if unknown:
        raise PolicyError(source, unknown[0], "unknown key",
                          f"one of: {', '.join(sorted(_RECORD_REQUIRED | _RECORD_OPTIONAL))}")
    missing = sorted(_RECORD_REQUIRED - set(data))
    if missing:
        raise PolicyError(source, missing[0], "missing key")
    for key in ("reviewer", "reason"):
        if not isinstance(data[key], str) or not data[key].strip() or data[key].strip().upper() in ("TODO", "TBD"):
            raise PolicyError(source, key, "is empty or a placeholder", "a non-empty string")
    date = data["date"]
    if isinstance(date, str):
        try:
            date = datetime.date.fromisoformat(date)
        except ValueError:
            date = None
    if isinstance(date, datetime.datetime) or not isinstance(date, datetime.date):
        raise PolicyError(source, "date", "is not a date", "a date such as 2026-12-01")
    digest = data["policy_digest"]
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise PolicyError(source, "policy_digest", "has the wrong form", "\"sha256:\" and 64 hex digits")
    changes = data.get("changes", [])
    if not isinstance(changes, list) or not all(isinstance(item, str) and item for item in changes):
        raise PolicyError(source, "changes", "is not a list of strings",
                          "policy key paths such as \"fields.message.level\"")
    version = data.get("policy_version")
    if version is not None and not isinstance(version, str):
        raise PolicyError(source, "policy_version", "is not a string", "a version such as \"1.1.0\"")
    return ReviewRecord(source=source, reviewer=data["reviewer"].strip(), date=date, policy_digest=digest,
                        reason=data["reason"].strip(), changes=tuple(changes), policy_version=version)
