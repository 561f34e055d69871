"""The gates: one scan that proves which plan steps cannot change a text, and the numeric step.

Four rules keep the whole engine fast and linear on any input:

- **One scan decides what runs.** :func:`triggers` computes, for every plan step
  (:data:`crashveil.redact.registry.STEPS`), whether anything its patterns need is in the
  text; a step whose bit is clear is skipped (see :mod:`crashveil.redact.engine`). It is
  compiled on first use from the trigger :class:`~crashveil.redact.detector.Clause` each
  detector declares next to its code. It looks at symbols through ``rare`` (the text without
  letters, digits and ``/._-``), shares one coarse regex per scan anchor (``-``, ``.``,
  ``:``) among the clauses that use it, and runs class-based tests (digit runs, random
  tokens, key bodies) on :func:`cmap`, a byte map in which each character class is one
  byte, so every such pattern starts with a literal.
- **Cheap gates first.** Inside, a detector runs its regex only when a substring test
  (``'@' in text``, ``text.count(':') >= 6`` ...) says it could match. Substring
  tests run at memory speed; a regex search costs 10-100x more per character, and one
  that starts with a character class scans ~10x slower than one that starts with a literal.
- **Literal anchors.** Where possible a pattern starts with a literal (``@``, ``://``,
  ``-``, ``eyJ``) so that the regex engine can skip ahead at memory speed, and the
  token to the *left* of the anchor is recovered with a lookbehind or a short,
  bounded look back.
- **No ambiguity.** Repeats are possessive (``*+``, ``++``) or separated by a
  character they cannot contain, and every candidate is consumed once, so no input
  can make a pattern backtrack more than a bounded amount per character. Checks that
  a regex expresses badly (Luhn, IBAN mod 97, national id check digits, entropy) run
  in Python on the few candidates that reach them.
- **No rescans.** A failed attempt consumes nothing, so where many starts would scan the
  same long stretch and all fail alike, only one may scan it: ``connection_string`` tries
  a keyword only at its last occurrence in a run of key characters (``"token" * N + "="``;
  they all share that run's end, so the values found are the same), a phone candidate that
  opens with ``(`` or ``+`` and has too few digits left takes the rest of its run as an
  ignored match (``"( " * N``), and Python loops strip or split in one call, never a
  character at a time. The output is the same as without these shortcuts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from crashveil.redact.detector import (
    CLASSES as _CLASSES,
    PATTERNS as _P,
    Clause,
    Ctx,
    Detector,
    DetectorFn,
    add_pattern_source,
    compile_patterns,
    lower_same_length,
)
from crashveil.redact.registry import NUMERIC_STEP, REGISTRY, STEP_OF

__all__ = ["home_gate", "numeric_group", "trigger_source", "triggers"]


def numeric_group(members: tuple[Detector, ...]) -> DetectorFn:
    """One plan step for consecutive digit-run detectors (iban ... phone).

    They run only when :meth:`Ctx.numeric` holds (a run of 6+ digits and separators), except
    a member with a ``letter_gate`` (letter-led national ids), which runs on its own when that
    gate matches; each member runs only when one of its ``member_gates`` finds on the class
    map of the current text what every match of its regex starts with.
    """
    lettered = [(d.run, d.letter_gate) for d in members if d.letter_gate]
    letter = lettered[0] if lettered else None
    gated: list[tuple[Any, tuple[Any, ...]]] = []  # (detector, gate patterns), filled on first use

    def run(text: str, ctx: Ctx) -> str:
        P = _P
        if not gated:
            gated.extend((d.run, tuple(getattr(P, g).search for g in d.member_gates)) for d in members)
        cm = text.encode("utf-8", "surrogatepass").translate(_CLASSES)  # cmap(text)
        if ctx._numeric is None:
            ctx._numeric = P.g_numeric.search(cm) is not None  # Ctx.numeric(text), on the map
        if ctx._numeric:
            for fn, gates in gated:
                for gate in gates:
                    if gate(cm) is not None:
                        new = fn(text, ctx)
                        if new is not text:
                            text = new
                            cm = text.encode("utf-8", "surrogatepass").translate(_CLASSES)
                        break
            return text
        if letter is not None and getattr(P, letter[1]).search(cm) is not None:
            return letter[0](text, ctx)
        return text

    run.__name__ = "numeric_group"
    return run


# ---------------------------------------------------------------- the compiled trigger scan

class TriggersFn(Protocol):
    """The signature of :func:`triggers`."""

    def __call__(self, t: str, env: bool = False, skip: int = 0, /) -> int: ...


_CLASS_BYTES = "0Aa/._-"  # what the class map keeps as classes; "rare" is the map without them


def _first_triggers(t: str, env: bool = False, skip: int = 0) -> int:
    _build()
    return triggers(t, env, skip)


def _first_home_gate(t: str) -> bool:
    _build()
    return home_gate(t)


triggers: TriggersFn = _first_triggers
"""``triggers(t, env=False, skip=0)``: mask of the plan steps (:data:`STEPS`) that could change
``t`` (``env``: of kind env); the bits in ``skip`` are not looked at (they come back clear).

A clear bit is a proof: it is set when one :class:`~crashveil.redact.detector.Clause` of the
step's detectors holds, and each clause is implied by every match it stands for, so a step
whose bit is clear would return ``t`` unchanged and count nothing. A set bit only means "run
it". ``tests/redact/test_redact_gates.py`` checks every bit against its detector. Compiled
from the detectors' clauses on first use (:func:`trigger_source` shows the code)."""

home_gate: Callable[[str], bool] = _first_home_gate
"""Bit 0 of :func:`triggers` alone (``home_path``, which the engine runs before the first
scan), from the text without a class map."""

_source = ""


def trigger_source() -> str:
    """The Python source of :func:`triggers` and :func:`home_gate` compiled from the clauses."""
    _build()
    return _source


def _build() -> None:
    """Compile the detectors' clauses into :func:`triggers` and :func:`home_gate` (once)."""
    global triggers, home_gate, _source
    if _source:
        return
    code = _Source(compile_patterns())
    _triggers_code(code)
    _home_gate_code(code)
    text = "\n".join(code.lines) + "\n"
    names = dict(code.names)
    exec(compile(text, "<crashveil.redact.gates compiled triggers>", "exec"), names)  # see _Source
    triggers, home_gate, _source = names["triggers"], names["home_gate"], text


class _Source:
    """Lines of the generated module, and the objects (compiled searches, tests) its names stand for.

    Generated rather than interpreted: every string redacted pays this scan, and code written
    out per clause runs as fast as the hand-written scan it replaced (a loop over clause
    objects cost about a third more).
    """

    def __init__(self, patterns: Any) -> None:
        self.patterns = patterns
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"_CLASSES": _CLASSES, "_lower": lower_same_length}
        self.shared: dict[Any, str] = {}  # _tail_key -> its memo variable, for tails of several clauses
        self.emitted = 0  # the bits that the code so far may set

    def add(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def search(self, pattern: str) -> str:
        """The name of ``PATTERNS.<pattern>.search`` in the generated code."""
        name = "_s_" + pattern
        if name not in self.names:
            self.names[name] = getattr(self.patterns, pattern).search
        return name

    def bind(self, value: tuple[str, ...] | bytes) -> str:
        """A name for a constant of the generated code."""
        for name, known in self.names.items():
            if known is value:
                return name
        name = f"_k{len(self.names)}"
        self.names[name] = value
        return name

    def test(self, fn: Any) -> str:
        name = f"_test_{fn.__module__.rsplit('.', 1)[-1]}_{fn.__name__.lstrip('_')}"
        if self.names.setdefault(name, fn) is not fn:
            raise AssertionError(f"two trigger tests named {name}")
        return name

    def cheap(self, c: Clause, known: str = "") -> str:
        """The fields of a clause that cost about a substring test (no regex, no lower case),
        as one expression; empty when it has none."""
        parts = [_char_test(ch) for ch in c.needs if ch not in known]
        if c.min_len:
            parts.insert(0, f"len(t) >= {c.min_len}")
        if c.env is not None:
            parts.insert(0, "env" if c.env else "not env")
        if c.count:
            parts.append(f"t.count({c.count[0]!r}) >= {c.count[1]}")
        if c.has_map:  # (``bytes in bytes`` first tries the needle as an int: an exception a call)
            parts.append("(" + " or ".join(f"{h[0]:#04x} in cm" if len(h) == 1 else f"cm.find({h!r}) >= 0"
                                           for h in c.has_map) + ")")
        if c.has:
            parts.append("(" + " or ".join(f"{h!r} in t" for h in c.has) + ")")
        return " and ".join(parts)

    def expr(self, c: Clause, known: str = "") -> str:
        """One clause as a Python expression over ``t``, ``cm``, ``rare``, ``low``, ``runs``, ``digits``
        (``known``: characters already tested by the enclosing block)."""
        cheap = self.cheap(c, known)
        parts = [cheap] if cheap else []
        if c.digits:
            parts.append(f"digits >= {c.digits}")
        if c.dots:
            parts.append(f"max([r.count(0x2e) for r in runs]) >= {c.dots}")
        parts += [f"{self.search(n)}(cm) is not None" for n in c.search_map]  # (faster than on the text)
        parts += [f"{self.search(n)}(t) is not None" for n in c.search]
        if c.search_view:
            view = f"(b' ' + cm).translate({self.bind(c.view)})"
            parts += [f"{self.search(n)}({view}) is not None" for n in c.search_view]
        parts += [f"{self.search(n)}((low := low or _lower(t))) is not None" for n in c.search_low]
        tail = []  # the costly end of the clause; computed once a scan when clauses share it
        if c.has_low:
            tail.append(f"any(map((low := low or _lower(t)).__contains__, {self.bind(c.has_low)}))")
        for fn, text in ((c.test, "t"), (c.test_low, "(low := low or _lower(t))")):
            if fn is not None:
                tail.append(f"{self.test(fn)}({text}, cm, env)")
        if tail:
            memo = self.shared.get(_tail_key(c))
            joined = " and ".join(tail)
            if memo is None:
                parts.append(joined)
            else:  # (a tail already false makes the clause false: skip its searches too)
                parts.insert(0, f"{memo} is not False")
                parts.append(f"({memo} if {memo} is not None else ({memo} := {joined}))")
        return " and ".join(parts) or "True"


def _tail_key(c: Clause) -> tuple[Any, ...]:
    """What the costly end of a clause computes (see :meth:`_Source.expr`)."""
    return c.has_low, c.test, c.test_low


def _char_test(ch: str) -> str:
    if not ch.isascii() or (ch.isalnum() and ch not in "0Aa"):
        raise AssertionError(f"Clause.needs: {ch!r} is not an ASCII symbol or one of '0', 'A', 'a'")
    if ch == "A":
        return "up"  # (tested by several clauses: once, at the top)
    return f"{ord(ch):#04x} in {'cm' if ch in _CLASS_BYTES else 'rare'}"


def _key(c: Clause) -> str:
    """The character a clause is grouped under: its scan anchor, or the first it needs."""
    return c.scan[0] if c.scan else c.needs[:1]


def _triggers_code(code: _Source) -> None:
    """``def triggers``: the clauses of each step grouped under the character they need first
    (symbols behind one test that the text has any, ``rare``), the clauses of one scan anchor
    behind its shared regex, and the digit-run members' clauses behind the runs of digits."""
    groups: dict[str, list[tuple[int, Clause]]] = {}
    runs: list[Clause] = []
    letters: list[Clause] = []
    for d in REGISTRY:
        if d.digit_run:
            runs += d.trigger or (Clause(),)
            if d.letter_gate:
                letters.append(Clause(needs="A", has_map=d.letter_needs, search_map=(d.letter_gate,)))
            continue
        for c in d.trigger or (Clause(),):
            if c.digits or c.dots:
                raise AssertionError(f"{d.name}: Clause.digits and .dots are for digit_run members")
            groups.setdefault(_key(c), []).append((1 << STEP_OF[d.name], c))
    add = code.add
    add(0, "def triggers(t, env=False, skip=0):")
    add(1, "cm = t.encode('utf-8', 'surrogatepass').translate(_CLASSES)")
    add(1, f"rare = cm.translate(None, {_CLASS_BYTES.encode()!r})")
    add(1, "up = 0x41 in cm")
    add(1, "low = ''")
    add(1, "m = 0")
    tails = [_tail_key(c) for d in REGISTRY for c in d.trigger if c.has_low or c.test or c.test_low]
    code.shared = {key: f"_tail{i}" for i, key in enumerate(dict.fromkeys(k for k in tails if tails.count(k) > 1))}
    for memo in code.shared.values():
        add(1, f"{memo} = None")
    _group_code(code, 1, "", groups.pop("", []))
    rare = [k for k in groups if k not in _CLASS_BYTES]
    if rare:
        add(1, "if rare:")
        for k in rare:
            _group_code(code, 2, k, groups.pop(k))
    for k, clauses in groups.items():
        _group_code(code, 1, k, clauses)
    _numeric_code(code, runs, letters)
    add(1, "return m & ~skip")


def _group_code(code: _Source, depth: int, key: str, clauses: list[tuple[int, Clause]]) -> None:
    if not clauses:
        return
    if key:
        code.add(depth, f"if {_char_test(key)}:")
        depth += 1
    _clauses_code(code, depth, [(bit, c) for bit, c in clauses if not c.scan], key)
    scanned = [(bit, c) for bit, c in clauses if c.scan]
    if scanned:
        code.add(depth, f"if {_scan_guard(code, scanned, key)} and {code.search(_scan_name(key))}(t) is not None:")
        _clauses_code(code, depth + 1, scanned, key)


def _scan_guard(code: _Source, scanned: list[tuple[int, Clause]], key: str) -> str:
    """Whether any scanned clause of a group could still hold: its step not decided yet and its
    cheap fields (:meth:`_Source.cheap`) true. Most texts fail this, and skip the scan."""
    bare = 0
    parts: dict[int, list[str]] = {}
    for bit, c in scanned:
        cheap = code.cheap(c, key)
        if not cheap:
            bare |= bit
        else:
            parts.setdefault(bit, []).append(cheap)
    terms = [f"(skip | m) & {bare:#x} != {bare:#x}"] if bare else []
    for bit, cheaps in parts.items():
        if not bit & bare:
            terms.append(f"(not (skip | m) & {bit:#x} and ({' or '.join(cheaps)}))")
    return "(" + " or ".join(terms) + ")"


def _clauses_code(code: _Source, depth: int, clauses: list[tuple[int, Clause]], known: str) -> None:
    """One ``if`` per run of clauses of the same step; it reads ``m`` only where an earlier
    ``if`` could have set that step's bit."""
    i = 0
    while i < len(clauses):
        bit = clauses[i][0]
        j = i
        while j < len(clauses) and clauses[j][0] == bit:
            j += 1
        exprs = [code.expr(c, known) for _, c in clauses[i:j]]
        i = j
        if "True" in exprs:
            code.add(depth, f"m |= {bit:#x}")
        else:
            done = "(skip | m)" if bit & code.emitted else "skip"
            either = exprs[0] if len(exprs) == 1 else "(" + " or ".join(f"({e})" for e in exprs) + ")"
            code.add(depth, f"if not {done} & {bit:#x} and {either}:")
            code.add(depth + 1, f"m |= {bit:#x}")
        code.emitted |= bit


def _numeric_code(code: _Source, runs: list[Clause], letters: list[Clause]) -> None:
    """The numeric step: its members' clauses where there is a run of digits and separators
    (:meth:`Ctx.numeric`), the clauses that only need a digit count first; letter gates alone."""
    if not runs and not letters:
        return
    bit = 1 << STEP_OF[NUMERIC_STEP]
    add = code.add
    add(1, f"if not skip & {bit:#x}:")
    counts = [c.digits for c in runs if c == Clause(digits=c.digits) and c.digits]
    exprs = [f"digits >= {min(counts)}"] if counts else []
    exprs += [code.expr(c, "0") for c in runs if not (c == Clause(digits=c.digits) and c.digits)]
    if exprs:
        add(2, "if 0x30 in cm:")
        code.names["_findall_g_numeric_runs"] = code.patterns.g_numeric_runs.findall
        add(3, "runs = _findall_g_numeric_runs(cm)")
        add(3, "if runs:")
        if any(c.digits for c in runs):
            add(4, "digits = max([r.count(0x30) for r in runs])")
        add(4, f"if {' or '.join(f'({e})' for e in exprs)}:")
        add(5, f"m |= {bit:#x}")
    for c in letters:
        add(2, f"if not m & {bit:#x} and {code.expr(c)}:")
        add(3, f"m |= {bit:#x}")


def _home_gate_code(code: _Source) -> None:
    """``def home_gate``: the first step's clauses on the text alone (needs as substrings; a
    class, ``"0"``/``"A"``/``"a"``, and the scans, which the rest of each clause implies, dropped)."""
    first = REGISTRY[0]
    exprs = []
    for c in first.trigger or (Clause(),):
        if c.has_map or c.has_low or c.digits or c.dots or c.search_map or c.search_low or c.search_view or c.test \
                or c.test_low or c.env is not None:
            raise AssertionError(f"{first.name} runs before the trigger scan: its clauses may only read the text")
        needs = (c.scan[0] if c.scan else "") + "".join(ch for ch in c.needs if ch not in "0Aa")
        bare = Clause(min_len=c.min_len, count=c.count, has=c.has, search=c.search)
        parts = [f"{ch!r} in t" for ch in needs] + ([] if bare == Clause() else [code.expr(bare)])
        exprs.append(" and ".join(parts) or "True")
    code.add(0, "")
    code.add(0, "def home_gate(t):")
    code.add(1, "return " + " or ".join(f"({e})" for e in exprs))


def _scan_name(anchor: str) -> str:
    return f"g_scan_{ord(anchor):02x}"


def _scan_patterns() -> dict[str, Any]:
    """One coarse regex per scan anchor: the anchor, then any clause's fragment."""
    import re

    fragments: dict[str, dict[str, None]] = {}
    for d in REGISTRY:
        for c in d.trigger:
            if c.scan:
                fragments.setdefault(c.scan[0], {})[c.scan[1]] = None
    return {_scan_name(a): re.compile(re.escape(a) + "(?:" + "|".join(f) + ")") for a, f in fragments.items()}


def _gate_patterns() -> dict[str, Any]:
    """The patterns of the numeric step and of the engine's shortcut for trivial strings."""
    import re

    c = re.compile
    return {
        "numeric": c(r"[0-9][0-9 ().+/\-]{5,}"),
        # Strings that no detector can match: letters, "_", ".", "<", ">" only, and short.
        "trivial": c(r"[A-Za-z_.<>]{0,15}"),
        # On the class map: exactly PATTERNS.numeric, and the runs of digits and separators
        # (Ctx.numeric holds iff there is one)
        "g_numeric": c(rb"0[0 ().+/\-]{5}"),
        "g_numeric_runs": c(rb"0[0 ().+/\-]{5,}+"),
        **_scan_patterns(),
    }


for _detector in REGISTRY:
    add_pattern_source(_detector.patterns)
add_pattern_source(_gate_patterns)
