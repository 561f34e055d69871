#!/usr/bin/env python3
"""The ports scripts/demo serves on: the requested ones, or free ones when a default is taken.

Usage: demo_ports.py [--host HOST] NAME=PORT[:default] ...
Prints the chosen ports on stdout, one line, in the order given ("8443 8444"). A port marked
``:default`` (nobody asked for it) that another program holds is replaced by a free one, and
the choice is said on stderr; a port the user asked for (an option or a variable) that is taken
is an error, because the user meant that one. Standard library only: it runs before the
demo's virtual environment exists.
"""

from __future__ import annotations

import argparse
import socket
import sys


def port_is_free(host: str, port: int) -> bool:
    """Whether ``port`` can be bound on ``host`` now (the server binds it a moment later)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str, avoid: set[int]) -> int:
    """A port the system hands out as free on ``host``, other than those in ``avoid``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if port not in avoid:
            return port


def choose(host: str, wanted: list[tuple[str, int, bool]]) -> list[int]:
    """The ports to use for ``wanted`` ``(name, port, is_default)``; SystemExit on a taken requested port."""
    chosen: list[int] = []
    for name, port, is_default in wanted:
        if port not in chosen and port_is_free(host, port):
            chosen.append(port)
            continue
        if not is_default:
            raise SystemExit(f"demo: the {name} port {port} (as requested) is in use on {host}; "
                             "choose another or leave it unset")
        picked = free_port(host, set(chosen))
        print(f"demo: the {name} port {port} is in use on {host}; using {picked} instead", file=sys.stderr)
        chosen.append(picked)
    return chosen


def _spec(text: str) -> tuple[str, int, bool]:
    name, _, rest = text.partition("=")
    port, _, mark = rest.partition(":")
    if not name or not port.isdigit() or not 0 < int(port) < 65536 or mark not in ("", "default"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=PORT or NAME=PORT:default")
    return name, int(port), mark == "default"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("ports", nargs="+", type=_spec, metavar="NAME=PORT[:default]")
    args = parser.parse_args(argv)
    print(" ".join(str(port) for port in choose(args.host, args.ports)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
