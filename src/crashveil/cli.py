"""The ``crashveil`` command.

The SDK-side commands (``policy``, ``client``, ``check``) use only the standard library, so
they work with a plain ``pip install crashveil``. The server's command groups live in
``crashveil.server.cli.main`` (click) and need ``pip install 'crashveil[server]'``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from crashveil.errors import CrashveilError

__all__ = ["main"]

#: Command groups served by ``crashveil.server.cli.main`` (the server extra).
SERVER_GROUPS = ("server", "project", "keys", "user", "token", "audit", "retention", "release", "demo")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SERVER_GROUPS:
        return _run_server_cli(args)
    parser = _build_parser()
    namespace = parser.parse_args(args)
    if not getattr(namespace, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(namespace.handler(namespace) or 0)
    except CrashveilError as exc:
        print(f"crashveil: error: {exc}", file=sys.stderr)
        return 2


def _run_server_cli(args: list[str]) -> int:
    try:
        from crashveil.server.cli.main import main as server_main
    except ImportError as exc:
        print(f"crashveil: '{args[0]}' needs the server extra: pip install 'crashveil[server]' ({exc})",
              file=sys.stderr)
        return 2
    return int(server_main(args) or 0)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crashveil", description="Privacy-first crash reporting.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    policy = commands.add_parser("policy", help="read, render and compare policy files")
    policy_commands = policy.add_subparsers(title="policy commands", metavar="COMMAND")

    notice = policy_commands.add_parser("notice", help="render the user-facing privacy notice")
    notice.add_argument("--policy", help="policy file (default: the shipped default policy)")
    notice.add_argument("--format", choices=("md", "html"), default="md")
    notice.set_defaults(handler=_policy_notice)

    diff = policy_commands.add_parser("diff", help="list material changes between two policies (exit 1 if any)")
    diff.add_argument("old")
    diff.add_argument("new")
    diff.add_argument("--format", choices=("text", "json"), default="text")
    diff.set_defaults(handler=_policy_diff)

    show = policy_commands.add_parser("show", help="validate a policy and print its version and digest")
    show.add_argument("--policy", help="policy file (default: the shipped default policy)")
    show.set_defaults(handler=_policy_show)

    schema = policy_commands.add_parser("schema", help="print the JSON Schema of the report wire format")
    schema.set_defaults(handler=_policy_schema)

    from crashveil.policy.pia import register as register_pia

    register_pia(policy_commands)

    _register_optional(commands)
    return parser


def _register_optional(commands: argparse._SubParsersAction) -> None:
    """Commands contributed by other modules (client history, privacy check)."""
    for module_name in ("crashveil.sdk.cli", "crashveil.check"):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ImportError:
            continue
        module.register(commands)


def _load(path: str | None):
    from crashveil.policy import default_policy, load_policy

    return load_policy(path) if path else default_policy()


def _policy_notice(ns: argparse.Namespace) -> int:
    from crashveil.policy.notice import render_notice

    sys.stdout.write(render_notice(_load(ns.policy), fmt=ns.format))
    return 0


def _policy_diff(ns: argparse.Namespace) -> int:
    from crashveil.policy import load_policy
    from crashveil.policy.diff import diff_policies, format_diff

    result = diff_policies(load_policy(ns.old), load_policy(ns.new))
    sys.stdout.write(format_diff(result, fmt=ns.format))
    if result.version_error:
        return 2
    return 1 if result.needs_review else 0


def _policy_show(ns: argparse.Namespace) -> int:
    from crashveil.policy import policy_digest

    policy = _load(ns.policy)
    print(f"{policy.name} {policy.version} {policy_digest(policy)}")
    print(f"levels: {' < '.join(policy.level_names)}")
    for level in policy.levels[1:]:
        print(f"  {level.name}: {', '.join(policy.fields_at(level.name))}")
    return 0


def _policy_schema(ns: argparse.Namespace) -> int:
    import json

    from crashveil.policy import json_schema

    print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
