"""On-device redaction: every string that can reach a report passes through here.

Exception messages, file paths, chained messages, environment values and breadcrumb
text are redacted with :func:`redact` (or a configured :class:`Redactor`) before they
are written anywhere. The server runs the same code again and counts every hit as a
regression signal (:meth:`Redactor.redact_counted`).

Guarantees
    - **Total.** Never raises. Any ``str`` works, lone surrogates included; anything else
      (and, defensively, any internal failure) becomes ``"<redacted>"``.
    - **Idempotent.** ``redact(redact(x)) == redact(x)`` and re-redacting counts no hits.
      Placeholders are ``<word>`` and ``<``/``>`` end every token of every detector; on top
      of that the detectors run until the text is a fixed point (see :func:`_settle`).
    - **Linear.** No pattern backtracks more than a bounded amount per character, and no
      stretch of text is scanned again from each of many starts that all fail alike (see
      "No ambiguity" in :mod:`crashveil._redact_patterns`); 1 MB adversarial strings take
      tens of milliseconds to a second, never longer. ``tests/redact/test_redact.py`` times
      each hostile shape at 64 KB, 256 KB and 1 MB and fails on quadratic growth.
    - **No truncation.** Callers cap lengths.

Detectors, in the order they run (:data:`DETECTORS`):

``home_path``
    The user name of a home directory, the path keeping its shape: ``/home/ann/x``,
    ``/Users/ann/x``, ``/var/home/ann``, ``/mnt/c/Users/ann``, ``C:\\Users\\Ann\\x`` (any case,
    ``/`` or ``\\`` or the escaped ``\\\\`` of a repr), ``Documents and Settings`` -> ``~/x``,
    ``~\\x``; ``~ann/x`` -> ``~/x``. Nested or UNC homes keep their shape with ``<user>``
    (``/data/home/<user>/x``, ``\\\\host\\Users\\<user>``), and ``pytest-of-<user>``. URL paths
    (``https://x.org/home/about``) and REST routes (``/users/42``: lower case, no drive) stay.
``unc_path``
    ``\\\\HOST\\share`` -> ``\\\\<host>\\share``; ``\\\\?\\``, ``\\\\.\\``, ``localhost``, ``wsl$`` stay.
``pem_private_key``
    ``-----BEGIN ... PRIVATE KEY-----`` (RSA, EC, OPENSSH, ENCRYPTED, PGP ... BLOCK) to its END
    line, or to the end of its base64 body when truncated -> ``<private-key>``.
``url_credentials``
    ``scheme://user:pass@host`` -> ``scheme://<credentials>@host`` (scheme and host stay;
    the hostname detector handles personal hosts).
``connection_string``
    Values of secret-bearing keys -> ``<credentials>``: ``password``, ``passwd``, ``pwd``,
    ``secret``, ``token``, ``api_key``, ``AccountKey``, ``credential``, ``Authorization``
    (``Bearer``/``Basic`` kept), ``session``, ``cookie``, ``User Id``, ``username``, ``uid``,
    ``login`` ... inside compound keys too (``db_password``, ``X-Api-Key``), with ``=``,
    ``:`` or ``=>`` and bare, single- or double-quoted values. Keys stay; ``None``, ``null``,
    ``true``, ``false``, empty and ``***`` values stay (they are what developers debug).
``jwt``
    ``eyJ...``.``...``.``...`` (also unsigned and five-part JWE) -> ``<secret>``.
``api_key``
    Prefixed provider keys -> ``<secret>``: AWS ``AKIA``/``ASIA``, GitHub ``ghp_``/``gho_``/
    ``github_pat_``..., GitLab ``glpat-``..., Slack ``xox?-``/``xapp-`` and webhooks, Stripe
    ``sk_live_``/``whsec_``..., ``sk-`` (OpenAI, Anthropic), Google ``AIza``/``ya29.``/
    ``GOCSPX-``, npm, PyPI, Hugging Face, SendGrid, Shopify, DigitalOcean, Mailgun, Twilio;
    and the credential after ``Bearer``, ``Basic`` or ``Token``.
``email``
    ``local@domain.tld`` with a letter-only TLD, Unicode local parts and IDN domains ->
    ``<email>``. ``pkg@1.2.3``, ``@decorator``, ``a @ b`` and ``a@b.T`` stay.
``uuid``
    8-4-4-4-12 hex, any case -> ``<uuid>``.
``mac``
    ``aa:bb:cc:dd:ee:ff``, ``AA-BB-CC-DD-EE-FF``, ``aabb.ccdd.eeff`` -> ``<mac>``.
``ipv6``
    Every compressed form, IPv4 tails, ``%zone`` -> ``<ip>``. ``::`` and ``::1`` stay (not
    personal; ``a[::2]`` is code).
``iban``
    Known country, mod-97 valid, compact or in groups of four -> ``<iban>``.
``card_number``
    12-19 digits, plain or in groups of 3+ separated by a space or ``-``, with a card-network
    prefix (2-series, 3-9, Mir, old JCB, UK Maestro) and a valid Luhn digit -> ``<card>``.
    Epoch milliseconds (leading ``1``) stay.
``national_id``
    -> ``<national-id>``. Formatted: US SSN, UK NINO, FR NIR, ES DNI/NIE (check letter), IT
    codice fiscale, BR CPF, SE/DK/FI/NO personal numbers, KR RRN, CA SIN (Luhn), IN Aadhaar,
    CH AHV, TH id. Bare digit runs only with a valid checksum for their length: NL BSN, IL id
    (9), UA RNOKPP, AT SV-Nr (10), PL PESEL, BR CPF, TR kimlik, NO, HU, GR AMKA, MX NSS (11),
    RU INN (12), RO CNP, CH AHV (13), FR NIR (15), CN resident id (18). About one random
    9-13 digit number in ten passes one of these checksums and is redacted: safety first.
``ipv4``
    Dotted quads with octets <= 255 -> ``<ip>`` (``:port`` and ``/cidr`` stay). Kept:
    loopback ``127.*``, ``0.0.0.0``, netmasks, and quads in version context (``v1.2.3.4``,
    ``version 1.2.3.4``, ``==1.2.3.4``, ``pkg-1.2.3.4``). A bare four-part version
    (``1.2.3.4 is out``) is redacted: safety first.
``phone``
    -> ``<phone>``, with any extension. ``+`` or ``00`` and 7-15 digits; national numbers
    with separators and a trunk ``0`` (``06 12 34 56 78``, ``020 7946 0958``, ``(030)
    123456``) or Russian ``8``; NANP ``(555) 123-4567``, ``555.123.4567``, ``1-555-123-4567``;
    3+ groups of 2-4 digits totalling 9-12; bare 9-11 digit numbers with a trunk ``0``, bare
    10 digits not starting with ``1`` (except powers of two and 2^n - 1), CN/IT/RU 11-digit
    mobiles. Kept: dates (``2024-01-15 10``), times, versions, line numbers, small integers,
    epoch seconds and milliseconds. Not recognised: 7-8 digit local numbers without an area
    code (DK, NO, NZ, UA local) and bare 9-digit numbers (PT, ES, IT mobiles): too many
    counters and sizes look the same.
``query_values``
    ``?k=v&k2=v2#frag=v`` -> ``?k=<value>&k2=<value>#frag=<value>``; keys stay.
``quoted_input`` (messages only)
    Quoted text (``'...'``, ``"..."``, ``b'...'``; an apostrophe inside a word does not open
    a quote) -> ``<input>``, except: empty; only placeholders (``'<email>'`` keeps the typed
    placeholder); path-like (kept for its shape; home paths are already redacted); ASCII
    identifiers of <= 40 characters with <= 4 digits that are lower case, upper case,
    camelCase/PascalCase with an inner capital, or joined by ``._-:/`` (``'utf-8'``,
    ``'NoneType'``, ``'os.path'``, ``'split'``, ``'user_id'``). A capitalised single word
    (``'Alice'``) is redacted; a lower-case one (``'alice'``) is kept - the price of keeping
    the attribute and key names developers need.
``hostname``
    Personal machines -> ``<host>``: ``DESKTOP-XXXXXXX``, ``LAPTOP-...``, ``WIN-...``,
    dash-joined names with a device word (``alices-macbook-pro``, ``bobs-laptop``,
    ``ann-thinkpad-x1``, ``carl-pc``, ``*-imac``, ``*-mbp``, ``*-desktop``),
    ``.local``/``.lan``/``.home``/``.fritz.box`` names with a dash or digit, ``ip-10-0-0-1``.
    ``threading.local`` stays.
``high_entropy``
    Random-looking runs of ``[A-Za-z0-9+/_-]`` (``=`` padding) of 20+ characters (16+ for
    ``env``) -> ``<secret>``: short average "word" length (random text changes between
    lower case, upper case and digit every ~2 characters; identifiers and paths hold 3+),
    hex digests, base32, and Shannon entropy >= 3 bits per character (2.5 for hex).
    Identifiers and paths stay; in ``/``-joined paths only the random pieces go
    (``data/<secret>.json``). Git SHAs are redacted.

Kept on purpose: exception class names, module and function names, in-app relative
paths, line numbers, errno codes, HTTP status codes, version strings, memory addresses
(``0x7f3a2c1b9d40``), dates and times.

``kind`` selects the detectors: ``"message"`` runs all; ``"path"`` and ``"env"`` run all
but ``quoted_input``; ``"env"`` lowers the high-entropy length to 16. An unknown kind is
treated as ``"message"`` (the strictest).

Engine
    A plan (:class:`_Plan`) holds one function per step of
    :data:`crashveil._redact_patterns.STEPS`: the detectors above in order, the five
    digit-run detectors sharing one step. Most strings hold nothing personal, so the
    expensive part of redaction is proving that. :func:`crashveil._redact_patterns.triggers`
    does it for all steps at once: a mask with one bit per step, where a clear bit means
    the step could not change the text (each test is something every match of that
    detector needs). A string whose mask is empty is returned as it is; otherwise only the
    steps whose bit is set run, and the mask is rescanned after every change
    (:func:`_settle`). ``home_path`` runs before the first scan when its own gate holds: a
    frame path under a home directory then costs one scan, not two. The gates change no
    output: ``tests/redact/test_redact_gates.py`` checks every bit against its detector
    and gated runs against ungated ones (``Redactor._run(..., gated=False)``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from crashveil import _redact_patterns as _rp
from crashveil.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["DETECTORS", "DEFAULT_PLACEHOLDERS", "KINDS", "REDACTED", "Redactor", "redact"]

DETECTORS: tuple[str, ...] = (
    "home_path",
    "unc_path",
    "pem_private_key",
    "url_credentials",
    "connection_string",
    "jwt",
    "api_key",
    "email",
    "uuid",
    "mac",
    "ipv6",
    "iban",
    "card_number",
    "national_id",
    "ipv4",
    "phone",
    "query_values",
    "quoted_input",
    "hostname",
    "high_entropy",
)
"""Every detector name, in the order they run."""

DEFAULT_PLACEHOLDERS: Mapping[str, str] = MappingProxyType({
    "pem_private_key": "<private-key>",
    "url_credentials": "<credentials>",
    "connection_string": "<credentials>",
    "jwt": "<secret>",
    "api_key": "<secret>",
    "email": "<email>",
    "home_path": "<user>",  # rendered as "~" where the whole home prefix goes
    "unc_path": "<host>",
    "iban": "<iban>",
    "card_number": "<card>",
    "national_id": "<national-id>",
    "uuid": "<uuid>",
    "mac": "<mac>",
    "ipv6": "<ip>",
    "ipv4": "<ip>",
    "phone": "<phone>",
    "query_values": "<value>",
    "quoted_input": "<input>",
    "hostname": "<host>",
    "high_entropy": "<secret>",
})
"""Detector name -> the placeholder that replaces what it finds."""

KINDS: tuple[str, ...] = ("message", "path", "env")
"""The kinds of string :meth:`Redactor.redact` knows."""

REDACTED = "<redacted>"
"""What a non-string (or a string the engine failed on) becomes."""

_MAX_PASSES = 4
# After a change, a text longer than _LONG rescans only for the steps not yet set to run (set
# bits stay set: a superset is safe), and one longer than _HUGE is not rescanned at all (every
# step runs with its own gates): on long texts a scan costs about what skipping saves.
_LONG = 1 << 10
_HUGE = 1 << 14
# Steps whose changes need no re-check pass (see _settle), as trigger-mask bits.
_SETTLED = (1 << _rp.STEP_OF["quoted_input"]) | (1 << _rp.STEP_OF["query_values"])
_KIND_SKIPS = {"message": (), "path": ("quoted_input",), "env": ("quoted_input",)}


class _Plan(NamedTuple):
    """What one kind runs: ``steps[i]`` is the function of step ``i`` of :data:`_rp.STEPS`
    (``None`` when not configured) and bit ``i`` of ``mask`` is set for each configured one."""

    steps: tuple[Any, ...]
    mask: int


class Redactor:
    """A configured redaction pipeline; immutable and safe to share between threads.

    :param detectors: detector names to run (any order; they always run in the order of
        :data:`DETECTORS`). ``None`` runs all of them.
    :param placeholders: overrides of :data:`DEFAULT_PLACEHOLDERS`, each of the form
        ``<lower-case-word>`` so that it stays inert to every detector.
    :raises crashveil.errors.ConfigError: an unknown detector name or a bad placeholder.
    """

    __slots__ = ("_detectors", "_placeholders", "_plans")

    def __init__(
        self,
        detectors: Iterable[str] | None = None,
        placeholders: Mapping[str, str] | None = None,
    ) -> None:
        if detectors is None:
            chosen = frozenset(DETECTORS)
        else:
            if isinstance(detectors, (str, bytes)):
                raise ConfigError("redaction.detectors", "must be a list of detector names, not a string",
                                  "a list such as ['email', 'ipv4']")
            chosen_list = list(detectors)
            for name in chosen_list:
                if name not in DEFAULT_PLACEHOLDERS:
                    raise ConfigError("redaction.detectors", f"unknown detector {name!r}",
                                      "one of " + ", ".join(DETECTORS))
            chosen = frozenset(chosen_list)
        ph = dict(DEFAULT_PLACEHOLDERS)
        if placeholders:
            for name, value in placeholders.items():
                if name not in DEFAULT_PLACEHOLDERS:
                    raise ConfigError("redaction.placeholders", f"unknown detector {name!r}",
                                      "one of " + ", ".join(DETECTORS))
                ph[name] = value
            _check_placeholders(ph, placeholders)
        self._detectors = tuple(d for d in DETECTORS if d in chosen)
        self._placeholders: Mapping[str, str] = MappingProxyType(ph)
        self._plans = {kind: _plan(self._detectors, skips) for kind, skips in _KIND_SKIPS.items()}

    @property
    def detectors(self) -> tuple[str, ...]:
        """The detector names this redactor runs, in order."""
        return self._detectors

    @property
    def placeholders(self) -> Mapping[str, str]:
        """Detector name -> placeholder, defaults merged with overrides."""
        return self._placeholders

    def redact(self, text: str, kind: str = "message") -> str:
        """Return ``text`` with everything personal or secret replaced by placeholders.

        :param text: any string; a non-string gives ``"<redacted>"``.
        :param kind: ``"message"``, ``"path"`` or ``"env"`` (see the module docs).
        """
        return self._run(text, kind)[0]

    def redact_counted(self, text: str, kind: str = "message") -> tuple[str, dict[str, int]]:
        """Redacted text and hits per detector name (only detectors that hit appear)."""
        return self._run(text, kind)

    def redact_path(self, path: str) -> str:
        """Same as ``redact(path, kind="path")``: ``/home/ann/app/x.py`` -> ``~/app/x.py``."""
        return self._run(path, "path")[0]

    def _run(self, text: Any, kind: str, gated: bool = True) -> tuple[str, dict[str, int]]:
        if type(text) is not str:
            if not isinstance(text, str):
                return REDACTED, {}
            text = str.__getitem__(text, slice(None))  # a plain str, whatever the subclass does
        if len(text) < 16 and _rp._P.trivial.fullmatch(text) is not None and "eyJ" not in text \
                and "_live_" not in text and "_test_" not in text and "whsec_" not in text:
            return text, {}  # "<module>", "handle_request": nothing to find in 15 letters
        plan = self._plans.get(kind)
        if plan is None:
            plan = self._plans["message"]
        env = kind == "env"
        try:
            if not gated:
                ctx = _rp.Ctx(self._placeholders, env)  # type: ignore[arg-type]
                return _settle(text, plan, plan.mask, ctx, False), ctx.counts
            if plan.mask & 1 and _rp.home_gate(text):
                # home_path is step 0: run it first, then one trigger scan covers the rest
                # (a frame path under a home directory is the most common string there is)
                ctx = _rp.Ctx(self._placeholders, env)  # type: ignore[arg-type]
                new = plan.steps[0](text, ctx)
                if new is not text and new != text:
                    mask = _rp.triggers(new, env) & plan.mask
                    return _settle(new, plan, mask, ctx, True, 1, 1), ctx.counts
                mask = _rp.triggers(text, env) & plan.mask
                return _settle(text, plan, mask, ctx, True, 1, 0), ctx.counts
            mask = _rp.triggers(text, env, 1) & plan.mask  # (step 0: clear, see above)
            if not mask:
                return text, {}  # no step could change anything: most strings end here
            ctx = _rp.Ctx(self._placeholders, env)  # type: ignore[arg-type]
            return _settle(text, plan, mask, ctx), ctx.counts
        except Exception:  # noqa: BLE001 - never hurt the host app: drop the string rather than leak or raise
            return REDACTED, {}

    def __repr__(self) -> str:
        return f"Redactor(detectors={list(self._detectors)!r})"


def _plan(detectors: tuple[str, ...], skips: tuple[str, ...]) -> _Plan:
    """The steps to run for ``detectors`` minus ``skips``; the digit-run detectors share one step."""
    funcs = _rp.DETECTOR_FUNCTIONS
    steps: list[Any] = [None] * len(_rp.STEPS)
    group: list[Any] = []
    for d in detectors:
        if d in skips:
            continue
        if d in _rp.NUMERIC_DETECTORS:
            group.append(funcs[d])
        else:
            steps[_rp.STEP_OF[d]] = funcs[d]
    if group:
        steps[_rp.STEP_OF["numeric"]] = _rp.numeric_group(tuple(group))
    return _Plan(tuple(steps), sum(1 << i for i, fn in enumerate(steps) if fn is not None))


def _all_steps(text: str, env: bool, skip: int = 0) -> int:
    """The trigger mask of the ungated engine: every step runs (the reference for the gates)."""
    return _rp.ALL_STEPS


def _settle(text: str, plan: _Plan, mask: int, ctx: Any, gated: bool = True, done: int = 0,
            last: int = 0) -> str:
    """Run the plan until the text is a fixed point of every detector.

    ``mask`` is ``triggers(text) & plan.mask``: only the steps whose bit is set run, and the
    mask is rescanned whenever the text changes (long texts: see ``_LONG``). A step whose bit
    is clear would have returned the text unchanged (see
    :func:`crashveil._redact_patterns.triggers`), so skipping it changes nothing below;
    ``gated=False`` runs every step, for the tests.
    ``done`` and ``last`` resume the first pass after its first ``done`` steps (``last``: the
    bit of the step that changed the text, as below).

    A detector may turn down a candidate because of its neighbour ("2001:db8::" glued to
    hex digits) and a later detector may then replace that neighbour with a placeholder, so
    one pass is not always enough. If the last detector that changed anything is number k,
    the detectors after it already left the final text unchanged; re-running 0..k and seeing
    no change proves a fixed point. Every change swaps text for a placeholder, so this
    settles quickly; a text that does not settle within a few passes is dropped whole.

    ``quoted_input`` and ``query_values`` changes need no re-check. The first replaces a span
    from quote to quote with ``<input>``; every detector before it treats quotes and ``<``/``>``
    alike (both end every token and pass every boundary check). The second replaces a value
    between a kept ``=`` and a kept ``&``/``#``/space/quote/``<``/``>`` (or the end) with
    ``<value>``, whose ``<``/``>`` stop every earlier detector's token. No earlier decision can
    flip either way; the idempotence properties in the tests check this.
    """
    steps = plan.steps
    pmask = plan.mask
    trig = _rp.triggers if gated else _all_steps
    env = ctx.env
    todo = mask & -(1 << done)
    for _ in range(_MAX_PASSES):
        while todo:
            bit = todo & -todo  # the next step to run, in plan order
            new = steps[bit.bit_length() - 1](text, ctx)
            if new is not text and new != text:
                text = new
                if not bit & _SETTLED:
                    last = bit
                # Steps after `last` up to this one run neither again in this pass nor in its
                # check, so their bits need no scan (long texts: see _LONG).
                skip = ((bit << 1) - 1) & ~((last << 1) - 1 if last else 0)
                if len(text) <= _LONG:
                    mask = trig(text, env, skip) & pmask
                elif len(text) > _HUGE:
                    mask = pmask
                elif pmask & ~(mask | skip):
                    mask = (mask | trig(text, env, mask | skip)) & pmask
            todo = mask & -(bit << 1)  # the steps after this one
        if not last:
            return text
        ctx.reset(text)
        todo = mask & ((last << 1) - 1)  # steps 0..k
        while todo:
            bit = todo & -todo
            new = steps[bit.bit_length() - 1](text, ctx)
            if new is not text and new != text:
                text = new
                if len(text) <= _LONG:
                    mask = trig(text, env) & pmask
                elif len(text) > _HUGE:
                    mask = pmask
                elif pmask & ~mask:
                    mask = (mask | trig(text, env, mask)) & pmask
                break
            todo ^= bit
        else:
            return text
        ctx.reset(text)
        last = 0  # bit of the last step that changed the text (settled steps aside)
        todo = mask
    return REDACTED


def _check_placeholders(ph: Mapping[str, str], overrides: Mapping[str, str]) -> None:
    """Refuse placeholders that a detector could match (that would break idempotence)."""
    _rp.compiled()
    shape = _rp._P.re.compile(_rp.PLACEHOLDER_SHAPE)
    probe = Redactor.__new__(Redactor)
    probe._detectors = DETECTORS
    probe._placeholders = MappingProxyType(dict(ph))
    probe._plans = {"message": _plan(DETECTORS, ())}
    for name, value in overrides.items():
        ok = isinstance(value, str) and shape.fullmatch(value) is not None
        if ok:
            for sample in (value, f"x {value} y", f"'{value}'", f"k={value}", f"?k={value}&j={value}",
                           f"a {value}@{value}.com", f"/home/{value}/x"):
                if probe._run(sample, "message")[0] != sample:
                    ok = False
                    break
        if not ok:
            raise ConfigError(f"redaction.placeholders.{name}", "must be inert to every detector",
                              "'<' + a lower-case word (letters, digits, '-') + '>', e.g. '<email>'")


_default: Redactor | None = None


def redact(text: str, kind: str = "message") -> str:
    """Redact with the default :class:`Redactor` (all detectors, default placeholders)."""
    global _default
    r = _default
    if r is None:
        r = _default = Redactor()
    return r._run(text, kind)[0]
