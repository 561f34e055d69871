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

Everything here is stdlib and returns a ``CheckResult``; the command (``crashveil.cli.check``)
only renders it.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crashveil.errors import ConfigError, PolicyError

if TYPE_CHECKING:
    from crashveil.policy.diff import Change
    from crashveil.policy.model import Policy

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_BASELINE",
    "REVIEWS_DIR",
    "EXIT_PASS",
    "EXIT_FAIL",
    "EXIT_USAGE",
    "Problem",
    "ReviewRecord",
    "CheckResult",
    "check_policy",
    "load_review_record",
    "format_result",
    "update_baseline",
]

DEFAULT_POLICY = "crashveil.policy.toml"
DEFAULT_BASELINE = "crashveil.baseline.toml"
#: Review records live in this directory beside the policy.
REVIEWS_DIR = "reviews"

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_USAGE = 2

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_RECORD_REQUIRED = {"reviewer", "date", "policy_digest", "reason"}
_RECORD_OPTIONAL = {"changes", "policy_version"}
_FRONT = "+++"


@dataclass(frozen=True)
class Problem:
    """One reason the gate fails: a short ``code``, the key path or file, and what is wrong.

    Codes: ``policy_invalid``, ``retention_above_ceiling``, ``review_missing``,
    ``review_invalid``, ``review_needed``, ``review_incomplete``, ``version_not_bumped``,
    ``baseline_invalid``, ``baseline_unreviewed``.
    """

    code: str
    path: str
    message: str


@dataclass(frozen=True)
class ReviewRecord:
    """A committed privacy review of one exact policy (by digest)."""

    source: str
    reviewer: str
    date: datetime.date
    policy_digest: str
    reason: str
    changes: tuple[str, ...] = ()
    policy_version: str | None = None


@dataclass(frozen=True)
class CheckResult:
    """What ``check_policy`` found. ``exit_code`` is 0 when ``passed``, else 1."""

    policy_path: str
    baseline_path: str | None
    policy_name: str | None = None
    policy_version: str | None = None
    policy_digest: str | None = None
    baseline_version: str | None = None
    baseline_digest: str | None = None
    changes: tuple[Change, ...] = ()
    reviews: tuple[ReviewRecord, ...] = ()
    problems: tuple[Problem, ...] = field(default_factory=tuple)
    today: datetime.date | None = None
    #: ``[consent] server_mode_max_level``: operators of server software may grant up to this level.
    server_mode_max_level: str | None = None

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return EXIT_PASS if self.passed else EXIT_FAIL

    @property
    def material(self) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if change.material)

    @property
    def needs_review(self) -> bool:
        """True when a review record for this policy's digest would make the gate pass."""
        return any(problem.code in ("review_needed", "review_incomplete") for problem in self.problems)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``crashveil check --format json``)."""
        return {
            "passed": self.passed,
            "exit_code": self.exit_code,
            "policy": {"path": self.policy_path, "name": self.policy_name, "version": self.policy_version,
                       "digest": self.policy_digest},
            "baseline": None if self.baseline_path is None else {
                "path": self.baseline_path, "version": self.baseline_version, "digest": self.baseline_digest},
            "changes": [{"path": c.path, "kind": c.kind, "detail": c.detail, "material": c.material}
                        for c in self.changes],
            "reviews": [{"source": r.source, "reviewer": r.reviewer, "date": r.date.isoformat(),
                         "reason": r.reason, "changes": list(r.changes)} for r in self.reviews],
            "problems": [{"code": p.code, "path": p.path, "message": p.message} for p in self.problems],
            "server_mode_max_level": self.server_mode_max_level,
            "needs_review": self.needs_review,
            "review_template": review_template(self) if self.needs_review else None,
        }


def check_policy(policy_path: str | Path = DEFAULT_POLICY, baseline_path: str | Path | None = None, *,
                 reviews_dir: str | Path | None = None, today: datetime.date | None = None) -> CheckResult:
    """Run the gate on the policy at ``policy_path``.

    Args:
        policy_path: the app's policy file.
        baseline_path: the last reviewed policy. ``None`` means ``crashveil.baseline.toml``
            beside the policy if it exists; with no baseline the whole policy needs a review.
        reviews_dir: where review records live (default ``reviews/`` beside the policy).
        today: the date used in the suggested review record (default: today).

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

    from crashveil.policy.digest import policy_digest

    digest = policy_digest(policy)
    matching = tuple(record for record in records if record.policy_digest == digest)
    result = _with(result, policy_name=policy.name, policy_version=policy.version, policy_digest=digest,
                   reviews=matching, server_mode_max_level=policy.server_mode_max_level)
    for record in matching:
        if record.policy_version is not None and record.policy_version != policy.version:
            problems.append(Problem("review_invalid", f"{record.source}: policy_version",
                                    f"says {record.policy_version} but the policy with this digest is "
                                    f"version {policy.version}"))

    if baseline_document is None:
        if not matching:
            problems.append(Problem("review_needed", "policy",
                                    f"no baseline ({DEFAULT_BASELINE}), so the whole policy needs a review record "
                                    f"with policy_digest = \"{digest}\""))
        return _with(result, problems=tuple(problems))

    baseline = _parse(baseline_document, str(baseline_path), "baseline_invalid", problems)
    if baseline is None:
        return _with(result, problems=tuple(problems))
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
        problems.extend(_review_problems(diff.material, matching, digest))
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


def load_review_record(path: str | Path, *, source: str | None = None, required: bool = True
                       ) -> ReviewRecord | None:
    """Read one review record (``.toml``, or ``.md`` with a ``+++`` TOML front block).

    Returns ``None`` for a Markdown file without a front block when ``required`` is false
    (prose such as a README in ``reviews/``).

    Raises:
        PolicyError: the record is unreadable or breaks a rule; names the file and key.
    """
    import tomllib

    source = source or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(source, "", "cannot read the review record as UTF-8 text") from exc
    if Path(path).suffix == ".md":
        lines = text.splitlines()
        if not lines or lines[0].strip() != _FRONT:
            if not required:
                return None
            raise PolicyError(source, "", "no TOML front block", f"the file to start with a '{_FRONT}' line")
        try:
            end = next(index for index, line in enumerate(lines[1:], 1) if line.strip() == _FRONT)
        except StopIteration:
            raise PolicyError(source, "", "the front block is not closed", f"a second '{_FRONT}' line") from None
        text = "\n".join(lines[1:end])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, "", f"not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - _RECORD_REQUIRED - _RECORD_OPTIONAL)
    if unknown:
        raise PolicyError(source, unknown[0], "unknown key",
                          f"one of: {', '.join(sorted(_RECORD_REQUIRED | _RECORD_OPTIONAL))}")
    missing = sorted(_RECORD_REQUIRED - set(data))
    if missing:
        raise PolicyError(source, missing[0], "missing key")
    for key in ("reviewer", "reason"):
        if not isinstance(data[key], str) or not data[key].strip() or data[key].strip().upper() in ("TODO", "TBD"):
            raise PolicyError(source, key, "is empty or a placeholder", "a non-empty string")
    date = data["date"]
    if isinstance(date, str):
        try:
            date = datetime.date.fromisoformat(date)
        except ValueError:
            date = None
    if isinstance(date, datetime.datetime) or not isinstance(date, datetime.date):
        raise PolicyError(source, "date", "is not a date", "a date such as 2026-12-01")
    digest = data["policy_digest"]
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise PolicyError(source, "policy_digest", "has the wrong form", "\"sha256:\" and 64 hex digits")
    changes = data.get("changes", [])
    if not isinstance(changes, list) or not all(isinstance(item, str) and item for item in changes):
        raise PolicyError(source, "changes", "is not a list of strings",
                          "policy key paths such as \"fields.message.level\"")
    version = data.get("policy_version")
    if version is not None and not isinstance(version, str):
        raise PolicyError(source, "policy_version", "is not a string", "a version such as \"1.1.0\"")
    return ReviewRecord(source=source, reviewer=data["reviewer"].strip(), date=date, policy_digest=digest,
                        reason=data["reason"].strip(), changes=tuple(changes), policy_version=version)


def review_template(result: CheckResult) -> str:
    """The review record a reviewer would commit to make ``result`` pass (TOML text)."""
    today = (result.today or datetime.date.today()).isoformat()
    lines = [
        'reviewer = "Name <email>"',
        f"date = {today}",
        f'policy_digest = "{result.policy_digest}"',
        f'policy_version = "{result.policy_version}"',
        'reason = "Why these changes are needed, and why they are acceptable for the people who crash."',
    ]
    material = result.material
    if material:
        lines.append("changes = [")
        lines.extend(f'  "{change.path}",' for change in material)
        lines.append("]")
    return "\n".join(lines) + "\n"


def suggested_record_name(result: CheckResult) -> str:
    today = (result.today or datetime.date.today()).isoformat()
    name = re.sub(r"[^a-z0-9.-]+", "-", (result.policy_name or "policy").lower())
    return f"{REVIEWS_DIR}/{today}-{name}-{result.policy_version}.toml"


def format_result(result: CheckResult, *, fmt: str = "text") -> str:
    """Render ``result`` for a person (``text``) or a tool (``json``)."""
    if fmt == "json":
        import json

        return json.dumps(result.to_dict(), indent=2) + "\n"
    verdict = "passed" if result.passed else "FAILED"
    lines = [f"crashveil check: {verdict}"]
    if result.policy_digest:
        lines.append(f"  policy    {result.policy_path}  {result.policy_name} {result.policy_version}  "
                     f"{result.policy_digest}")
    else:
        lines.append(f"  policy    {result.policy_path}")
    if result.baseline_path is not None:
        lines.append(f"  baseline  {result.baseline_path}  {result.baseline_version or '?'}  "
                     f"{result.baseline_digest or ''}".rstrip())
    else:
        lines.append("  baseline  none")
    for record in result.reviews:
        lines.append(f"  reviewed  {record.source} by {record.reviewer} on {record.date.isoformat()}")
    if result.server_mode_max_level is not None:
        lines.append(f"  server mode  allowed: operators may grant '{result.server_mode_max_level}' for everyone "
                     "([consent] server_mode_max_level)")
    if result.changes:
        lines.append("")
        lines.append("Changes since the baseline:")
        for change in result.changes:
            mark = "MATERIAL" if change.material else "minor   "
            lines.append(f"  {mark}  {change.path}: {change.detail}")
    if result.problems:
        lines.append("")
        lines.append("Problems:")
        for problem in result.problems:
            lines.append(f"  {problem.code}  {problem.path}: {problem.message}")
    if result.needs_review:
        lines.append("")
        what = "the changes marked MATERIAL" if result.baseline_path is not None else "the whole policy"
        lines.append(f"To pass, a privacy reviewer reviews {what} and commits a record beside the policy,")
        lines.append(f"for example {suggested_record_name(result)}:")
        lines.append("")
        lines.extend(f"    {line}" for line in review_template(result).splitlines())
    return "\n".join(lines) + "\n"


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


def _parse(document: Mapping[str, Any], source: str, code: str, problems: list[Problem]) -> Policy | None:
    """Parse with the strict loader; its error becomes a problem unless already reported."""
    from crashveil.policy.loader import parse_policy

    try:
        return parse_policy(document, source=source)
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
