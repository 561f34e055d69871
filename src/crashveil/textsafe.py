"""Control and invisible formatting characters: finding them, and showing text without them.

A crash report comes from a client nobody controls. A string carrying ESC sequences, CR/LF,
NUL, C1 controls or bidi overrides (U+202A-U+202E, U+2066-U+2069) can rewrite a terminal line,
forge a log line, or make a Markdown table say something else than its bytes. The wire format
refuses these characters in identifier fields (``crashveil.wire.report``), the server
normalises free text (:func:`normalise_free_text`), and every text output shows what is left
visibly (:func:`visible`, :func:`md_cell`).

"Unsafe" here is Unicode general categories Cc, Cf, Zl and Zp (``UNSAFE``; a test checks the
class against ``unicodedata``). Every such character is also not ``str.isprintable()``, so the
common case costs one C-level scan. Stdlib only: the policy package uses it.
"""

from __future__ import annotations

import re

__all__ = ["UNSAFE", "find_unsafe", "visible", "md_cell", "normalise_free_text"]

#: Cc (C0, DEL, C1), Cf (soft hyphen, Arabic/Syriac marks, zero-width and bidi controls,
#: word joiners, BOM, interlinear annotation, tag characters ...), Zl and Zp; Unicode 15.1
#: (a little wider than Python 3.11's Unicode 14 where later versions added format characters).
UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]")
_MD_META = re.compile(r"([\\|`*_\[\]<>&~#!])")
_FORMAT = re.compile("[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
                     "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
                     "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]")


def find_unsafe(text: str) -> int:
    """Index of the first unsafe character of ``text``, or -1."""
    if text.isprintable():
        return -1
    match = UNSAFE.search(text)
    return -1 if match is None else match.start()


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(value: object) -> str:
    """``str(value)`` with every unsafe character written as a ``\\x1b``/``\\u202e`` escape."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return UNSAFE.sub(_escape, text)


def md_cell(value: object) -> str:
    """``value`` for Markdown text or a table cell: controls visible, metacharacters
    (``| ` * _ [ ] < > & ~ # ! \\``) backslash-escaped, so a cell is one cell and stays literal."""
    text = value if isinstance(value, str) else str(value)
    return visible(_MD_META.sub(r"\\\1", text))


def normalise_free_text(text: str) -> str:
    """Free text (messages, comments) as the server keeps it: line breaks and tabs stay
    (CR LF, CR, U+2028 and U+2029 become LF), invisible format characters (zero-width,
    bidi controls, BOM, soft hyphen ...) are removed, other controls become visible escapes.

    Removing the format characters also gives redaction the text a reader sees: an email
    split by a zero-width space is one email again.
    """
    if text.isprintable():
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    text = _FORMAT.sub("", text)
    return UNSAFE.sub(lambda m: m.group() if m.group() in "\n\t" else _escape(m), text)
