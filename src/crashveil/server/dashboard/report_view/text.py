"""Report text for the page: every control and bidi character shown as an escape.

Crash strings are attacker-controlled. Jinja's autoescape handles markup; these helpers make
characters that reorder or hide text (ESC, NUL, U+202E ...) visible as ``\\x1b``/``\\u202e``,
keeping only the line breaks and tabs that free text may hold.
"""

from __future__ import annotations

from crashveil.textsafe import visible

__all__ = ["free_text", "one_line"]


def one_line(value: object) -> str:
    """``value`` as text with every unsafe character (line breaks included) escaped."""
    return visible(value)


def free_text(value: str) -> str:
    """Free text (messages, comments): line breaks and tabs kept, every other unsafe character escaped."""
    if value.isprintable():
        return value
    return "\n".join("\t".join(visible(part) for part in line.split("\t")) for line in value.split("\n"))
