"""The gates in front of the detectors change nothing: a step skipped would have found nothing.

``crashveil.redact.gates.triggers`` gives every plan step a bit; a clear bit must mean
that the step returns its text unchanged and counts no hit. These properties check that
claim directly, detector by detector (also for the members of the numeric group, which
have gates of their own), and end to end: a gated run and an ungated run agree.
"""

from __future__ import annotations

import os
import random
import string

import pytest
import redact_corpus as corpus
from hypothesis import HealthCheck, given, settings, strategies as st

from crashveil.redact import DEFAULT_PLACEHOLDERS, DETECTORS, KINDS, Redactor, gates, registry
from crashveil.redact.detector import Ctx, cmap, compile_patterns

SETTINGS = settings(max_examples=int(os.environ.get("REDACT_EXAMPLES", "300")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

ANY_CHAR = st.characters(exclude_categories=())
# The edges of every gate: anchors, separators, near misses, and the characters whose lower
# case is ASCII (U+0130, U+212A) or that case-insensitive matching treats as ASCII letters.
TRICKY = st.sampled_from([
    "@", ".", ":", "::", "/", "\\", "\\\\", "'", '"', "=", "=>", "?", "&", "#", "-", "_", "<", ">", "~", " ", "\t",
    "\n", "(", ")", "+", "%", ";", ",", "A", "X", "eyJ", "home", "/home/", "/Users/", "Users", "C:", "c:/users/",
    "\\Users\\", "Documents and Settings", "-----BEGIN ", "PRIVATE KEY-----", "-----END ", "password", "passwd",
    "token", "secret", "api_key", "AccountKey", "user", "User Id", "user name", "uid", "login", "cookie", "session",
    "auth", "Bearer ", "Basic ", "Token ", "BEARER ", "sk-", "sk_live_", "ghp_", "glpat-", "xoxb-", "key-", "hf_",
    "AKIA", "ASIA", "AIza", "ya29.", "SG.", "SK", "GR1348941", "hooks.slack.com/services/", "laptop", "-pro",
    "macbook", "thinkpad", "DESKTOP-", "WIN-", "ip-10-0-0-1", "-pc", ".local", ".lan", ".home", ".fritz.box",
    "://", "0x", "127.0.0.1", "+44", "00", "ext", "x", "b'", "pytest-of-", "\\\\?\\", "2A", "756.", "v", "==",
    "\u0130", "\u212a", "\u017f", "\u0131", "é", "ß", "\ud800", "\x00", *DEFAULT_PLACEHOLDERS.values(),
])
DIGITS = st.from_regex(r"[0-9]{1,20}", fullmatch=True)
SPACED = st.from_regex(r"[0-9]{1,4}(?:[ .()+/-][0-9]{1,4}){1,5}", fullmatch=True)
HEX = st.from_regex(r"[0-9a-fA-F]{1,16}", fullmatch=True)
B64 = st.from_regex(r"[A-Za-z0-9+/=_-]{1,44}", fullmatch=True)
WORD = st.from_regex(r"[A-Za-z]{1,10}", fullmatch=True)
SEED = st.integers(min_value=0, max_value=2**32 - 1)
PLANTED = st.builds(lambda d, s: corpus.PLANTED[d](random.Random(s))[0], st.sampled_from(sorted(corpus.PLANTED)), SEED)
NATIONAL = st.builds(lambda f, s: f(random.Random(s)), st.sampled_from(sorted(corpus.NATIONAL_IDS.values(), key=repr)),
                     SEED)
FRAGMENT = st.one_of(TRICKY, DIGITS, SPACED, HEX, B64, WORD, PLANTED, NATIONAL, st.text(ANY_CHAR, max_size=6))
TEXT = st.one_of(st.text(ANY_CHAR, max_size=200), st.lists(FRAGMENT, max_size=40).map("".join))

MEMBERS = tuple(d for d in registry.REGISTRY if d.digit_run)
_GROUP = gates.numeric_group(MEMBERS)
STEP_FUNCTIONS = {name: (_GROUP if name == registry.NUMERIC_STEP else registry.BY_NAME[name].run)
                  for name in registry.STEPS}


def _changes(fn, text: str, env: bool, numeric: bool | None = None) -> bool:
    """Whether ``fn`` changes ``text`` or counts a hit (``numeric``: preset Ctx.numeric)."""
    ctx = Ctx(dict(DEFAULT_PLACEHOLDERS), env)
    ctx._numeric = numeric
    return fn(text, ctx) != text or bool(ctx.counts)


def _check_steps(text: str) -> None:
    for env in (False, True):
        mask = gates.triggers(text, env)
        missed = [name for i, name in enumerate(registry.STEPS)
                  if not mask >> i & 1 and _changes(STEP_FUNCTIONS[name], text, env)]
        assert [] == missed, (text, env)
    assert gates.home_gate(text) == bool(gates.triggers(text) & 1)


def _check_members(text: str) -> None:
    """Inside the numeric group each member runs only when its own gate finds a start."""
    patterns = compile_patterns()
    cm = cmap(text)
    for member in MEMBERS:
        for numeric in (True, False) if member.letter_gate else (True,):
            names = member.member_gates if numeric else (member.letter_gate,)
            found = any(getattr(patterns, g).search(cm) is not None for g in names)
            assert found or not _changes(member.run, text, False, numeric), (member.name, numeric, text)


@SETTINGS
@given(TEXT)
def test_a_clear_bit_means_the_step_changes_nothing(text):
    """For any text and kind, every step whose trigger bit is clear leaves the text as it is."""
    _check_steps(text)


@SETTINGS
@given(TEXT)
def test_numeric_members_run_only_behind_their_gates(text):
    """The gates inside the numeric group are as safe as the step gates."""
    _check_members(text)


@SETTINGS
@given(TEXT, st.booleans(), st.integers(min_value=0, max_value=registry.ALL_STEPS))
def test_skipped_bits_do_not_change_the_others(text, env, skip):
    """``triggers(text, skip=...)`` is ``triggers(text)`` with those bits cleared."""
    assert gates.triggers(text, env) & ~skip == gates.triggers(text, env, skip)


@SETTINGS
@given(TEXT, st.sampled_from(KINDS), st.sampled_from([None, *[[d] for d in DETECTORS],
                                                      ["home_path", "email", "phone", "high_entropy"],
                                                      ["iban", "national_id", "quoted_input"]]))
def test_gated_and_ungated_runs_agree(text, kind, detectors):
    """The gates are only a shortcut: text and hit counts are those of running every step."""
    red = Redactor(detectors=detectors)

    assert red._run(text, kind, gated=False) == red._run(text, kind)


def test_gates_on_every_planted_value():
    """Every planted value of the corpus (many seeds), alone and between words."""
    r = random.Random(7)
    for detector in sorted(corpus.PLANTED):
        for seed in range(40):
            value = corpus.PLANTED[detector](random.Random(seed))[0]
            for text in (value, corpus.sentence(r, 3) + " " + value + r.choice(["", " ", ": ", "=", "\n"]) + " x"):
                _check_steps(text)
                _check_members(text)


@pytest.mark.parametrize("name", sorted(corpus.NATIONAL_IDS))
def test_gates_on_national_ids(name):
    """Every national id format: the numeric group's member gates see each of them."""
    for seed in range(60):
        value = corpus.NATIONAL_IDS[name](random.Random(seed))
        for text in (value, f"id {value} ok", f"({value})"):
            _check_steps(text)
            _check_members(text)


@pytest.mark.parametrize("text", [
    "013 99 1142",  # a US SSN with spaces: the gate's back-reference must not read as an octal escape
    "21071901820",  # an 11-digit run: the bare-run branch takes 7 to 16 digits after the first
    "/checkout/16lYxo43wq1Rixh3Q7p9NUcyhuRFxfTDNRhooks.slack.com/services/TFJftQ8a-6:BbcB68e",
    "İhooks.slack.com/services/Authorization/opt/x.py",
    "ALİCE-MACBOOK-PRO.LOCAL", "bob-thin\u212apad", "KEY=\u212aey", "pAsSwOrD = hunter2",
    "2024-05-12 10:30:45 INFO worker 3 started job 1234",
    "GET https://api.example.com/v1/orders/569987 -> 200 (304 ms)",
    "X1234567L", "AB 12 34 56 C", "RSSMRA85T10A562S", "GB82 WEST 1234 5698 7654 32", "12345678A7890",
])
def test_gates_on_found_edge_cases(text):
    """Inputs that once slipped past a draft of the gates."""
    _check_steps(text)
    _check_members(text)
    for kind in KINDS:
        assert Redactor()._run(text, kind, gated=False) == Redactor()._run(text, kind)


def test_long_random_texts():
    """Long mixed texts (the rule that keeps set bits after a change applies past 32 KB)."""
    r = random.Random(11)
    pieces = [corpus.PLANTED[d](r)[0] for d in sorted(corpus.PLANTED) for _ in range(3)]
    pieces += ["".join(r.choice(string.printable) for _ in range(40)) for _ in range(40)]
    red = Redactor()
    for size in (3_000, 40_000):
        text = ""
        while len(text) < size:
            text += r.choice(pieces) + r.choice([" ", "\n", ", ", " = ", ": "])
        _check_steps(text)
        for kind in KINDS:
            assert red._run(text, kind, gated=False) == red._run(text, kind)


TRIVIAL = st.one_of(st.from_regex(r"[A-Za-z_.<>]{0,15}", fullmatch=True),
                    st.lists(st.sampled_from(["sk", "_", "live", "test", "eyJ", "whsec", "<", ">", ".", "A", "x", "SK",
                                              "AKIA", "ghp", "hf", "npm", "local", "home", "ey", "J"]),
                             max_size=8).map("".join).filter(lambda t: len(t) < 16))


@SETTINGS
@given(TRIVIAL)
def test_the_engines_shortcut_for_trivial_strings_skips_nothing(text):
    """``Redactor._run`` returns short strings of letters, ``_``, ``.``, ``<``, ``>`` unlooked at
    (except those holding ``eyJ``, ``_live_``, ``_test_`` or ``whsec_``): no step may change one."""
    if any(s in text for s in ("eyJ", "_live_", "_test_", "whsec_")):
        return
    for env in (False, True):
        assert [] == [name for name, fn in STEP_FUNCTIONS.items() if _changes(fn, text, env)], (text, env)


def test_the_trigger_scan_is_compiled_from_every_clause():
    """Every pattern a clause names and every scan anchor appear in the compiled scan."""
    source = gates.trigger_source()
    for detector in registry.REGISTRY:
        for clause in detector.trigger:
            for name in (*clause.search, *clause.search_low, *clause.search_map):
                assert f"_s_{name}(" in source, (detector.name, name)
            if clause.scan:
                assert f"_s_g_scan_{ord(clause.scan[0]):02x}(" in source, detector.name
