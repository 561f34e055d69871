"""The gates: one scan that proves which plan steps cannot change a text, and the numeric step.

Four rules keep the whole engine fast and linear on any input:

- **One scan decides what runs.** :func:`triggers` computes, for every plan step
  (:data:`crashveil.redact.registry.STEPS`), whether anything its patterns need is in the
  text; a step whose bit is clear is skipped (see :mod:`crashveil.redact.engine`). It looks at
  symbols through ``rare`` (the text without letters, digits and ``/._-``), shares one
  coarse regex per anchor (``-``, ``.``, ``:``) among the detectors that use it, and runs
  class-based tests (digit runs, random tokens, key bodies) on :func:`cmap`, a byte map in
  which each character class is one byte, so every such pattern starts with a literal.
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

from typing import Any

from crashveil.redact.detector import CLASSES as _CLASSES, PATTERNS as _P, Ctx, Detector, DetectorFn, add_pattern_source
from crashveil.redact.detectors.network import HOST_WORDS
from crashveil.redact.detectors.paths import WIN_DIRS
from crashveil.redact.detectors.secrets import _CS_KEYWORDS
from crashveil.redact.registry import REGISTRY, STEP_OF

__all__ = ["home_gate", "numeric_group", "triggers"]

# From a cmap: the alphabet of high_entropy tokens. Lower case -> a, "+/_-" -> /, digit or
# upper case -> X, anything else (not in a token, "=" included) -> space.
_HE_MAP = bytes(0x61 if i == 0x61 else 0x2F if i in b"+/_-" else 0x58 if i in b"0A" else 0x20 for i in range(256))


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


def _bits(*names: str) -> int:
    return sum(1 << STEP_OF[n] for n in set(names))


_HOME, _UNC, _PEM, _URL, _CONN, _JWT, _API, _EMAIL, _UUID, _MAC, _IPV6, _NUM, _QUERY, _QUOTED, _HOST, _HE = (
    _bits(n) for n in ("home_path", "unc_path", "pem_private_key", "url_credentials", "connection_string", "jwt",
                       "api_key", "email", "uuid", "mac", "ipv6", "numeric", "query_values", "quoted_input",
                       "hostname", "high_entropy"))
_COLON_STEPS = _HOME | _MAC | _IPV6  # what the ":" scan can find
_DASH_STEPS = _HOME | _API | _UUID | _MAC | _HOST  # ... the "-" scan
_DOT_STEPS = _MAC | _HOST | _API  # ... the "." scan


def _lower(t: str) -> str:
    """``Ctx.low``: ``t.lower()`` with the same length."""
    low = t.lower()
    return low if len(low) == len(t) else t.replace("\u0130", "i").lower()


def home_gate(t: str) -> bool:
    """Bit 0 of :func:`triggers` alone: whether :func:`home_path` could change ``t``."""
    P = _P
    return ("/home/" in t or "/Users/" in t or "pytest-of-" in t or ("~" in t and P.g_tilde.search(t) is not None)
            or (":" in t and P.g_drive.search(t) is not None) or ("\\" in t and P.g_backslash.search(t) is not None))


def triggers(t: str, env: bool = False, skip: int = 0) -> int:
    """Mask of the plan steps (:data:`STEPS`) that could change ``t`` (``env``: of kind env).
    The bits in ``skip`` are not looked at (they come back clear): already known.

    A clear bit is a proof: each test below is implied by its detector's own gate or by
    every match of its patterns, so a step whose bit is clear would return ``t`` unchanged
    and count nothing. A set bit only means "run it". ``tests/redact/test_redact_gates.py``
    checks every bit against its detector.

    A regex that starts with a character class scans ~10x slower than one that starts with
    a literal, and a substring test is faster still. So symbols are looked up in ``rare``
    (``t`` without letters, digits and ``/._-``, usually empty or short), the detectors
    anchored on ``-``, ``.`` or ``:`` share one coarse scan each, and the class-based gates
    (digit runs, random tokens, key bodies) run on :func:`cmap` where each class is one byte
    and every pattern starts with a literal. Only a coarse hit pays for the exact tests.
    """
    P = _P
    cm = t.encode("utf-8", "surrogatepass").translate(_CLASSES)  # cmap(t)
    rare = cm.translate(None, b"0Aa/._-")  # symbols, spaces and non-ASCII bytes
    up = 0x41 in cm  # an ASCII upper case letter
    home = not skip & _HOME
    low = ""
    m = 0
    if home and ("/home/" in t or (up and "/Users/" in t)):
        m = _HOME
    if rare:
        if home and 0x7E in rare and P.g_tilde.search(t) is not None:  # ~
            m |= _HOME
        if 0x3A in rare and skip & _COLON_STEPS != _COLON_STEPS and P.g_colon.search(t) is not None:  # :
            if home and P.g_drive.search(t) is not None:
                m |= _HOME
            nc = t.count(":")
            if nc >= 5 and not skip & _MAC and P.mac_colon.search(t) is not None:
                m |= _MAC
            if (nc >= 6 or "::" in t) and not skip & _IPV6 and P.v6_anchor.search(t) is not None:
                m |= _IPV6
        if 0x5C in rare:  # backslash
            if home and P.g_backslash.search(t) is not None:
                m |= _HOME
            if "\\\\" in t:
                m |= _UNC
        if 0x40 in rare:  # @
            m |= _EMAIL
            if "://" in t and not skip & _URL and P.url_cred.search(t) is not None:
                m |= _URL
        eq = 0x3D in rare
        if not skip & _CONN and (eq or (0x3A in rare and (": " in t or ':"' in t or ":'" in t or ":\t" in t))):
            low = _lower(t)  # (the separators connection_string's own gate wants)
            if any(map(low.__contains__, _CS_KEYWORDS)):
                for g, rx in P.g_conn.items():
                    if g in low and rx.search(low) is not None:
                        m |= _CONN
                        break
        if eq and (0x3F in rare or 0x26 in rare or 0x23 in rare):  # ? & #
            m |= _QUERY
        if 0x27 in rare or 0x22 in rare:  # quotes
            m |= _QUOTED
        if 0x20 in rare:  # space
            if not skip & _API and ("earer " in t or "asic " in t or "oken " in t or (up and "EARER " in t)):
                m |= _API
            if up and not skip & _PEM and "PRIVATE KEY" in t:
                m |= _PEM
    if up:
        if not skip & _JWT and "eyJ" in t:
            m |= _JWT
        if not (skip | m) & _API and (
                "AKIA" in t or "ASIA" in t or "AIza" in t or "SG." in t or "SK" in t or "GR1348941" in t):
            m |= _API
    if 0x5F in cm and not (skip | m) & _API and P.g_api_us.search(cm) is not None \
            and P.api_us.search(t) is not None:  # _
        m |= _API
    if 0x2D in cm and skip & _DASH_STEPS != _DASH_STEPS and P.g_dash.search(t) is not None:
        # -: one coarse scan, then each detector's own test
        if home and "pytest-of-" in t:
            m |= _HOME
        if not (skip | m) & _API and P.g_api_dash.search(cm) is not None and P.api_dash.search(t) is not None:
            m |= _API
        nd = t.count("-")
        if nd >= 4 and not skip & _UUID and P.uuid.search(t) is not None:
            m |= _UUID
        if nd >= 5 and not (skip | m) & _MAC and P.mac_dash.search(t) is not None:
            m |= _MAC
        if not skip & _HOST:
            if not low:
                low = _lower(t)
            if P.host_dash.search(low) is not None:
                m |= _HOST
    if 0x2E in cm and skip & _DOT_STEPS != _DOT_STEPS and P.g_dot.search(t) is not None:  # .
        if not (skip | m) & _MAC and P.mac_dot.search(t) is not None:
            m |= _MAC
        if not (skip | m) & _HOST:
            if not low:
                low = _lower(t)
            if P.host_dot.search(low) is not None:
                m |= _HOST
        if "ya29." in t or "hooks.slack.com/services/" in t:
            m |= _API
    if not skip & _NUM:
        if 0x30 in cm:
            # Ctx.numeric holds iff there is such a run. Phone and card numbers, IPv4 addresses and
            # most national ids lie inside one run; national ids may also use "A" as a separator.
            runs = P.g_numeric_runs.findall(cm)
            if runs and (max([r.count(0x30) for r in runs]) >= 7  # g_phone (g_card, most g_nid_digit)
                         or (max([r.count(0x2E) for r in runs]) >= 3 and P.g_ipv4.search(cm) is not None)
                         or (up and ((cm.find(b"0A0") >= 0 and P.g_nid_digit.search(cm) is not None)
                                     or P.g_iban.search(cm) is not None))):
                m |= _NUM
        if up and not m & _NUM and P.g_nid_letter.search(cm) is not None:
            m |= _NUM
    if not skip & _HE and len(t) >= 16 and (up or 0x30 in cm) \
            and (P.g_he_16 if env else P.g_he_20).search((b" " + cm).translate(_HE_MAP)) is not None:
        m |= _HE
    return m & ~skip


def _case_pairs(pairs: Any, tail: str) -> str:
    """Alternatives matching each two-letter ``pairs`` item (+ ``tail``) in any case, also where
    ``Ctx.low`` makes a letter out of U+0130 (i) or U+212A (k); each starts with a literal."""
    import re

    def variants(ch: str) -> list[str]:
        return [ch, ch.upper()] + (["\u0130"] if ch == "i" else []) + (["\u212a"] if ch == "k" else [])

    return "|".join(re.escape(v) + "[" + "".join(variants(b)) + "]" + tail
                    for a, b in sorted(pairs) for v in variants(a))


def _gate_patterns() -> dict[str, Any]:
    """The coarse scans :func:`triggers` shares among detectors, and the digit-run tests."""
    import re

    c = re.compile
    win_dirs = WIN_DIRS
    hx = "[0-9a-fA-F]"
    hx4 = "[0-9a-fA-F]{4}"
    # Every "-" that api_key (a key body follows), uuid and mac (hex on both sides), hostname (a
    # device word's last two or first two letters on either side) or home_path ("pytest-of-")
    # could use. Letters in any case, and the two characters whose lower() is ASCII (U+0130
    # -> i, U+212A -> k); literal-first alternatives, which the regex engine skips fastest.
    ends = _case_pairs({w[-2:] for w in HOST_WORDS}, "-")
    starts = _case_pairs({w[:2] for w in HOST_WORDS}, "")
    return {
        "numeric": c(r"[0-9][0-9 ().+/\-]{5,}"),
        # Strings that no detector can match: letters, "_", ".", "<", ">" only, and short.
        "trivial": c(r"[A-Za-z_.<>]{0,15}"),
        # every ":" that home_path (g_drive), mac (hex:hex:hex ...) or ipv6 (v6_anchor) could use
        "g_colon": c(r":(?:(?<=[A-Za-z]:)(?:\\\\|[\\/])(?:" + win_dirs[3:-1] + r")"
                     r"|[0-9A-Fa-f]{0,4}:(?:[0-9A-Fa-f]{0,4}:|(?<=::)))"),
        "g_dash": c(r"-(?:(?=[A-Za-z0-9][A-Za-z0-9_.\-]{11})"
                    f"|(?<={hx}{{2}}-){hx}{{2}}(?:{hx}{{2}}-{hx}{{4}}-|-{hx}{{2}}-)"  # uuid, mac
                    f"|(?<={ends})|(?={starts})|(?<=pytest-)of-)"),
        # Every "." that mac (dotted hex), hostname (.local ...) or api_key (ya29., slack) could use.
        "g_dot": c(f"\\.(?:(?<={hx4}\\.){hx4}\\.|(?i:local|lan|home|fritz\\.box)|(?<=ya29\\.)|(?<=hooks\\.)slack\\.)"),
        # On the class map: exactly PATTERNS.numeric, and the runs of digits and separators
        # (Ctx.numeric holds iff there is one)
        "g_numeric": c(rb"0[0 ().+/\-]{5}"),
        "g_numeric_runs": c(rb"0[0 ().+/\-]{5,}+"),
    }


for _detector in REGISTRY:
    add_pattern_source(_detector.patterns)
add_pattern_source(_gate_patterns)
