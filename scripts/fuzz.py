#!/usr/bin/env python3
"""Coverage-guided fuzzing of the parsers that read attacker bytes, with atheris.

Usage::

    python scripts/fuzz.py                      # every target, 60 s each (atheris)
    python scripts/fuzz.py --seconds 600 report # one target, longer
    python scripts/fuzz.py --hypothesis 20000   # no atheris: the same targets under hypothesis

Targets (each takes bytes; only the exception named is allowed out, anything else is a bug):

=========  ===========================================================  ==================
redact     ``Redactor().redact(text, kind)`` on the bytes as UTF-8        nothing
           (surrogates kept), every kind; the result is idempotent
report     ``report_from_json(data, drop_unknown=True)``: the wire         ``ReportError``
           format parser every sealed report goes through
envelope   ``EnvelopeParser.feed`` in 3 chunks + ``finish``: the Sentry   ``ReportRejected``
           envelope framing
sealed     ``open_report`` with a real key: the HPKE envelope framing      ``SealError``
policy     ``load_policy`` of the bytes as a file (TOML, then the         ``PolicyError``
           policy rules)
=========  ===========================================================  ==================

atheris (``pip install atheris``; wheels for CPython on Linux x86-64) runs each target in a
child process for ``--seconds`` and prints its runs; a crash leaves ``crash-*`` with the
input in the current directory and makes this exit 1. The CI version is ``tests/fuzz/``:
the same parsers (and more properties: chunking invariance, round trips, linear time) under
hypothesis, a bounded number of examples each.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_KINDS = ("message", "path", "env")
_state: dict[str, object] = {}


def _redactor() -> object:
    if "redactor" not in _state:
        from crashveil.redact import Redactor

        _state["redactor"] = Redactor()
    return _state["redactor"]


def fuzz_redact(data: bytes) -> None:
    kind = _KINDS[data[0] % len(_KINDS)] if data else "message"
    text = data[1:].decode("utf-8", "surrogateescape")
    redactor = _redactor()
    once = redactor.redact(text, kind)  # type: ignore[attr-defined]
    if not isinstance(once, str):
        raise AssertionError("redact returned a non-string")
    if redactor.redact(once, kind) != once:  # type: ignore[attr-defined]
        raise AssertionError("redaction is not idempotent")


def fuzz_report(data: bytes) -> None:
    from crashveil.errors import ReportError
    from crashveil.wire import report_from_json

    try:
        report_from_json(data, drop_unknown=True)
    except ReportError:
        pass


def fuzz_envelope(data: bytes) -> None:
    from crashveil.errors import ReportRejected
    from crashveil.server.sentry.routes import EnvelopeParser, SentryLimits

    parser = EnvelopeParser(SentryLimits())
    third = max(1, len(data) // 3)
    try:
        for start in range(0, len(data), third):
            parser.feed(data[start:start + third])
        parser.finish()
    except ReportRejected:
        pass


def _keypair() -> object:
    if "keypair" not in _state:
        from crashveil.server.keys.crypto import ProjectKeyPair

        _state["keypair"] = ProjectKeyPair.generate("x25519")
    return _state["keypair"]


def fuzz_sealed(data: bytes) -> None:
    from crashveil.errors import SealError
    from crashveil.server.keys.crypto import open_report

    try:
        open_report(data, [_keypair()], project_id="demo", schema_version=1)  # type: ignore[list-item]
    except SealError:
        pass


def fuzz_policy(data: bytes) -> None:
    import tempfile

    from crashveil.errors import PolicyError
    from crashveil.policy import load_policy

    with tempfile.NamedTemporaryFile(suffix=".toml") as file:
        file.write(data)
        file.flush()
        try:
            load_policy(file.name)
        except PolicyError:
            pass


TARGETS: dict[str, Callable[[bytes], None]] = {
    "redact": fuzz_redact, "report": fuzz_report, "envelope": fuzz_envelope, "sealed": fuzz_sealed,
    "policy": fuzz_policy,
}


def seeds(target: str) -> list[bytes]:
    """Valid inputs to start from, so mutations reach past the first check."""
    if target == "report":
        from crashveil.policy import compute_fingerprint, default_policy, policy_digest
        from crashveil.wire import Environment, Frame, Report, Stack

        frames = (Frame("app/main.py", "main", 3, True),)
        report = Report(schema_version=1, policy_digest=policy_digest(default_policy()), consent_level="diagnostic",
                        report_id="8d5b8f5e-3c8e-4a8a-9a53-1d2b0f8f2a11", crash_type="KeyError",
                        fingerprint=compute_fingerprint("KeyError", frames), stack=Stack(frames), release="1.0",
                        environment=Environment("linux", "6", "cpython", "3.11", "x86_64"),
                        message="no key /home/alice/x", occurred_hour="2026-05-01T12:00Z", install_id="ab" * 16)
        return [report.to_json()]
    if target == "envelope":
        return [path.read_bytes() for path in sorted((ROOT / "tests" / "sentry" / "fixtures").glob("*.envelope"))]
    if target == "sealed":
        from crashveil.sdk.delivery.seal import seal_report

        key = _keypair().public_key()  # type: ignore[attr-defined]
        return [seal_report(b'{"a":1}', key, project_id="demo", schema_version=1)]
    if target == "policy":
        return [(ROOT / "src" / "crashveil" / "policy" / "default.policy.toml").read_bytes()]
    return [b"\x00mail alice@example.com from /home/alice/.ssh/id_rsa token=ghp_" + b"a" * 36]


def _child(target: str, seconds: int, corpus: Path) -> None:
    import atheris

    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds(target)):
        (corpus / f"seed-{i}").write_bytes(seed)
    fn = TARGETS[target]
    try:
        fn(b"")  # import what the target reads, so that it is instrumented below
    except Exception:  # noqa: BLE001 - the fuzzer reports real failures
        pass
    atheris.instrument_all()  # coverage feedback from our Python code, not only from C
    atheris.Setup([sys.argv[0], f"-max_total_time={seconds}", "-rss_limit_mb=2048", "-timeout=10",
                   "-print_final_stats=1", str(corpus)], fn)
    atheris.Fuzz()


def run_atheris(targets: list[str], seconds: int) -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    for target in targets:
        started = time.monotonic()
        done = subprocess.run([sys.executable, __file__, "--child", target, "--seconds", str(seconds)],
                              capture_output=True, text=True, cwd=str(ROOT / "test-output"))
        runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", done.stderr)
        results[target] = {"engine": "atheris", "seconds": round(time.monotonic() - started, 1),
                           "runs": int(runs[-1]) if runs else None, "crashed": done.returncode != 0}
        if done.returncode != 0:
            results[target]["output"] = done.stderr[-3000:]
    return results


def run_hypothesis(targets: list[str], examples: int) -> dict[str, dict[str, object]]:
    from hypothesis import HealthCheck, given, settings, strategies as st

    results: dict[str, dict[str, object]] = {}
    for target in targets:
        fn = TARGETS[target]
        pool = seeds(target)
        mutated = st.tuples(st.sampled_from(pool), st.integers(0, 4096), st.binary(max_size=64)).map(
            lambda t: t[0][: t[1] % (len(t[0]) + 1)] + t[2] + t[0][t[1] % (len(t[0]) + 1) + len(t[2]):])
        started = time.monotonic()

        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.one_of(st.binary(max_size=4096), mutated))
        def run(data: bytes) -> None:
            fn(data)  # noqa: B023 - run() is called below, in this same iteration

        try:
            run()
            crashed = False
        except Exception as exc:  # noqa: BLE001 - reported as the target's failure
            crashed = True
            results[target] = {"output": repr(exc)[:2000]}
        results.setdefault(target, {}).update({"engine": "hypothesis", "examples": examples, "crashed": crashed,
                                               "seconds": round(time.monotonic() - started, 1)})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Fuzz the redactor, the report, envelope and sealed-report parsers, the policy loader."
    )
    parser.add_argument("targets", nargs="*", choices=[*TARGETS, []], default=[])
    parser.add_argument("--seconds", type=int, default=60, help="atheris: seconds per target")
    parser.add_argument("--hypothesis", type=int, default=0, metavar="N", help="use hypothesis, N examples each")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.seconds, ROOT / "test-output" / "fuzz-corpus" / args.child)
        return 0
    targets = list(args.targets) or list(TARGETS)
    (ROOT / "test-output").mkdir(exist_ok=True)
    use_hypothesis = bool(args.hypothesis)
    if not use_hypothesis:
        try:
            import atheris  # noqa: F401
        except ImportError:
            print("atheris is not installed (pip install atheris): using hypothesis, 20000 examples per target")
            use_hypothesis, args.hypothesis = True, 20000
    results = run_hypothesis(targets, args.hypothesis) if use_hypothesis else run_atheris(targets, args.seconds)
    for target, result in results.items():
        print(f"{target:<9} " + "  ".join(f"{k}={v}" for k, v in result.items() if k != "output"))
        if result.get("crashed"):
            print(result.get("output", ""))
    import json

    (ROOT / "test-output" / "fuzz.json").write_text(json.dumps(results, indent=2) + "\n")
    return 1 if any(r["crashed"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
