"""What the privacy gate found (a ``CheckResult`` and its problems) and how it is shown.

``crashveil.gate.check`` fills a ``CheckResult``; the command (``crashveil.cli.check``)
prints :func:`format_result` of it, as text for people or JSON for tools. Stdlib only.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crashveil.gate.review import REVIEWS_DIR, ReviewRecord

if TYPE_CHECKING:
    from crashveil.policy.diff import Change

__all__ = [
    "EXIT_PASS",
    "EXIT_FAIL",
    "EXIT_USAGE",
    "Problem",
    "CheckResult",
    "format_result",
    "review_template",
    "suggested_record_name",
]

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_USAGE = 2


@dataclass(frozen=True)
class Problem:
    """One reason the gate fails: a short ``code``, the key path or file, and what is wrong.

    Codes: ``policy_invalid``, ``retention_above_ceiling``, ``review_missing``,
    ``review_invalid``, ``review_needed``, ``review_incomplete``, ``version_not_bumped``,
    ``baseline_invalid``, ``baseline_unreviewed``, ``field_expired`` (warnings:
    ``field_expiring``).
    """

    code: str
    path: str
    message: str


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
    #: ``[consent] server_mode_max_level``: operators of server software may grant up to this level.
    server_mode_max_level: str | None = None
    today: datetime.date | None = None
    #: What does not fail the gate but needs attention soon (``field_expiring``: ``gate/expiry.py``).
    warnings: tuple[Problem, ...] = ()

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
            "warnings": [{"code": p.code, "path": p.path, "message": p.message} for p in self.warnings],
            "server_mode_max_level": self.server_mode_max_level,
            "needs_review": self.needs_review,
            "review_template": review_template(self) if self.needs_review else None,
        }


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
    if result.warnings:
        lines.append("")
        lines.append("Warnings:")
        lines.extend(f"  {warning.code}  {warning.path}: {warning.message}" for warning in result.warnings)
    if result.needs_review:
        lines.append("")
        what = "the changes marked MATERIAL" if result.baseline_path is not None else "the whole policy"
        lines.append(f"To pass, a privacy reviewer reviews {what} and commits a record beside the policy,")
        lines.append(f"for example {suggested_record_name(result)}:")
        lines.append("")
        lines.extend(f"    {line}" for line in review_template(result).splitlines())
    return "\n".join(lines) + "\n"
