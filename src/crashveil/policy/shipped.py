"""What ``init()`` and ``grant()`` need to know about the shipped policy, without building it.

Building the shipped ``Policy`` means importing the dataclass model, and validating it means
importing the report format and the redactor's detector list: about 15 ms of a fresh
process, which ``init()`` paid whenever the user had consented. What ``init()`` and
``grant()`` ask is small: the level names (is the recorded level still one?), the digest (did
the policy change since the user chose?), the canonical form (stored with a grant) and the
allowlist of a level. For the shipped policy those are computed from the validated policy
when ``_default_policy.py`` is generated (``CANONICAL``, ``DIGEST``); ``tests/policy`` checks
that they equal what the model computes now.

They are used only while ``default.policy.toml`` is, byte for byte, the text the copy was
made from (the condition ``default_policy()`` applies to its copy); otherwise
:func:`shipped_policy_facts` returns None and the caller builds the policy. The first crash
builds it anyway (the report needs the model), so nothing is skipped, only deferred.

Standard library only, and only ``os``: importing this module loads ``_default_policy`` and
nothing else.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["PolicyFacts", "shipped_policy_facts", "shipped_policy_file"]


class PolicyFacts:
    """The answers a ``Policy`` gives about levels and allowlists, read from its canonical form.

    The attributes and methods have the names and results of ``Policy``'s (``name``,
    ``version``, ``level_names``, ``rank``, ``fields_at``, ``allows``), so code that only asks
    these questions takes either. ``digest`` and ``canonical`` are ``policy_digest`` and
    ``canonical_policy`` of that policy.
    """

    __slots__ = ("name", "version", "digest", "canonical", "level_names", "_ranks", "_field_levels")

    def __init__(self, canonical: dict[str, Any], digest: str, field_order: tuple[str, ...]) -> None:
        """``field_order``: the fields as the policy file lists them (``Policy.fields`` order)."""
        levels = sorted(canonical["levels"], key=lambda level: level["rank"])
        fields = canonical["fields"]
        self.name: str = canonical["name"]
        self.version: str = canonical["version"]
        self.digest = digest
        self.canonical = canonical
        self.level_names: tuple[str, ...] = tuple(level["name"] for level in levels)
        self._ranks: dict[str, int] = {level["name"]: level["rank"] for level in levels}
        self._field_levels: dict[str, str] = {name: fields[name]["level"] for name in field_order}

    def rank(self, name: str) -> int:
        """The rank of consent level ``name``; KeyError if the policy has none."""
        return self._ranks[name]

    def fields_at(self, level: str) -> tuple[str, ...]:
        """Names of the fields a report may carry at consent ``level`` (``Policy.fields_at``)."""
        rank = self.rank(level)
        if rank == 0:
            return ()
        ranks = self._ranks
        return tuple(name for name, needed in self._field_levels.items() if ranks[needed] <= rank)

    def allows(self, level: str, field_name: str) -> bool:
        """``Policy.allows``: whether a report at ``level`` may carry ``field_name``."""
        needed = self._field_levels.get(field_name)
        if needed is None:
            return False
        rank = self.rank(level)
        return rank > 0 and self._ranks[needed] <= rank


def shipped_policy_file() -> str:
    """Path of ``default.policy.toml`` beside this module (``default_policy_path()`` as a str)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "default.policy.toml")


def shipped_policy_facts() -> PolicyFacts | None:
    """The pre-computed facts of the shipped policy, or None when they may not describe it.

    None when ``default.policy.toml`` cannot be read or differs from the text
    ``_default_policy.py`` was generated from: then only the file itself is authoritative.
    """
    from crashveil.policy import _default_policy

    try:
        with open(shipped_policy_file(), "rb") as handle:
            text = handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if text != _default_policy.SOURCE:
        return None
    return PolicyFacts(_default_policy.CANONICAL, _default_policy.DIGEST, tuple(_default_policy.DATA["fields"]))
