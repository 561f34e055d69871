"""The redaction engine: :class:`Redactor` runs the plan of registered detectors to a fixed point.

A plan (:class:`_Plan`) holds one function per step of :data:`crashveil.redact.registry.STEPS`:
the detectors in order, the five digit-run detectors sharing one step. Most strings hold
nothing personal, so the expensive part of redaction is proving that. :func:`crashveil.redact.gates.triggers`
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

from crashveil.errors import ConfigError
from crashveil.redact import gates
from crashveil.redact.detector import PATTERNS, PLACEHOLDER_SHAPE, Ctx, DetectorFn, compile_patterns
from crashveil.redact.registry import ALL_STEPS, BY_NAME, DEFAULT_PLACEHOLDERS, DETECTORS, NUMERIC_STEP, STEP_OF, STEPS

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["KINDS", "REDACTED", "Redactor", "redact"]

KINDS: tuple[str, ...] = ("message", "path", "env")
"""The kinds of string :meth:`Redactor.redact` knows."""

REDACTED = "<redacted>"
"""What a non-string (or a string the engine failed on) becomes."""

_MAX_PASSES = 4
# After a change, how a text's mask is rescanned depends on its length (see _rescan).
_LONG = 1 << 10
_HUGE = 1 << 14
# Steps whose changes need no re-check pass (see _settle), as trigger-mask bits.
_SETTLED = sum(1 << STEP_OF[d.name] for d in BY_NAME.values() if d.settles)
_MESSAGES_ONLY = tuple(d.name for d in BY_NAME.values() if d.messages_only)
_KIND_SKIPS: dict[str, tuple[str, ...]] = {"message": (), "path": _MESSAGES_ONLY, "env": _MESSAGES_ONLY}


class _Plan(NamedTuple):
    """What one kind runs: ``steps[i]`` is the function of step ``i`` of :data:`STEPS`
    (``None`` when not configured) and bit ``i`` of ``mask`` is set for each configured one;
    ``skip`` is the other bits, which the trigger scan need not look at (a path never pays
    for the message-only detectors' tests)."""

    steps: tuple[Any, ...]  # DetectorFn or None (the set bits of mask are never None)
    mask: int
    skip: int = 0


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
        if len(text) < 16 and PATTERNS.trivial.fullmatch(text) is not None and "eyJ" not in text \
                and "_live_" not in text and "_test_" not in text and "whsec_" not in text:
            return text, {}  # "<module>", "handle_request": nothing to find in 15 letters
        plan = self._plans.get(kind)
        if plan is None:
            plan = self._plans["message"]
        env = kind == "env"
        try:
            if not gated:
                ctx = Ctx(self._placeholders, env)
                return _settle(text, plan, plan.mask, ctx, False), ctx.counts
            if plan.mask & 1 and gates.home_gate(text):
                # home_path is step 0: run it first, then one trigger scan covers the rest
                # (a frame path under a home directory is the most common string there is)
                ctx = Ctx(self._placeholders, env)
                new = plan.steps[0](text, ctx)
                if new is not text and new != text:
                    mask = gates.triggers(new, env, plan.skip) & plan.mask
                    if not mask:  # nothing left, home_path included: a fixed point (_settle's check)
                        return new, ctx.counts
                    return _settle(new, plan, mask, ctx, True, 1, 1), ctx.counts
                mask = gates.triggers(text, env, plan.skip) & plan.mask
                if not mask:
                    return text, ctx.counts
                return _settle(text, plan, mask, ctx, True, 1, 0), ctx.counts
            mask = gates.triggers(text, env, plan.skip | 1) & plan.mask  # (step 0: clear, see above)
            if not mask:
                return text, {}  # no step could change anything: most strings end here
            ctx = Ctx(self._placeholders, env)
            return _settle(text, plan, mask, ctx), ctx.counts
        except Exception:  # noqa: BLE001 - never hurt the host app: drop the string rather than leak or raise
            return REDACTED, {}

    def __repr__(self) -> str:
        return f"Redactor(detectors={list(self._detectors)!r})"


def _plan(detectors: tuple[str, ...], skips: tuple[str, ...]) -> _Plan:
    """The steps to run for ``detectors`` minus ``skips``; the digit-run detectors share one step."""
    steps: list[DetectorFn | None] = [None] * len(STEPS)
    group = []
    for name in detectors:
        if name in skips:
            continue
        d = BY_NAME[name]
        if d.digit_run:
            group.append(d)
        else:
            steps[STEP_OF[name]] = d.run
    if group:
        steps[STEP_OF[NUMERIC_STEP]] = gates.numeric_group(tuple(group))
    mask = sum(1 << i for i, fn in enumerate(steps) if fn is not None)
    return _Plan(tuple(steps), mask, ALL_STEPS & ~mask)


def _all_steps(text: str, env: bool = False, skip: int = 0, /) -> int:
    """The trigger mask of the ungated engine: every step runs (the reference for the gates)."""
    return ALL_STEPS


def _settle(text: str, plan: _Plan, mask: int, ctx: Ctx, gated: bool = True, done: int = 0,
            last: int = 0) -> str:
    """Run the plan until the text is a fixed point of every detector.

    ``mask`` is ``triggers(text) & plan.mask``: only the steps whose bit is set run, and the
    mask is rescanned whenever the text changes (:func:`_rescan`). A step whose bit is clear
    would have returned the text unchanged (see :func:`crashveil.redact.gates.triggers`), so
    skipping it changes nothing below; ``gated=False`` runs every step, for the tests.
    ``done`` and ``last`` resume the first pass after its first ``done`` steps (``last``: the
    bit of the step that changed the text, as below).

    A detector may turn down a candidate because of its neighbour ("2001:db8::" glued to
    hex digits) and a later detector may then replace that neighbour with a placeholder, so
    one pass is not always enough. If the last detector that changed anything is number k,
    the detectors after it already left the final text unchanged; re-running 0..k and seeing
    no change proves a fixed point (:func:`_check`). Every change swaps text for a
    placeholder, so this settles quickly; a text that does not settle within a few passes
    is dropped whole.

    ``quoted_input`` and ``query_values`` changes need no re-check. The first replaces a span
    from quote to quote with ``<input>``; every detector before it treats quotes and ``<``/``>``
    alike (both end every token and pass every boundary check). The second replaces a value
    between a kept ``=`` and a kept ``&``/``#``/space/quote/``<``/``>`` (or the end) with
    ``<value>``, whose ``<``/``>`` stop every earlier detector's token. No earlier decision can
    flip either way; the idempotence properties in the tests check this.
    """
    steps = plan.steps
    pmask = plan.mask
    pskip = plan.skip
    env = ctx.env
    trig: gates.TriggersFn = gates.triggers if gated else _all_steps
    todo = mask & -(1 << done)
    for _ in range(_MAX_PASSES):
        while todo:  # (inline: every string with a set bit comes here)
            bit = todo & -todo  # the next step to run, in plan order
            new = steps[bit.bit_length() - 1](text, ctx)
            if new is not text and new != text:
                text = new
                if not bit & _SETTLED:
                    last = bit
                # Steps after `last` up to this one run neither again in this pass nor in its
                # check, so their bits need no scan. (_rescan, inline: the hot path.)
                skip = ((bit << 1) - 1) & ~((last << 1) - 1 if last else 0) | pskip
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
        changed, text, mask = _check(text, plan, mask, last, ctx, trig)
        if not changed:
            return text
        ctx.reset(text)
        last = 0  # bit of the last step that changed the text (settled steps aside)
        todo = mask
    return REDACTED


def _check(text: str, plan: _Plan, mask: int, last: int, ctx: Ctx,
           trig: gates.TriggersFn) -> tuple[bool, str, int]:
    """Re-run steps 0..``last`` until one changes the text: ``(changed, text, mask)``."""
    todo = mask & ((last << 1) - 1)
    while todo:
        bit = todo & -todo
        new = plan.steps[bit.bit_length() - 1](text, ctx)
        if new is not text and new != text:
            return True, new, _rescan(new, ctx.env, mask, plan.mask, plan.skip, trig)
        todo ^= bit
    return False, text, mask


def _rescan(text: str, env: bool, mask: int, pmask: int, skip: int, trig: gates.TriggersFn) -> int:
    """The mask of a changed text (the bits in ``skip`` need no scan). A text longer than
    ``_LONG`` rescans only for the steps not yet set to run (set bits stay set: a superset is
    safe), and one longer than ``_HUGE`` is not rescanned at all (every step runs with its own
    gates): on long texts a scan costs about what skipping saves."""
    if len(text) <= _LONG:
        return trig(text, env, skip) & pmask
    if len(text) > _HUGE:
        return pmask
    if pmask & ~(mask | skip):
        return (mask | trig(text, env, mask | skip)) & pmask
    return mask


def _check_placeholders(ph: Mapping[str, str], overrides: Mapping[str, str]) -> None:
    """Refuse placeholders that a detector could match (that would break idempotence)."""
    compile_patterns()
    shape = PATTERNS.re.compile(PLACEHOLDER_SHAPE)
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
