"""Generate ``_default_policy.py``: the shipped policy parsed ahead of time, as pure data.

``_default_policy.py`` holds ``default.policy.toml``'s text (``SOURCE``), ``tomllib.loads`` of
it (``DATA``), and the ``canonical_policy`` and ``policy_digest`` of the validated policy
(``CANONICAL``, ``DIGEST``). It imports nothing, so the loader and ``shipped`` read it without
a cycle; this generator is the one module that validates the policy to write it. A bad
policy file fails here, not at ``init()``. ``tests/policy/test_shipped.py`` and
``tests/sdk/test_options.py`` check that the generated file is current.

After editing ``default.policy.toml`` (or the policy model, loader or digest), run::

    python -m crashveil.policy.generate_shipped
"""

from __future__ import annotations

import pprint
import tomllib
from pathlib import Path
from typing import Any

from crashveil.policy.digest import canonical_policy, policy_digest
from crashveil.policy.loader import parse_policy

__all__ = ["render", "main"]

TARGET = Path(__file__).with_name("_default_policy.py")
POLICY_FILE = Path(__file__).with_name("default.policy.toml")

_HEADER = '''"""The shipped policy (``default.policy.toml``), parsed ahead of time. GENERATED: do not edit.

``default_policy()`` uses ``DATA`` only when ``SOURCE`` equals the TOML file beside it byte
for byte, and validates it with ``parse_policy`` exactly as a file read with ``tomllib``; if
the file changed, it reads the file (correct, only slower). This spares every process that
needs the shipped policy the import of ``tomllib`` and the parse (a few ms of ``init()``).

``CANONICAL`` and ``DIGEST`` are ``canonical_policy`` and ``policy_digest`` of the validated
policy, made by the same generator: ``crashveil.policy.shipped`` answers ``init()`` and
``grant()`` from them (level names, digest, allowlists) without building the ``Policy`` at
all (same condition: ``SOURCE`` is the file). ``tests/policy`` checks that they are current.

Pure data, importing nothing. After editing ``default.policy.toml`` (or the policy model,
loader or digest), regenerate this file::

    python -m crashveil.policy.generate_shipped
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SOURCE", "DATA", "CANONICAL", "DIGEST"]

'''


def _pretty(value: Any) -> str:
    return pprint.pformat(value, width=110, sort_dicts=False)


def render(source: str) -> str:
    """The text of ``_default_policy.py`` for the policy file text ``source`` (validated first)."""
    data = tomllib.loads(source)
    policy = parse_policy(data, source=POLICY_FILE.name)
    lines = "".join(f"    {line!r}\n" for line in source.splitlines(keepends=True))
    return (f"{_HEADER}\n#: The TOML text this was parsed from.\nSOURCE = (\n{lines})\n\n"
            f"#: ``tomllib.loads(SOURCE)``\nDATA: dict[str, Any] = {_pretty(data)}\n\n"
            f"#: ``canonical_policy(parse_policy(DATA))``: what a consent record stores\n"
            f"CANONICAL: dict[str, Any] = {_pretty(canonical_policy(policy))}\n\n"
            f"#: ``policy_digest(parse_policy(DATA))``\nDIGEST = {policy_digest(policy)!r}\n")


def main() -> None:  # pragma: no cover - a developer tool
    TARGET.write_text(render(POLICY_FILE.read_text("utf-8")), "utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":  # pragma: no cover
    main()
