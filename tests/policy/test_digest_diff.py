"""The policy digest is stable, and ``diff_policies`` flags exactly the material changes."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest

from crashveil.cli import main
from crashveil.policy import default_policy, default_policy_path, parse_policy, policy_digest
from crashveil.policy.diff import diff_policies


def _document() -> dict[str, Any]:
    return tomllib.loads(default_policy_path().read_text())


def test_digest_ignores_formatting_and_key_order() -> None:
    """Reordering fields in the file does not change the digest."""
    doc = _document()
    reordered = dict(doc)
    reordered["fields"] = dict(reversed(list(doc["fields"].items())))
    assert policy_digest(parse_policy(doc)) == policy_digest(parse_policy(reordered, source="elsewhere.toml"))


def test_digest_changes_with_any_rule() -> None:
    """Changing one retention value changes the digest."""
    doc = _document()
    doc["fields"]["message"]["retention_days"] = 29
    assert policy_digest(default_policy()) != policy_digest(parse_policy(doc))


def _changed(edit) -> Any:  # type: ignore[no-untyped-def]
    doc = copy.deepcopy(_document())
    edit(doc)
    return diff_policies(default_policy(), parse_policy(doc))


@pytest.mark.parametrize(
    ("edit", "kind"),
    [
        (lambda d: d["fields"]["message"].update(level="crash"), "level_changed"),
        (lambda d: d["fields"]["message"].update(retention_days=60), "retention_changed"),
        (lambda d: d["fields"]["message"].update(access=["developer", "viewer"]), "access_widened"),
        (lambda d: d["aggregation"].update(min_k=3), "value_changed"),
        (lambda d: d["aggregation"].update(dp_epsilon_per_year=20.0), "value_changed"),
        (lambda d: d["keys"].update(pseudonym_rotation_days=90), "value_changed"),
        (lambda d: d["redaction"].update(detectors=d["redaction"]["detectors"][1:]), "detectors_removed"),
    ],
)
def test_material_changes_need_review(edit, kind: str) -> None:  # type: ignore[no-untyped-def]
    """Each kind of widening is material and, without a version bump, a version error."""
    diff = _changed(edit)
    assert [kind] == [change.kind for change in diff.material]
    assert diff.needs_review
    assert diff.version_error is not None


def test_new_field_is_material() -> None:
    """A field added to the catalog is material."""
    doc = _document()
    removed = doc["fields"].pop("breadcrumbs")
    old = parse_policy(doc)
    doc["fields"]["breadcrumbs"] = removed
    diff = diff_policies(old, parse_policy(doc))
    assert ["field_added"] == [change.kind for change in diff.material]


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["fields"]["message"].update(retention_days=7),
        lambda d: d["fields"]["message"].update(level="diagnostic"),
        lambda d: d["aggregation"].update(min_k=10),
        lambda d: d["notice"].update(contact="privacy@example.org"),
        lambda d: d["fields"].pop("breadcrumbs"),
    ],
)
def test_narrowing_changes_are_not_material(edit) -> None:  # type: ignore[no-untyped-def]
    """Shorter retention, stricter k, reworded notice and removed fields need no review."""
    diff = _changed(edit)
    assert () == diff.material
    assert diff.version_error is None


def test_version_bump_clears_the_version_error() -> None:
    """A material change with a higher version is still material but not an error."""
    diff = _changed(lambda d: (d["fields"]["message"].update(level="crash"), d["policy"].update(version="2.0.0")))
    assert diff.needs_review
    assert diff.version_error is None


def test_policy_diff_command_exit_codes(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """`crashveil policy diff` exits 0 without material changes, 1 with them, 2 without a bump."""
    text = default_policy_path().read_text()
    same = tmp_path / "same.toml"
    same.write_text(text)
    assert 0 == main(["policy", "diff", str(default_policy_path()), str(same)])
    wider = tmp_path / "wider.toml"
    wider.write_text(text.replace('version = "1.', 'version = "99.', 1)
                     .replace("min_k = 5", "min_k = 3"))
    assert 1 == main(["policy", "diff", str(default_policy_path()), str(wider)])
    unbumped = tmp_path / "unbumped.toml"
    unbumped.write_text(text.replace("min_k = 5", "min_k = 3"))
    assert 2 == main(["policy", "diff", str(default_policy_path()), str(unbumped)])
    assert "aggregation.min_k" in capsys.readouterr().out


def test_tag_keys_added_are_a_material_change_and_shown_in_the_notice(tmp_path: Any) -> None:
    """A key added to ``[fields.tags] keys`` is material (more is kept); the notice names the keys;
    only a keyed field may list keys."""
    from crashveil.errors import PolicyError
    from crashveil.policy import load_policy
    from crashveil.policy.notice import render_notice

    text = default_policy_path().read_text()
    wider = tmp_path / "wider.toml"
    wider.write_text(text.replace('keys = ["feature", "component", "handled"]',
                                  'keys = ["feature", "component", "handled", "plan"]'))
    changes = [(c.path, c.kind, c.material) for c in diff_policies(load_policy(default_policy_path()),
                                                                    load_policy(wider)).changes]
    assert ("fields.tags.keys", "keys_added", True) in changes
    assert "Only these: component, feature, handled." in render_notice(load_policy(default_policy_path()))
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('[fields.dist]\n', '[fields.dist]\nkeys = ["x"]\n'))
    with pytest.raises(PolicyError, match="fields.dist.keys"):
        load_policy(bad)
