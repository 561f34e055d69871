"""``crashveil policy notice|diff|show|schema|pia|renew``: read, render and compare policy files.

Click and the standard library only: these work with a plain ``pip install crashveil``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from crashveil.cli.options import format_option, policy_option

if TYPE_CHECKING:
    from crashveil.policy import Policy

__all__ = ["policy_group"]

_DEFAULT_POLICY_HELP = "policy file (default: the shipped default policy)"


def _load(path: str | None) -> Policy:
    from crashveil.policy import default_policy, load_policy

    return load_policy(path) if path else default_policy()


@click.group("policy")
def policy_group() -> None:
    """Read, render and compare policy files."""


@policy_group.command("notice")
@policy_option(_DEFAULT_POLICY_HELP)
@format_option("md", "html")
def policy_notice(policy_file: str | None, fmt: str) -> int:
    """Render the user-facing privacy notice."""
    from crashveil.policy.notice import render_notice

    sys.stdout.write(render_notice(_load(policy_file), fmt=fmt))
    return 0


@policy_group.command("diff")
@click.argument("old")
@click.argument("new")
@format_option("text", "json")
def policy_diff(old: str, new: str, fmt: str) -> int:
    """List material changes between two policies (exit 1 if any, 2 if the version was not raised)."""
    from crashveil.policy import load_policy
    from crashveil.policy.diff import diff_policies, format_diff

    result = diff_policies(load_policy(old, require_expiry=False), load_policy(new))
    sys.stdout.write(format_diff(result, fmt=fmt))
    if result.version_error:
        return 2
    return 1 if result.needs_review else 0


@policy_group.command("show")
@policy_option(_DEFAULT_POLICY_HELP)
def policy_show(policy_file: str | None) -> int:
    """Validate a policy and print its version and digest."""
    from crashveil.policy import policy_digest

    policy = _load(policy_file)
    print(f"{policy.name} {policy.version} {policy_digest(policy)}")
    print(f"levels: {' < '.join(policy.level_names)}")
    for level in policy.levels[1:]:
        print(f"  {level.name}: {', '.join(policy.fields_at(level.name))}")
    return 0


@policy_group.command("schema")
def policy_schema() -> int:
    """Print the JSON Schema of the report wire format."""
    import json

    from crashveil.wire import json_schema

    print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return 0


@policy_group.command("pia")
@policy_option(_DEFAULT_POLICY_HELP)
@format_option("md", "html")
def policy_pia(policy_file: str | None, fmt: str) -> int:
    """Draft a privacy impact assessment from a policy."""
    from crashveil.policy.pia import render_pia

    sys.stdout.write(render_pia(_load(policy_file), fmt))
    return 0


@policy_group.command("renew")
@click.argument("field")
@click.option("--until", required=True, help="the new expiry: a date YYYY-MM-DD or release:X.Y")
@click.option("--review", "review_file", required=True,
              help="the review record that renews the field (a file beside the policy, e.g. reviews/....md)")
@policy_option("policy file to edit (default: crashveil.policy.toml)", default="crashveil.policy.toml")
def policy_renew(field: str, until: str, review_file: str, policy_file: str) -> int:
    """Renew a field: write its new expiry and review into the policy file and raise the minor version."""
    import datetime
    from pathlib import Path

    from crashveil.errors import ConfigError, PolicyError
    from crashveil.gate.review import load_review_record
    from crashveil.policy.renew import renew_field

    path = Path(policy_file)
    record = Path(review_file)
    target = record if record.is_absolute() else path.parent / record
    try:
        load_review_record(target, required=True)
        renewal = renew_field(path.read_text(encoding="utf-8"), field, until=until, review=review_file,
                              today=datetime.datetime.now(datetime.UTC).date(), source=str(path))
    except OSError as exc:
        raise ConfigError("--policy", f"cannot read {path} ({exc.strerror})", "an existing policy file") from exc
    except PolicyError as exc:
        print(f"crashveil policy renew: error: {exc}", file=sys.stderr)
        return 2
    path.write_text(renewal.text, encoding="utf-8")
    print(f"renewed fields.{field}: expires {renewal.old_expires or '(not set)'} -> {until}; "
          f"policy version {renewal.old_version} -> {renewal.new_version}")
    return 0
