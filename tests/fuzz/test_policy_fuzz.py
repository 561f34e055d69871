"""Fuzzing the policy loader: random TOML and mutations of the shipped policy.

The loader reads an operator's file, so its errors must teach: whatever the document, the
only exception is ``PolicyError``, and once the text is TOML it names the key path at fault
(never a bare ``KeyError``, ``TypeError``, ``AttributeError`` or ``RecursionError``). A
document it accepts must work downstream: digest, allowlists per level, the notice.
"""

from __future__ import annotations

import copy
import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from crashveil.errors import PolicyError
from crashveil.policy import default_policy_path, load_policy, parse_policy, policy_digest
from crashveil.policy.notice import render_notice

FUZZ = settings.get_profile("crashveil-fuzz")
TEXT = default_policy_path().read_text("utf-8")
DOC = tomllib.loads(TEXT)


def _check_accepted(policy: Any) -> None:
    """An accepted policy must serve its readers without raising."""
    policy_digest(policy)
    for level in policy.level_names:
        policy.fields_at(level)
    render_notice(policy)


def _load_text(tmp: Path, text: bytes) -> None:
    path = tmp / "policy.toml"
    path.write_bytes(text)
    try:
        tomllib.loads(text.decode("utf-8"))
        is_toml = True
    except Exception:  # noqa: BLE001 - any failure: not a TOML document
        is_toml = False
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        assert exc.source == str(path)
        if is_toml:
            assert exc.key_path, f"a TOML document's error names no key: {exc}"
        return
    _check_accepted(policy)


# -- text level -----------------------------------------------------------------------------------

def _splice(at: int, cut: int, insert: str) -> bytes:
    at %= len(TEXT) + 1
    return (TEXT[:at] + insert + TEXT[at + cut:]).encode("utf-8", "surrogatepass")


_toml_bits = st.sampled_from(["[", "]", "[[", "]]", "=", '"', "'''", "\n", "#", ".", ",", "{", "}", "1_0", "inf",
                              "nan", "true", "1979-05-27", "0x1F", "\\u0000", "[levels.x]\n", "rank = 3\n",
                              "\n[fields.message]\n", "\ud800", "\x00"])
_texts = st.one_of(
    st.binary(max_size=300),
    st.builds(_splice, st.integers(0, 1 << 16), st.integers(0, 40),
              st.lists(_toml_bits | st.text(max_size=8), max_size=4).map("".join)),
)


@FUZZ
@given(_texts)
def test_random_and_mutated_files_raise_only_policy_error(tmp_path_factory: pytest.TempPathFactory,
                                                          text: bytes) -> None:
    """Random bytes and spliced copies of default.policy.toml: a Policy or a PolicyError naming the key."""
    _load_text(tmp_path_factory.mktemp("p"), text)


@pytest.mark.parametrize("text", ["x = " + "[" * 2000 + "]" * 2000, "x = " + "{a=" * 2000 + "1" + "}" * 2000],
                         ids=["arrays", "inline-tables"])
def test_deeply_nested_toml_is_a_policy_error(tmp_path: Path, text: str) -> None:
    """tomllib recurses per nesting level: a deep file must be a PolicyError, not RecursionError."""
    path = tmp_path / "deep.toml"
    path.write_text(text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert "TOML" in str(info.value)


# -- document level: the parsed shipped policy, edited ----------------------------------------------

def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, prefix + (index,))
    return out


PATHS = _paths(DOC)
_toml_scalar = st.one_of(
    st.booleans(), st.integers(-(1 << 63), (1 << 63) - 1), st.floats(), st.text(max_size=12),
    st.sampled_from(["", " ", "off", "crash", "diagnostic", "admin", "email", "1.0.0\n", "personal", "<x>",
                     0, 1, -1, 3650, 3651, 0.0, 1.0, 10.0, 1e-300]),
    st.datetimes(), st.dates(), st.times(), st.datetimes(timezones=st.just(dt.UTC)),
)
_toml_value = st.recursive(_toml_scalar, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8) | st.sampled_from(["rank", "level", "type"]),
                                             inner, max_size=3), max_leaves=6)
_mutation = st.tuples(st.sampled_from(PATHS), st.sampled_from(["replace", "delete", "add"]), _toml_value,
                      st.text(max_size=10) | st.sampled_from(["description", "release", "cohort", "overrides",
                                                              "placeholders", "rank", "off"]))


def _apply(doc: Any, path: tuple[Any, ...], op: str, value: Any, key: str) -> Any:
    node = doc
    for step in path[:-1] if op != "add" else path:
        node = node[step]
    if op == "add":
        if isinstance(node, dict):
            node[key] = value
        elif isinstance(node, list):
            node.append(value)
    elif not path:
        return value if op == "replace" and isinstance(value, dict) else doc
    elif op == "replace":
        node[path[-1]] = value
    else:
        del node[path[-1]]
    return doc


@FUZZ
@given(st.lists(_mutation, min_size=1, max_size=4))
def test_edited_documents_raise_only_policy_error_naming_the_key(mutations: list[Any]) -> None:
    """Values replaced by any TOML value, keys deleted or added: a usable Policy or a PolicyError with its key path."""
    doc = copy.deepcopy(DOC)
    for path, op, value, key in mutations:
        try:
            doc = _apply(doc, path, op, value, key)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced the path
    try:
        policy = parse_policy(doc, source="fuzz.toml")
    except PolicyError as exc:
        assert exc.key_path, f"no key path in: {exc}"
        return
    _check_accepted(policy)


@pytest.mark.parametrize(("path", "value", "expected"), [
    (("fields", "message", "description"), 5, "fields.message.description"),
    (("fields", "message", "description"), ["a"], "fields.message.description"),
    (("policy", "version"), "1.0.0\n", "policy.version"),
    (("policy", "name"), "crashveil-default\n", "policy.name"),
])
def test_values_of_the_wrong_form_are_refused(path: tuple[str, ...], value: Any, expected: str) -> None:
    """Found by the fuzzer: a non-string description was silently emptied, and a trailing
    newline passed the version and name patterns (``$`` matches before a final newline)."""
    doc = copy.deepcopy(DOC)
    _apply(doc, path, "replace", value, "")
    with pytest.raises(PolicyError) as info:
        parse_policy(doc, source="fuzz.toml")
    assert expected == info.value.key_path


def test_level_name_with_a_trailing_newline_is_refused() -> None:
    """``[levels."crash\\n"]`` is not a level name (the same ``$`` issue)."""
    doc = copy.deepcopy(DOC)
    doc["levels"]["extra\n"] = {"rank": 7, "title": "t", "description": "d"}
    with pytest.raises(PolicyError) as info:
        parse_policy(doc, source="fuzz.toml")
    assert "levels.extra\n" == info.value.key_path


def test_an_empty_key_is_named() -> None:
    """Found by the fuzzer: ``"" = 1`` at the top gave an error with no key path."""
    doc = copy.deepcopy(DOC)
    doc[""] = 1
    with pytest.raises(PolicyError) as info:
        parse_policy(doc, source="fuzz.toml")
    assert '""' == info.value.key_path
