"""The privacy gate: ``crashveil check``, run in an app's CI and pre-commit hooks.

The gate stops a privacy regression before it ships, the way Glean's registry lint stops a
metric without a data review. It reads three things that live together in the app's
repository::

    crashveil.policy.toml      the policy the app ships
    crashveil.baseline.toml    the last reviewed policy (committed; the gate compares with it)
    reviews/*.toml, *.md       review records: who reviewed which policy digest, when, why

and fails when

* the policy is invalid (any ``PolicyError``, named by key path), a field keeps data longer
  than ``policy.retention_ceiling_days``, or a field's ``review`` does not name a review
  record file beside the policy;
* the policy changed materially since the baseline (``crashveil policy diff``) and no
  review record carries the new policy's digest, or a record lists the changes it covers
  and misses one, or the version was not raised;
* the baseline itself was never reviewed (so a change cannot pass by editing the baseline).

A review record is a TOML file, or a Markdown file whose TOML front block sits between two
``+++`` lines (prose for people may follow)::

    reviewer = "Dana Privacy <dana@example.org>"
    date = 2026-12-01
    policy_digest = "sha256:…"      # crashveil check prints the value to review
    reason = "Why the change is needed and why it is acceptable."
    changes = ["fields.breadcrumbs.level"]   # optional: the material changes reviewed
    policy_version = "1.1.0"                  # optional

Exit codes: 0 the gate passes; 1 the gate fails (review needed, invalid policy or review
record); 2 usage error or unreadable input (missing file, not UTF-8 or not TOML).

Everything here is stdlib and returns a ``CheckResult`` (``findings.py``, which also renders
it for the command, ``crashveil.cli.check``); ``review.py`` reads the review records.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crashveil.errors import ConfigError, PolicyError
from crashveil.gate.findings import CheckResult, Problem
from crashveil.gate.review import REVIEWS_DIR, ReviewRecord, load_review_record

if TYPE_CHECKING:
    from crashveil.policy.diff import Change
    from crashveil.policy.model import Policy

__all__ = ["DEFAULT_POLICY", "DEFAULT_BASELINE", "check_policy", "update_baseline"]

DEFAULT_POLICY = "crashveil.policy.toml"
DEFAULT_BASELINE = "crashveil.baseline.toml"


def check_policy(policy_path: str | Path = DEFAULT_POLICY, baseline_path: str | Path | None = None, *,
                 reviews_dir: str | Path | None = None, today: datetime.date | None = None,
                 expiry_warning_days: int | None = None) -> CheckResult:
    """Run the gate on the policy at ``policy_path``.

    Args:
        policy_path: the app's policy file.
        baseline_path: the last reviewed policy. ``None`` means ``crashveil.baseline.toml``
            beside the policy if it exists; with no baseline the whole policy needs a review.
        reviews_dir: where review records live (default ``reviews/`` beside the policy).
        today: the date used in the suggested review record and for field expiry (default: today).
        expiry_warning_days: warn this many days before a field expires (default: the
            policy's ``expiry_warning_days``, else ``gate.expiry.DEFAULT_WARNING_DAYS``).

    Returns:
        A ``CheckResult``; its ``problems`` list every reason the gate fails.

    Raises:
        ConfigError: a file given is missing, unreadable, not UTF-8 or not TOML (exit 2).
    """
    policy_file = Path(policy_path)
    base = policy_file.parent
    document = _read_toml(policy_file, "--policy")
    if baseline_path is None and (base / DEFAULT_BASELINE).is_file():
        baseline_path = base / DEFAULT_BASELINE
    baseline_document = _read_toml(Path(baseline_path), "--baseline") if baseline_path is not None else None
    records_dir = Path(reviews_dir) if reviews_dir is not None else base / REVIEWS_DIR

    problems: list[Problem] = []
    records, record_problems = _collect_records(document, base, records_dir)
    problems.extend(_lint_fields(document, base))
    problems.extend(record_problems.values())

    policy = _parse(document, str(policy_file), "policy_invalid", problems)
    result = CheckResult(policy_path=_shown(policy_file),
                         baseline_path=_shown(Path(baseline_path)) if baseline_path is not None else None,
                         today=today or datetime.date.today())
    if policy is None:
        return _with(result, problems=tuple(problems))
    result = _reviewed(result, policy, records, problems)
    from crashveil.gate.expiry import expiry_findings

    expired, expiring = expiry_findings(policy, records, today=result.today or datetime.date.today(),
                                        warning_days=expiry_warning_days)
    problems.extend(expired)
    result = _with(result, warnings=tuple(expiring))
    if baseline_document is None:
        if not result.reviews:
            problems.append(Problem("review_needed", "policy",
                                    f"no baseline ({DEFAULT_BASELINE}), so the whole policy needs a review record "
                                    f"with policy_digest = \"{result.policy_digest}\""))
        return _with(result, problems=tuple(problems))
    baseline = _parse(baseline_document, str(baseline_path), "baseline_invalid", problems, require_expiry=False)
    if baseline is None:
        return _with(result, problems=tuple(problems))
    return _against_baseline(result, policy, baseline, records, problems)


def _reviewed(result: CheckResult, policy: Policy, records: list[ReviewRecord], problems: list[Problem]
              ) -> CheckResult:
    """``result`` with the policy's digest and the review records of that digest (whose stated
    version must be the policy's: a problem otherwise)."""
    from crashveil.policy.digest import policy_digest

    digest = policy_digest(policy)
    matching = tuple(record for record in records if record.policy_digest == digest)
    for record in matching:
        if record.policy_version is not None and record.policy_version != policy.version:
            problems.append(Problem("review_invalid", f"{record.source}: policy_version",
                                    f"says {record.policy_version} but the policy with this digest is "
                                    f"version {policy.version}"))
    return _with(result, policy_name=policy.name, policy_version=policy.version, policy_digest=digest,
                 reviews=matching, server_mode_max_level=policy.server_mode_max_level)


def _against_baseline(result: CheckResult, policy: Policy, baseline: Policy, records: list[ReviewRecord],
                      problems: list[Problem]) -> CheckResult:
    """The gate's answer for a policy with a baseline: the changes, and the reviews they need."""
    from crashveil.policy.diff import diff_policies

    diff = diff_policies(baseline, policy)
    result = _with(result, baseline_version=baseline.version, baseline_digest=diff.old_digest, changes=diff.changes)
    if not any(record.policy_digest == diff.old_digest for record in records):
        problems.append(Problem("baseline_unreviewed", result.baseline_path or "",
                                f"no review record has the baseline's digest \"{diff.old_digest}\"; the baseline "
                                "may only be a policy that was reviewed"))
    if diff.version_error:
        problems.append(Problem("version_not_bumped", "policy.version", diff.version_error))
    if diff.needs_review:
        problems.extend(_review_problems(diff.material, result.reviews, result.policy_digest or ""))
    return _with(result, problems=tuple(problems))


def _review_problems(material: tuple[Change, ...], matching: tuple[ReviewRecord, ...], digest: str) -> list[Problem]:
    count = f"{len(material)} material change{'s' if len(material) != 1 else ''}"
    if not matching:
        return [Problem("review_needed", "policy",
                        f"{count} since the baseline and no review record has policy_digest = \"{digest}\"")]
    needed = {change.path for change in material}
    for record in matching:
        if not record.changes or needed <= set(record.changes):
            return []
    record = matching[0]
    missing = sorted(needed - set(record.changes))
    return [Problem("review_incomplete", record.source, f"lists the changes it reviewed but not: {', '.join(missing)}")]


def _lint_fields(document: Mapping[str, Any], base: Path) -> list[Problem]:
    """Per-field rules checked on the raw document, so every offending field is named at once."""
    problems: list[Problem] = []
    head = document.get("policy")
    ceiling = head.get("retention_ceiling_days") if isinstance(head, dict) else None
    fields = document.get("fields")
    if not isinstance(fields, dict):
        return problems
    for name, body in fields.items():
        if not isinstance(body, dict):
            continue
        retention = body.get("retention_days")
        if (isinstance(ceiling, int) and isinstance(retention, int) and not isinstance(retention, bool)
                and retention > ceiling):
            problems.append(Problem("retention_above_ceiling", f"fields.{name}.retention_days",
                                    f"keeps data {retention} days, above policy.retention_ceiling_days = {ceiling}"))
        reference = body.get("review")
        path = f"fields.{name}.review"
        if not isinstance(reference, str) or not reference.strip():
            problems.append(Problem("review_missing", path, "no review: name the review record file of this field"))
            continue
        target = _resolve(base, reference)
        if target is None or not target.is_file():
            problems.append(Problem("review_missing", path,
                                    f"names {reference!r}, which is not a review record file beside the policy"))
    return problems + _lint_forwarding(document, base)


def _lint_forwarding(document: Mapping[str, Any], base: Path) -> list[Problem]:
    """Each ``[forwarding.NAME]`` destination names a review record beside the policy."""
    forwarding = document.get("forwarding")
    problems: list[Problem] = []
    for name, body in (forwarding.items() if isinstance(forwarding, dict) else ()):
        reference = body.get("review") if isinstance(body, dict) else None
        target = _resolve(base, reference) if isinstance(reference, str) and reference.strip() else None
        if target is None or not target.is_file():
            problems.append(Problem("review_missing", f"forwarding.{name}.review",
                                    "no review record file beside the policy for this destination"))
    return problems


def _collect_records(document: Mapping[str, Any], base: Path, records_dir: Path
                     ) -> tuple[list[ReviewRecord], dict[str, Problem]]:
    """Every record in ``reviews/`` plus every record a field names, parsed once each."""
    candidates: dict[Path, bool] = {}
    if records_dir.is_dir():
        for path in sorted(records_dir.iterdir()):
            if path.suffix == ".toml" and path.is_file():
                candidates[path.resolve()] = True
            elif path.suffix == ".md" and path.is_file():
                candidates.setdefault(path.resolve(), False)
    fields = document.get("fields")
    for body in (fields.values() if isinstance(fields, dict) else ()):
        reference = body.get("review") if isinstance(body, dict) else None
        target = _resolve(base, reference) if isinstance(reference, str) and reference.strip() else None
        if target is not None and target.is_file():
            candidates[target.resolve()] = True
    records: list[ReviewRecord] = []
    problems: dict[str, Problem] = {}
    for path, required in candidates.items():
        shown = _relative(path, base)
        try:
            record = load_review_record(path, source=shown, required=required)
        except PolicyError as exc:
            problems[shown] = Problem("review_invalid", f"{shown}: {exc.key_path}".rstrip(": "),
                                      f"{exc.problem}" + (f" (expected {exc.expected})" if exc.expected else ""))
            continue
        if record is not None:
            records.append(record)
    return records, problems


def update_baseline(policy_path: str | Path, baseline_path: str | Path | None = None) -> Path:
    """Copy the policy over the baseline; only a policy with a matching review record may be one.

    Raises:
        ConfigError: the policy fails the gate or has no review record of its own.
    """
    policy_file = Path(policy_path)
    target = Path(baseline_path) if baseline_path is not None else policy_file.parent / DEFAULT_BASELINE
    result = check_policy(policy_file, target if target.is_file() else None)
    if not result.passed or not result.reviews:
        raise ConfigError("--update-baseline", "the policy has no review record of its own or fails the gate",
                          "a policy that passes with a review record whose policy_digest is its digest")
    target.write_bytes(policy_file.read_bytes())
    return target


# -- helpers -------------------------------------------------------------------------------

def _read_toml(path: Path, option: str) -> dict[str, Any]:
    import tomllib

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(option, f"cannot read {path} ({exc.strerror})", "an existing policy file") from exc
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(option, f"{path} is not UTF-8 text", "a TOML policy file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(option, f"{path} is not valid TOML ({exc})", "a TOML policy file") from exc


def _parse(document: Mapping[str, Any], source: str, code: str, problems: list[Problem], *,
           require_expiry: bool = True) -> Policy | None:
    """Parse with the strict loader (a baseline from before expiry may lack ``expires``); its
    error becomes a problem unless already reported."""
    from crashveil.policy.loader import parse_policy

    try:
        return parse_policy(document, source=source, require_expiry=require_expiry)
    except PolicyError as exc:
        known = {problem.path for problem in problems}
        if exc.key_path not in known:
            message = exc.problem + (f" (expected {exc.expected})" if exc.expected else "")
            prefix = "" if code == "policy_invalid" else f"{_shown(Path(source))}: "
            problems.append(Problem(code, prefix + (exc.key_path or "<top>"), message))
        return None


def _resolve(base: Path, reference: str) -> Path | None:
    """A field's review reference as a file beside the policy; URLs and absolute paths are refused."""
    if "://" in reference or Path(reference).is_absolute():
        return None
    return base / reference


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _with(result: CheckResult, **changes: Any) -> CheckResult:
    import dataclasses

    return dataclasses.replace(result, **changes)
