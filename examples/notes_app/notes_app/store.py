"""Notes on disk: one file per note under ``~/.local/share/notes`` (``$HOME`` decides)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


class NoteError(Exception):
    """A note could not be read or written."""


class NoteNotFound(NoteError):
    pass


class NoteDamaged(NoteError):
    pass


@dataclass(frozen=True)
class Note:
    title: str
    tags: tuple[str, ...]
    body: str


def notes_dir() -> Path:
    """Where notes live; follows ``$HOME`` like every other program of the user."""
    return Path.home() / ".local" / "share" / "notes"


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug or "untitled"


def path_of(title: str) -> Path:
    return notes_dir() / f"{_slug(title)}.note"


def save(note: Note) -> Path:
    path = path_of(note.title)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"title: {note.title}\ntags: {', '.join(note.tags)}\n"
    path.write_text(header + "\n" + note.body, encoding="utf-8")
    return path


def load(title: str) -> Note:
    path = path_of(title)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NoteNotFound(f"no note called {title!r} in {path.parent}") from None
    head, _, body = text.partition("\n\n")
    try:
        fields = dict(_header_line(line) for line in head.splitlines())
        return Note(title=fields["title"], tags=tuple(filter(None, fields["tags"].split(", "))), body=body)
    except (ValueError, KeyError) as exc:
        raise NoteDamaged(f"the note file {path} is damaged") from exc


def _header_line(line: str) -> tuple[str, str]:
    key, sep, value = line.partition(": ")
    if not sep:
        raise ValueError(f"bad header line {line!r}")
    return key, value


def titles() -> list[str]:
    directory = notes_dir()
    if not directory.is_dir():
        return []
    return sorted(load_title(path) for path in directory.glob("*.note"))


def load_title(path: Path) -> str:
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    return first.partition(": ")[2]
