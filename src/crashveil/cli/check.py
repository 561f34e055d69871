"""``crashveil check``: the privacy gate's command (the gate itself is ``crashveil.gate``).

Exit codes: 0 passed; 1 failed (review needed or invalid policy); 2 usage error or
unreadable input. Click and the standard library only.
"""

from __future__ import annotations

import sys

import click

from crashveil.cli.options import format_option, policy_option
from crashveil.errors import ConfigError
from crashveil.gate.check import DEFAULT_BASELINE, DEFAULT_POLICY, check_policy, update_baseline
from crashveil.gate.findings import EXIT_USAGE, format_result
from crashveil.gate.review import REVIEWS_DIR

__all__ = ["check_command"]


@click.command("check", short_help="Privacy gate: validate the policy; material changes need a review record.",
               epilog="exit codes: 0 passed; 1 failed (review needed or invalid policy); 2 usage error or "
                      "unreadable input")
@policy_option(f"policy file (default: {DEFAULT_POLICY})", default=DEFAULT_POLICY)
@click.option("--baseline", default=None,
              help=f"last reviewed policy (default: {DEFAULT_BASELINE} beside the policy, if present)")
@click.option("--reviews", default=None,
              help=f"directory of review records (default: {REVIEWS_DIR}/ beside the policy)")
@format_option("text", "json")
@click.option("--expiry-warning-days", type=click.IntRange(0, 365), default=None,
              help="warn this many days before a field expires (default: the policy's expiry_warning_days, else 30)")
@click.option("--update-baseline", "move_baseline", is_flag=True,
              help="after a passing check, copy the reviewed policy over the baseline")
def check_command(policy_file: str, baseline: str | None, reviews: str | None, fmt: str,
                  expiry_warning_days: int | None, move_baseline: bool) -> int:
    """Validate the policy, compare it with the committed baseline and require a review record for every
    material change."""
    try:
        result = check_policy(policy_file, baseline, reviews_dir=reviews, expiry_warning_days=expiry_warning_days)
        if move_baseline and result.passed:
            target = update_baseline(policy_file, baseline)
            print(f"crashveil check: baseline {target} updated", file=sys.stderr)
    except ConfigError as exc:
        if fmt == "json":
            import json

            sys.stdout.write(json.dumps({"passed": False, "exit_code": EXIT_USAGE, "error": str(exc)}, indent=2) + "\n")
        else:
            print(f"crashveil check: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(format_result(result, fmt=fmt))
    return result.exit_code
