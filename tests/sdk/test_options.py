"""Options: one list of names, env variables, defaults, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from crashveil.errors import ConfigError
from crashveil.sdk.options import Options, default_data_dir


def test_unknown_option_names_the_closest() -> None:
    """A misspelt option is a ConfigError that suggests the right name."""
    with pytest.raises(ConfigError) as info:
        Options.from_kwargs({"relase": "1.0"}, environ={})
    assert ("relase", "did you mean 'release'?") == (info.value.key, info.value.expected)


def test_environment_fills_missing_options(tmp_path: Path) -> None:
    """``CRASHVEIL_*`` variables fill options that were not passed."""
    env = {"CRASHVEIL_RELEASE": "app@2", "CRASHVEIL_DATA_DIR": str(tmp_path), "CRASHVEIL_ASK_EACH_TIME": "yes"}
    options = Options.from_kwargs({}, environ=env)
    assert ("app@2", tmp_path, True) == (options.release, options.data_dir, options.ask_each_time)


def test_keyword_wins_over_environment() -> None:
    """An explicit keyword beats the environment."""
    options = Options.from_kwargs({"release": "kw"}, environ={"CRASHVEIL_RELEASE": "env"})
    assert "kw" == options.release


def test_default_data_dir_follows_xdg(tmp_path: Path) -> None:
    """On Linux the data dir is ``$XDG_DATA_HOME/<app>/crashveil``."""
    env = {"XDG_DATA_HOME": str(tmp_path), "HOME": "/nonexistent"}
    assert tmp_path / "myapp" / "crashveil" == default_data_dir("myapp", env)


def test_default_data_dir_without_xdg() -> None:
    """Without ``XDG_DATA_HOME`` the data dir is under ``~/.local/share``."""
    assert Path("/home/u/.local/share/myapp/crashveil") == default_data_dir("myapp", {"HOME": "/home/u"})


def test_bad_flush_timeout_is_named() -> None:
    """A flush timeout that is not a number names the option."""
    with pytest.raises(ConfigError) as info:
        Options.from_kwargs({"flush_timeout_s": "soon"}, environ={})
    assert "flush_timeout_s" == info.value.key


def test_bad_dsn_is_a_config_error() -> None:
    """A DSN with the wrong scheme is rejected at init."""
    with pytest.raises(ConfigError) as info:
        Options.from_kwargs({"dsn": "https://example.org/x"}, environ={})
    assert "dsn" == info.value.key


def test_app_name_must_be_a_safe_directory_name() -> None:
    """An app name that could escape the data dir is rejected."""
    with pytest.raises(ConfigError) as info:
        Options.from_kwargs({"app_name": "../etc"}, environ={})
    assert "app_name" == info.value.key


def test_project_comes_from_the_dsn(dsn: str) -> None:
    """The project id is read from the DSN."""
    assert "test-app" == Options.from_kwargs({"dsn": dsn}, environ={}).project


def test_dsn_is_checked_at_once_and_made_a_connection_string_on_first_read(dsn: str) -> None:
    """A DSN string is checked by ``from_kwargs``; ``options.dsn`` is its ``ConnectionString``
    (made on first read), ``dsn_part`` reads a part without it; an object given is kept."""
    from crashveil.wire.protocol import ConnectionString

    options = Options.from_kwargs({"dsn": dsn}, environ={})
    assert ("test-app", "ed25519:") == (options.dsn_part("project"), options.dsn_part("signing_key")[:8])
    parsed = ConnectionString.parse(dsn)
    assert (parsed, parsed, True) == (options.dsn, Options.from_kwargs({"dsn": parsed}, environ={}).dsn,
                                      options.dsn is options.dsn)
    assert (options, None) == (Options.from_kwargs({"dsn": dsn}, environ={}),
                               Options.from_kwargs({}, environ={}).dsn_part("public_key"))
    with pytest.raises(ConfigError) as info:
        Options.from_kwargs({"dsn": dsn, "project": "other"}, environ={})
    assert "project" == info.value.key


def test_consent_callback_must_be_callable() -> None:
    """A consent callback that is not callable is rejected at init."""
    with pytest.raises(ConfigError) as info:
        Options.from_kwargs({"consent_callback": "yes"}, environ={})
    assert "consent_callback" == info.value.key


def test_shipped_policy_is_read_on_first_use(tmp_path: Path) -> None:
    """Without a ``policy`` option the shipped policy is parsed when first read, and is the same object."""
    from crashveil.policy import default_policy

    options = Options.from_kwargs({"data_dir": str(tmp_path)}, environ={})
    assert options.policy is default_policy()
    assert options.policy_loaded()


def test_bad_policy_file_fails_at_init(tmp_path: Path) -> None:
    """A policy file given by the app is still read and checked at init: a bad one is a PolicyError."""
    from crashveil.errors import PolicyError

    bad = tmp_path / "bad.policy.toml"
    bad.write_text("[policy]\nname = 1\n")
    with pytest.raises(PolicyError):
        Options.from_kwargs({"policy": str(bad), "data_dir": str(tmp_path)}, environ={})


def test_shipped_policy_copy_matches_the_file() -> None:
    """``_default_policy.py`` is ``default.policy.toml`` parsed ahead of time, and is current.

    If this fails after an edit of the policy file: ``python -m crashveil.policy.generate_shipped``.
    """
    import tomllib

    from crashveil.policy import _default_policy, default_policy_path

    text = default_policy_path().read_text("utf-8")
    assert (True, True) == (_default_policy.SOURCE == text, _default_policy.DATA == tomllib.loads(text))


def test_shipped_policy_is_the_file_even_when_the_copy_is_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pre-parsed copy that differs from the file is ignored: the file is read with tomllib."""
    from crashveil.policy import _default_policy, default_policy_path, load_policy, loader

    monkeypatch.setattr(_default_policy, "DATA", {"policy": {}})
    monkeypatch.setattr(_default_policy, "SOURCE", _default_policy.SOURCE + "# edited\n")
    assert load_policy(default_policy_path()) == loader._load_shipped(default_policy_path())
    monkeypatch.undo()
    assert load_policy(default_policy_path()) == loader._load_shipped(default_policy_path())


def test_options_are_frozen_and_every_name_is_an_attribute(tmp_path: Path) -> None:
    """Options stay immutable (as the frozen dataclass they were); each option name reads back."""
    import dataclasses
    import random

    from crashveil.sdk.options import OPTION_NAMES

    options = Options.from_kwargs({"data_dir": str(tmp_path), "release": "1.0"}, environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.release = "2.0"  # type: ignore[misc]
    assert (False, True, True) == (options.policy_loaded(), isinstance(options.rng, random.SystemRandom),
                                   options.rng is options.rng)
    assert [] == [name for name in OPTION_NAMES if not hasattr(options, name)]  # reads the policy too
    given = random.Random(7)
    assert given is Options.from_kwargs({"data_dir": str(tmp_path), "rng": given}, environ={}).rng
    import copy

    assert (options, "1.0") == (copy.copy(options), copy.copy(options).release)
