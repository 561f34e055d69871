"""Consent on disk, bound to the policy it was given for."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from crashveil.errors import ConfigError
from crashveil.policy import canonical_policy, default_policy
from crashveil.sdk.consent.store import ConsentStore, policy_from_canonical


def changed(**field_changes: object) -> object:
    """The default policy with the ``message`` field changed."""
    policy = default_policy()
    fields = dict(policy.fields)
    fields["message"] = dataclasses.replace(fields["message"], **field_changes)
    return dataclasses.replace(policy, version="2.0.0", fields=fields)


def test_no_decision_is_off_and_asks(tmp_path: Path) -> None:
    """Before any decision the level is off, the app should ask, and no file exists."""
    store = ConsentStore(tmp_path, default_policy())
    assert ("off", True, False) == (store.level(), store.needs_prompt(), (tmp_path / "consent.json").exists())


def test_grant_is_remembered_with_time_and_policy(tmp_path: Path) -> None:
    """A grant records the level, the time and the policy version and digest."""
    ConsentStore(tmp_path, default_policy(), now=lambda: 123.0).grant("crash")
    data = json.loads((tmp_path / "consent.json").read_text())
    assert ("crash", 123.0, "1.2.0") == (data["level"], data["granted_at"], data["policy_version"])
    assert ("crash", False) == (ConsentStore(tmp_path, default_policy()).level(),
                                ConsentStore(tmp_path, default_policy()).needs_prompt())


def test_explicit_no_is_not_asked_again(tmp_path: Path) -> None:
    """An explicit off stands and the app does not ask again."""
    ConsentStore(tmp_path, default_policy()).grant("off")
    assert ("off", False) == (ConsentStore(tmp_path, default_policy()).level(),
                              ConsentStore(tmp_path, default_policy()).needs_prompt())


def test_unknown_level_is_rejected(tmp_path: Path) -> None:
    """Granting a level the policy lacks names the key ``level``."""
    with pytest.raises(ConfigError) as info:
        ConsentStore(tmp_path, default_policy()).grant("all")
    assert "level" == info.value.key


def test_canonical_policy_round_trips() -> None:
    """The stored canonical form rebuilds the same policy (same canonical form)."""
    assert canonical_policy(default_policy()) == canonical_policy(
        policy_from_canonical(canonical_policy(default_policy()))
    )


def test_material_change_asks_again_and_narrows(tmp_path: Path) -> None:
    """A field moved to a lower level makes the app ask again; meanwhile that field is not sent."""
    ConsentStore(tmp_path, default_policy()).grant("crash")
    store = ConsentStore(tmp_path, changed(level="crash"))  # type: ignore[arg-type]
    assert (True, "crash", False) == (store.needs_prompt(), store.level(), "message" in store.allowed_fields("crash"))


def test_wider_access_is_material(tmp_path: Path) -> None:
    """Showing a field to more roles needs the user's new consent for that field."""
    ConsentStore(tmp_path, default_policy()).grant("diagnostic")
    store = ConsentStore(tmp_path, changed(access=("developer", "viewer")))  # type: ignore[arg-type]
    assert (True, False) == (store.needs_prompt(), "message" in store.allowed_fields("diagnostic"))


def test_non_material_change_keeps_consent(tmp_path: Path) -> None:
    """A shorter retention is not material: consent stands and nothing is narrowed."""
    ConsentStore(tmp_path, default_policy()).grant("diagnostic")
    store = ConsentStore(tmp_path, changed(retention_days=7))  # type: ignore[arg-type]
    assert (False, True) == (store.needs_prompt(), "message" in store.allowed_fields("diagnostic"))


def test_damaged_record_means_ask_again(tmp_path: Path) -> None:
    """An unreadable consent file is no consent."""
    (tmp_path / "consent.json").write_text("{not json")
    store = ConsentStore(tmp_path, default_policy())
    assert ("off", True) == (store.level(), store.needs_prompt())


def test_disclosure_is_per_fingerprint(tmp_path: Path) -> None:
    """A richer level granted for one crash applies to that crash only."""
    store = ConsentStore(tmp_path, default_policy())
    store.grant("crash")
    store.grant_disclosure("v1:" + "a" * 32, "diagnostic")
    assert ("diagnostic", None) == (store.disclosure("v1:" + "a" * 32), store.disclosure("v1:" + "b" * 32))


def test_shipped_facts_answer_as_the_policy_without_building_it(tmp_path: Path) -> None:
    """Over the lazily built shipped policy, the store answers (and records) from its pre-computed
    facts exactly as from the ``Policy``, and builds the policy only to compare a changed one."""
    from crashveil.policy.shipped import shipped_policy_facts

    built: list[object] = []

    def build() -> object:
        built.append(default_policy())
        return built[-1]

    lazy = ConsentStore(tmp_path / "lazy", build, now=lambda: 5.0, facts=shipped_policy_facts)  # type: ignore[arg-type]
    eager = ConsentStore(tmp_path / "eager", default_policy(), now=lambda: 5.0)
    answers = []
    for store in (lazy, eager):
        store.grant("diagnostic")
        answers.append((store.level(), store.needs_prompt(), store.allowed_fields("crash"),
                        store.allowed_fields("diagnostic"), store.digest, store.path.read_bytes()))
    assert (answers[1], []) == (answers[0], built)

    ConsentStore(tmp_path / "changed", changed(access=("admin",))).grant("diagnostic")  # type: ignore[arg-type]
    store = ConsentStore(tmp_path / "changed", build, facts=shipped_policy_facts)  # type: ignore[arg-type]
    assert (True, False, 1) == (store.needs_prompt(), "message" in store.allowed_fields("diagnostic"), len(built))
