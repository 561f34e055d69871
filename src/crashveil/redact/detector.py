"""What a detector is and what it is handed: :class:`Detector`, :class:`Ctx`, the shared patterns.

Every detector is a function ``(text, ctx) -> text`` that returns ``text`` itself when it
finds nothing (see the rules in :mod:`crashveil.redact.gates` that keep them linear). Its
regexes live in :data:`PATTERNS`, compiled on first use, never at import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PATTERNS", "PLACEHOLDER_SHAPE", "Clause", "Ctx", "Detector", "DetectorFn", "Patterns", "cmap",
           "compile_patterns", "lower_same_length", "merge", "splice"]

# A placeholder is "<" + lower-case word + ">": '<' and '>' belong to no detector's
# token alphabet, which is what makes every output a fixed point.
PLACEHOLDER_SHAPE = r"<[a-z][a-z0-9-]{0,30}>"


class Ctx:
    """Per-call state handed to every detector: placeholders, hit counts, kind facts."""

    __slots__ = ("ph", "counts", "env", "_low_src", "_low", "_numeric")

    def __init__(self, ph: Mapping[str, str], env: bool) -> None:
        self.ph = ph
        self.counts: dict[str, int] = {}
        self.env = env
        self._low_src: str | None = None
        self._low = ""
        self._numeric: bool | None = None

    def reset(self, text: str) -> None:
        """Forget facts about the previous pass's text (counts are kept)."""
        self._low_src = None
        self._numeric = None

    def hit(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def low(self, text: str) -> str:
        """:func:`lower_same_length` of ``text`` (cached while ``text`` is unchanged; inline: hot)."""
        if text is not self._low_src:
            low = text.lower()
            if len(low) != len(text):  # only U+0130 grows when lowered
                low = text.replace("\u0130", "i").lower()
            self._low_src, self._low = text, low
        return self._low

    def numeric(self, text: str) -> bool:
        """Whether ``text`` holds a run of 6+ digits and separators (detectors only remove digits)."""
        if self._numeric is None:
            self._numeric = PATTERNS.numeric.search(text) is not None
        return self._numeric


def lower_same_length(text: str) -> str:
    """``text.lower()`` with the same length (only U+0130 grows when lowered)."""
    low = text.lower()
    return low if len(low) == len(text) else text.replace("\u0130", "i").lower()


DetectorFn = Callable[[str, Ctx], str]
PatternSource = Callable[[], Mapping[str, Any]]
TriggerTest = Callable[[str, bytes, bool], bool]
"""``(text, cmap(text), env) -> bool``: a :class:`Clause` test that the fields cannot express."""


@dataclass(frozen=True)
class Clause:
    """One shape of text its detector could change: a cheap test that every such match implies.

    A detector's ``trigger`` holds when any of its clauses holds, and a clause holds when every
    field it sets holds. :mod:`crashveil.redact.gates` compiles the clauses of all detectors
    into one scan (:func:`crashveil.redact.gates.triggers`): clauses that need the same
    character share one test of it, clauses with the same ``scan`` anchor share one coarse
    regex, and a step whose clauses all fail is skipped. So each field must be implied by
    every match the clause stands for; ``tests/redact/test_redact_gates.py`` checks that.
    Cheap fields first: a byte test is nearly free, a regex search costs 10-100x more.

    :param needs: characters that must all occur (ASCII). ``"0"``: a digit, ``"A"``: an upper
        case ASCII letter, ``"a"``: a lower-case one; any other character stands for itself.
    :param scan: ``(anchor, fragment)``: the text holds ``anchor`` followed by ``fragment``
        (a regex, lookbehinds welcome). All clauses on one anchor share one regex
        ``anchor(?:fragment|fragment...)``, so the many ``-`` of a path cost one scan.
    :param env: only for strings of kind ``env`` (``True``) or of the other kinds (``False``).
    :param min_len: the text is at least this long.
    :param count: ``(character, n)``: it occurs ``n`` times or more.
    :param has: substrings of which one occurs; ``has_low``: in its :func:`lower_same_length`.
    :param has_map: substrings of which one occurs in the class map (:func:`cmap`).
    :param digits: for a ``digit_run`` member: a run of digits and separators
        (:meth:`Ctx.numeric`) holds this many digits; ``dots``: this many ``.``.
    :param search: names of :data:`PATTERNS` regexes that each find a match in the text;
        ``search_low`` in its :func:`lower_same_length`, ``search_map`` in its class map,
        ``search_view`` in ``(b" " + cmap).translate(view)`` (a coarser map of one's own; the
        space makes the start of the text a separator).
    :param test: what the fields cannot say (:data:`TriggerTest`); ``test_low`` is handed the
        :func:`lower_same_length` of the text instead (shared with the other clauses' ``_low``).
    """

    needs: str = ""
    scan: tuple[str, str] | None = None
    env: bool | None = None
    min_len: int = 0
    count: tuple[str, int] | None = None
    has: tuple[str, ...] = ()
    has_low: tuple[str, ...] = ()
    has_map: tuple[bytes, ...] = ()
    digits: int = 0
    dots: int = 0
    search: tuple[str, ...] = ()
    search_low: tuple[str, ...] = ()
    search_map: tuple[str, ...] = ()
    view: bytes = b""
    search_view: tuple[str, ...] = ()
    test: TriggerTest | None = None
    test_low: TriggerTest | None = None


@dataclass(frozen=True)
class Detector:
    """One detector, declared once in its family module (:mod:`crashveil.redact.detectors`).

    :param name: the name users configure (``redaction.detectors``) and hits are counted under.
    :param rank: where it runs among all detectors (ascending); the order is load-bearing.
    :param run: the detector itself.
    :param placeholder: what replaces what it finds (``<lower-case-word>``).
    :param patterns: returns its named regexes (and gate regexes), merged into :data:`PATTERNS`
        on first use; names must not clash across detectors unless they are the same pattern.
    :param digit_run: a member of the shared ``numeric`` plan step (it only looks at runs of
        6+ digits and separators, :meth:`Ctx.numeric`); members must be consecutive in rank.
    :param member_gates: for ``digit_run`` members: names of class-map patterns of which one
        must match for it to run (see :func:`crashveil.redact.gates.numeric_group`).
    :param letter_gate: for a ``digit_run`` member that also has letter-led formats (national
        ids): the class-map pattern that lets it run where there is no run of digits;
        ``letter_needs``: class-map substrings of which every match of it holds one (tested first).
    :param messages_only: skipped for the ``path`` and ``env`` kinds.
    :param settles: its changes need no re-check pass (see :func:`crashveil.redact.engine._settle`).
    :param trigger: the :class:`Clause` shapes of text it could change (one must hold for it
        to run); empty: it always runs. A ``digit_run`` member's clauses are tested only where
        :meth:`Ctx.numeric` holds; its ``letter_gate`` is a clause of its own.
    """

    name: str
    rank: int
    run: DetectorFn
    placeholder: str
    patterns: PatternSource
    digit_run: bool = False
    member_gates: tuple[str, ...] = ()
    letter_gate: str | None = None
    letter_needs: tuple[bytes, ...] = ()
    messages_only: bool = False
    settles: bool = False
    trigger: tuple[Clause, ...] = ()


class Patterns:
    """Namespace of compiled regexes (a plain class: attribute reads stay cheap, unlike one
    with ``__getattr__``); :func:`compile_patterns` fills :data:`PATTERNS`."""


class _LazyPatterns(Patterns):
    """:data:`PATTERNS` until first use: any attribute read compiles them all, then the object
    becomes a plain :class:`Patterns` (same identity, so every module's reference stays good)."""

    def __getattr__(self, name: str) -> Any:
        compile_patterns()
        return getattr(self, name)


PATTERNS: Any = _LazyPatterns()
_sources: list[PatternSource] = []


def add_pattern_source(source: PatternSource) -> None:
    """Register a function whose named patterns :func:`compile_patterns` merges in."""
    if type(PATTERNS) is Patterns:
        raise RuntimeError("patterns already compiled")
    _sources.append(source)


def compile_patterns() -> Any:
    """Compile every pattern once (first use) and return the namespace."""
    if type(PATTERNS) is not Patterns:
        import re

        found: dict[str, Any] = {"re": re}
        for source in _sources:
            found.update(source())
        PATTERNS.__dict__.update(found)
        PATTERNS.__class__ = Patterns
    return PATTERNS


def patterns_ready() -> bool:
    """Whether :func:`compile_patterns` has run (import alone compiles nothing)."""
    return type(PATTERNS) is Patterns


def merge(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Sort spans and drop any that overlaps an earlier one."""
    spans.sort()
    merged: list[tuple[int, int, str]] = []
    for sp in spans:
        if not merged or sp[0] >= merged[-1][1]:
            merged.append(sp)
    return merged


def splice(text: str, spans: list[tuple[int, int, str]]) -> str:
    """Replace sorted, non-overlapping ``(start, end, replacement)`` spans of ``text``."""
    out = []
    pos = 0
    for s, e, r in spans:
        out.append(text[pos:s])
        out.append(r)
        pos = e
    out.append(text[pos:])
    return "".join(out)


def _class_table() -> bytes:
    """Byte map of :func:`cmap`: ASCII digit -> ``0``, upper case -> ``A``, lower case -> ``a``,
    any byte of a non-ASCII character -> ``\\x80``, every other ASCII character stays itself."""
    out = bytearray(range(256))
    for i in range(256):
        if 0x30 <= i <= 0x39:
            out[i] = 0x30
        elif 0x41 <= i <= 0x5A:
            out[i] = 0x41
        elif 0x61 <= i <= 0x7A:
            out[i] = 0x61
        elif i >= 0x80:
            out[i] = 0x80
    return bytes(out)


CLASSES = _class_table()


def cmap(text: str) -> bytes:
    """``text`` as bytes in which each character class is one byte (:func:`_class_table`).

    Each ASCII character keeps its place among its ASCII neighbours (a non-ASCII character
    becomes two to four ``\\x80`` bytes), so a pattern made of ASCII classes matches ``text``
    exactly where its class-map version matches the map, one C pass and then a regex that
    starts with a literal: far cheaper than a regex that starts with a character class.
    """
    return text.encode("utf-8", "surrogatepass").translate(CLASSES)
