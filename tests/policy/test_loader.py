"""The policy loader accepts the shipped policy and names file, key path and expected form on errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from crashveil.errors import PolicyError
from crashveil.policy import default_policy, default_policy_path, load_policy, parse_policy
from crashveil.wire import REPORT_FIELDS


def _document() -> dict[str, Any]:
    return tomllib.loads(default_policy_path().read_text())


def _error(doc: dict[str, Any]) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        parse_policy(doc, source="test.toml")
    return info.value


def test_default_policy_loads_with_three_ordered_levels() -> None:
    """The shipped policy is valid and orders off < crash < diagnostic."""
    policy = default_policy()
    assert ("off", "crash", "diagnostic") == policy.level_names
    assert () == policy.fields_at("off")


def test_default_policy_declares_every_report_field() -> None:
    """Every field of the wire format is declared in the default policy's catalog."""
    assert set(REPORT_FIELDS) == set(default_policy().fields)


def test_message_only_at_diagnostic() -> None:
    """The exception message needs the richer level; the stack does not."""
    policy = default_policy()
    assert "message" not in policy.fields_at("crash")
    assert "message" in policy.fields_at("diagnostic")
    assert "stack" in policy.fields_at("crash")


@pytest.mark.parametrize("missing", ["purpose", "sensitivity", "level", "retention_days", "access", "review"])
def test_field_missing_an_attribute_is_an_error(missing: str) -> None:
    """A field that lacks any of its six declarations is rejected with its key path."""
    doc = _document()
    del doc["fields"]["message"][missing]
    error = _error(doc)
    assert f"fields.message.{missing}" == error.key_path
    assert "test.toml" in str(error)


def test_unknown_key_is_named_with_allowed_keys() -> None:
    """An unknown key is rejected, naming its path and the keys that are allowed."""
    doc = _document()
    doc["limits"]["reports_per_minute"] = 3
    error = _error(doc)
    assert "limits.reports_per_minute" == error.key_path
    assert "reports_per_hour" in (error.expected or "")


def test_field_not_in_report_format_is_rejected() -> None:
    """The catalog cannot declare a field the report format does not have."""
    doc = _document()
    doc["fields"]["hostname"] = dict(doc["fields"]["release"])
    assert "fields.hostname" == _error(doc).key_path


@pytest.mark.parametrize(
    ("path", "value", "expected_path"),
    [
        (("fields", "message", "retention_days"), 400, "fields.message.retention_days"),
        (("fields", "message", "retention_days"), "30", "fields.message.retention_days"),
        (("fields", "message", "level"), "off", "fields.message.level"),
        (("fields", "message", "access"), ["everyone"], "fields.message.access[0]"),
        (("fields", "message", "sensitivity"), "secret", "fields.message.sensitivity"),
        (("sampling", "rate"), 1.5, "sampling.rate"),
        (("aggregation", "min_k"), 1, "aggregation.min_k"),
        (("aggregation", "dp_epsilon_per_day"), 0, "aggregation.dp_epsilon_per_day"),
        (("policy", "version"), "1.0", "policy.version"),
        (("redaction", "detectors"), ["email", "telepathy"], "redaction.detectors[1]"),
        (("keys", "pseudonym_rotation_days"), True, "keys.pseudonym_rotation_days"),
    ],
)
def test_bad_values_name_their_key_path(path: tuple[str, ...], value: Any, expected_path: str) -> None:
    """Bad values are rejected with the exact key path and an expected form."""
    doc = _document()
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    error = _error(doc)
    assert expected_path == error.key_path
    assert error.expected


def test_required_field_must_sit_at_the_lowest_level() -> None:
    """A field every report carries cannot be moved to a richer level."""
    doc = _document()
    doc["fields"]["crash_type"]["level"] = "diagnostic"
    assert "fields.crash_type.level" == _error(doc).key_path


def test_off_level_is_required() -> None:
    """A policy without the default level 'off' is rejected."""
    doc = _document()
    del doc["levels"]["off"]
    assert "levels.off" == _error(doc).key_path


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    """A missing file and a file that is not TOML each get a clear error naming the file."""
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[policy\nname=")
    with pytest.raises(PolicyError, match="not valid TOML") as info:
        load_policy(bad)
    assert str(bad) == info.value.source


def test_override_without_target_is_rejected() -> None:
    """A sampling override must say which release or cohort it applies to."""
    doc = _document()
    doc["sampling"]["overrides"] = [{"rate": 0.1}]
    assert "sampling.overrides[0]" == _error(doc).key_path
