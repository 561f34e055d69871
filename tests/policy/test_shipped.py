"""The shipped policy's pre-computed facts answer exactly as the ``Policy`` built from the file.

If one of these fails after an edit of ``default.policy.toml``, of the model, the loader or
the digest: ``python -m crashveil.policy.generate_shipped``.
"""

from __future__ import annotations

import pytest

from crashveil.policy import _default_policy, canonical_policy, default_policy, default_policy_path, policy_digest
from crashveil.policy.shipped import PolicyFacts, shipped_policy_facts, shipped_policy_file


def facts() -> PolicyFacts:
    found = shipped_policy_facts()
    assert found is not None, "default.policy.toml differs from _default_policy.SOURCE"
    return found


def test_digest_and_canonical_form_are_current() -> None:
    """``DIGEST`` and ``CANONICAL`` are what the model computes from the file today."""
    policy = default_policy()
    assert (policy_digest(policy), canonical_policy(policy)) == (facts().digest, facts().canonical)


def test_levels_and_allowlists_match_the_policy() -> None:
    """Names, version, level order, ranks, allowlists (same order) and ``allows`` for every field."""
    policy, shipped = default_policy(), facts()
    assert (policy.name, policy.version, policy.level_names) == (shipped.name, shipped.version, shipped.level_names)
    for level in policy.level_names:
        assert (policy.rank(level), policy.fields_at(level)) == (shipped.rank(level), shipped.fields_at(level))
        assert ([policy.allows(level, name) for name in (*policy.fields, "hostname")]
                == [shipped.allows(level, name) for name in (*policy.fields, "hostname")])
    with pytest.raises(KeyError):
        shipped.rank("everything")


def test_stale_copy_gives_no_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the file is not the text the copy was made from, only the file counts: no facts."""
    monkeypatch.setattr(_default_policy, "SOURCE", _default_policy.SOURCE + "# edited\n")
    assert None is shipped_policy_facts()


def test_file_path_is_the_shipped_file() -> None:
    """``default_policy_path()`` (no ``importlib.resources`` for an ordinary install) is that file."""
    assert (str(default_policy_path()), True) == (shipped_policy_file(), default_policy_path().is_file())


def test_generated_module_is_what_the_generator_writes() -> None:
    """``_default_policy.py`` is exactly ``generate_shipped``'s output for today's policy file."""
    from crashveil.policy.generate_shipped import POLICY_FILE, TARGET, render

    assert TARGET.read_text("utf-8") == render(POLICY_FILE.read_text("utf-8"))
