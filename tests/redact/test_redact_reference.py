"""The engine's shortcuts against a plain reference, on strings with several changes each.

The reference redacts the slow, obvious way: every detector in order, pass after pass over
the whole text, until a pass changes nothing (no trigger scan, no gates, no early exits). The
engine must give the same text and the same hit counts on strings built to stress its
shortcuts after a change: several planted values in one string, glued together or overlapping
at their edges, next to multi-byte text, placeholders and separators that end tokens.
"""

from __future__ import annotations

import random

import pytest
import redact_corpus as corpus

from crashveil.redact import DEFAULT_PLACEHOLDERS, KINDS, REDACTED, Redactor, registry
from crashveil.redact.detector import Ctx

_RUNS = {d.name: d.run for d in registry.REGISTRY}
_MESSAGES_ONLY = {d.name for d in registry.REGISTRY if d.messages_only}
_MAX_PASSES = 4  # (the engine's own bound: a text that does not settle is dropped whole)

# Glue between planted values: nothing (adjacent values run into each other), separators,
# token enders, placeholders and multi-byte text (2-, 3- and 4-byte UTF-8, a combining mark).
_GLUE = ["", "", " ", ", ", "=", "&", "?k=", ":", ": ", "/", "\\", "'", '"', "@", ".", "-", "_", "\n", "\t",
         "<email>", "<ip>", "é", "ß", "—", "日本", "ü", "\u0301", "😀", " Müller ", " José ", "İ", "\u00a0"]
_EDGES = ["", "Fehler: ", "user ", "Hi ", "id ", "KeyError: '", "GET https://h.example/x?q=", "ключ=", "名前: ",
          "C:\\Users\\", "/home/"]


def reference(text: str, kind: str) -> tuple[str, dict[str, int]]:
    """Every detector of ``kind`` in order, whole passes, until nothing changes."""
    ctx = Ctx(dict(DEFAULT_PLACEHOLDERS), kind == "env")
    names = [n for n in registry.DETECTORS if kind == "message" or n not in _MESSAGES_ONLY]
    for _ in range(_MAX_PASSES + 1):
        before = text
        for name in names:
            ctx.reset(text)
            text = _RUNS[name](text, ctx)
        if text == before:
            return text, ctx.counts
    return REDACTED, {}


def _multi(r: random.Random) -> str:
    """Two to six planted values of any detectors with glue between and around them."""
    names = sorted(corpus.PLANTED)
    parts = [r.choice(_EDGES)]
    for _ in range(r.randint(2, 6)):
        value = corpus.PLANTED[r.choice(names)](r)[0]
        if r.random() < 0.2 and len(value) > 6:  # cut a value: a planted value's edge overlaps its neighbour
            cut = r.randint(1, len(value) - 1)
            value = value[cut:] if r.random() < 0.5 else value[:cut]
        parts += [value, r.choice(_GLUE)]
    return "".join(parts) + r.choice(["", " x", ".", "'", "\n"])


CASES = [_multi(random.Random(seed)) for seed in range(400)]


@pytest.mark.parametrize("kind", KINDS)
def test_engine_equals_the_full_rescan_reference(kind: str) -> None:
    red = Redactor()
    differ = [text for text in CASES if red.redact_counted(text, kind) != reference(text, kind)]
    assert [] == differ[:3], f"{len(differ)} of {len(CASES)} differ"


def test_the_cases_hold_several_changes() -> None:
    """The generator does what it claims: most cases change in two places or more."""
    red = Redactor()
    several = sum(sum(red.redact_counted(text)[1].values()) >= 2 for text in CASES)
    assert several >= len(CASES) // 2
