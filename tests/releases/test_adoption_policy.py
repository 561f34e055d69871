"""The policy's [adoption]: strict loading (errors name the key), a material change in the diff,
the privacy notice says it, and the digest of a policy without it is unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from crashveil.errors import PolicyError
from crashveil.policy import default_policy, load_policy, policy_digest
from crashveil.policy.diff import diff_policies
from crashveil.policy.notice import render_notice

TEXT = Path(default_policy().source).read_text(encoding="utf-8")


def _without_adoption(text: str = TEXT) -> str:
    return text[:text.index("[adoption]")] + text[text.index("[redaction]"):]


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return load_policy(path)


@pytest.mark.parametrize(("old", "new", "path"), [
    ('level = "crash"\nretention_days = 90\naccess = ["viewer"',
     'level = "off"\nretention_days = 90\naccess = ["viewer"', "adoption.level"),
    ("retention_days = 90\naccess = [\"viewer\", \"developer\", \"privacy-officer\", \"admin\"]\nreview = "
     "\"reviews/2026-12-07", "retention_days = 9000\naccess = [\"viewer\", \"developer\", \"privacy-officer\", "
     "\"admin\"]\nreview = \"reviews/2026-12-07", "adoption.retention_days"),
    ('review = "reviews/2026-12-07-adoption.md"', 'review = "reviews/2026-12-07-adoption.md"\nextra = 1',
     "adoption.extra"),
])
def test_a_bad_adoption_section_names_its_key(tmp_path: Path, old: str, new: str, path: str) -> None:
    assert old in TEXT
    with pytest.raises(PolicyError) as caught:
        _load(tmp_path, TEXT.replace(old, new, 1))
    assert path in str(caught.value)


def test_adding_adoption_is_material_and_the_notice_says_it(tmp_path: Path) -> None:
    """From a policy without [adoption] to the shipped one: a material change needing a review."""
    before = _load(tmp_path, _without_adoption())
    changes = {c.kind: c.material for c in diff_policies(before, default_policy()).changes}
    notice = render_notice(default_policy())
    assert (True, True, False) == (changes["adoption_added"], "A daily sign of use" in notice,
                                   "daily sign" in render_notice(before))


def test_a_policy_without_adoption_keeps_its_digest(tmp_path: Path) -> None:
    """The digest of a policy without [adoption] is computed as before (no new key in it)."""
    from crashveil.policy.digest import canonical_policy

    assert "adoption" not in canonical_policy(_load(tmp_path, _without_adoption()))
    assert policy_digest(default_policy()) != policy_digest(_load(tmp_path, _without_adoption()))
