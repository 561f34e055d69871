"""Text detectors: quoted user input in messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crashveil.redact.detector import PATTERNS as _P, Clause, Ctx, Detector

if TYPE_CHECKING:
    import re


def _keep_quoted(c: str) -> bool:
    """Whether quoted message content is safe to keep (see :mod:`crashveil.redact` docs)."""
    if not c or _P.only_placeholders.fullmatch(c):
        return True
    if _P.path_like.match(c) and "\n" not in c:
        return True  # paths keep their shape; their user names went through home_path
    if len(c) > 40 or not c.isascii() or not _P.identifier.fullmatch(c):
        return False
    if sum(ch.isdigit() for ch in c) > 4:
        return False
    if any(ch in c for ch in "._-:/") or c.startswith("_"):
        return True  # utf-8, os.path, foo_bar, __init__, x86_64
    if c.islower() or c.isupper():
        return True  # str, split, sha256, PATH
    return _P.camel.search(c) is not None  # NoneType, DataFrame; "Alice" is not kept


def quoted_input(text: str, ctx: Ctx) -> str:
    """Quoted user input in messages: ``'hello bob'`` -> ``<input>``; identifiers and paths stay."""
    n = 0
    ph = ctx.ph["quoted_input"]

    def repl(m: re.Match[str]) -> str:
        nonlocal n
        if not m.group("e") or _keep_quoted(m.group("c")):
            return m.group()
        n += 1
        return ph

    if '"' in text:
        text = _P.dquote.sub(repl, text)
    if "'" in text:
        text = _P.squote.sub(repl, text)
    if n:
        ctx.hit("quoted_input", n)
    return text


def _quoted_patterns() -> dict[str, Any]:
    """An opening quote not glued to a word (can't, it's), except b'' r'' u'' f''."""
    import re

    from crashveil.redact.detector import PLACEHOLDER_SHAPE

    c = re.compile
    return {
        "squote": c(r"'(?:(?<![\w]')|(?<=[bBrRuUfF]')(?<![\w][bBrRuUfF]'))"
                    r"(?P<c>(?:[^'\\\n]|\\.|'(?=\w))*+)(?P<e>'?)"),
        "dquote": c(r'"(?:(?<![\w]")|(?<=[bBrRuUfF]")(?<![\w][bBrRuUfF]"))'
                    r'(?P<c>(?:[^"\\\n]|\\.|"(?=\w))*+)(?P<e>"?)'),
        "identifier": c(r"[A-Za-z_][A-Za-z0-9_]*+(?:[.\-:/][A-Za-z0-9_]++)*+"),
        "camel": c(r"[a-z0-9][A-Z]"),
        "only_placeholders": c(r"(?:\s*" + PLACEHOLDER_SHAPE + r")+\s*"),
        "path_like": c(r"(?:/|~|\.\.?[\\/]|[A-Za-z]:[\\/]|\\\\)"),
    }


DETECTORS = (
    Detector("quoted_input", 1800, quoted_input, "<input>", _quoted_patterns, messages_only=True, settles=True,
             trigger=(Clause(needs="'"), Clause(needs='"'))),
)
