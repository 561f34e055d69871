"""Settings: file plus environment, errors naming the key, relative SQLite paths, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from crashveil.errors import ConfigError
from crashveil.server.settings import Settings, write_settings


def _write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "settings.toml").write_text("[server]\n" + body, encoding="utf-8")
    return tmp_path


def test_defaults_and_relative_sqlite(tmp_path: Path) -> None:
    """An empty settings file gives the defaults and a SQLite file inside the directory."""
    settings = Settings.load(_write(tmp_path, ""), environ={})
    assert f"sqlite:///{tmp_path.resolve()}/crashveil.db" == settings.database_url
    assert (8443, True, 1000) == (settings.port, settings.require_client_cert, settings.mass_failure_per_hour)
    assert tmp_path.resolve() / "tls" / "ca.pem" == settings.ca_cert_path


def test_environment_overrides_file(tmp_path: Path) -> None:
    """CRASHVEIL_* variables win over the file, converted to the field's type."""
    directory = _write(tmp_path, "port = 9000\nserver_names = [\"a.example\"]\n")
    environ = {"CRASHVEIL_PORT": "9443", "CRASHVEIL_TLS": "false", "CRASHVEIL_SERVER_NAMES": "x.example, y.example",
               "CRASHVEIL_PROJECT_RATE_PER_S": "12.5", "CRASHVEIL_UNRELATED_THING": "ignored"}
    settings = Settings.load(directory, environ=environ)
    assert (9443, False, ("x.example", "y.example"), 12.5) == (
        settings.port, settings.tls, settings.server_names, settings.project_rate_per_s)


def test_database_url_argument_wins(tmp_path: Path) -> None:
    """An explicit database URL overrides file and environment."""
    settings = Settings.load(_write(tmp_path, ""), environ={"CRASHVEIL_DATABASE_URL": "sqlite:///a.db"},
                             database_url="postgresql://u@h/db")
    assert "postgresql://u@h/db" == settings.database_url


@pytest.mark.parametrize(("body", "environ", "named"), [
    ("prot = 1\n", {}, "prot"),
    ("port = \"x\"\n", {}, "port"),
    ("", {"CRASHVEIL_PORT": "eighty"}, "CRASHVEIL_PORT"),
    ("port = 70000\n", {}, "port"),
    ("tls = 1\n", {}, "tls"),
    ("kek_provider = \"vault\"\n", {}, "kek_provider"),
])
def test_errors_name_the_key(tmp_path: Path, body: str, environ: dict[str, str], named: str) -> None:
    """A bad or unknown setting is a ConfigError whose message names the key."""
    with pytest.raises(ConfigError) as caught:
        Settings.load(_write(tmp_path, body), environ=environ)
    assert named in str(caught.value)


def test_unknown_key_suggests_closest(tmp_path: Path) -> None:
    """A misspelt key is answered with the closest valid name."""
    with pytest.raises(ConfigError) as caught:
        Settings.load(_write(tmp_path, "prot = 1\n"), environ={})
    assert "did you mean 'port'?" == caught.value.expected


def test_missing_directory(tmp_path: Path) -> None:
    """A directory without settings.toml is a ConfigError naming the file."""
    with pytest.raises(ConfigError) as caught:
        Settings.load(tmp_path, environ={})
    assert str(tmp_path.resolve() / "settings.toml") == caught.value.key


def test_write_then_load_round_trips(tmp_path: Path) -> None:
    """Settings written by init load back equal, with a 0600 file and a relative database."""
    settings = Settings(server_dir=tmp_path.resolve(), database_url=f"sqlite:///{tmp_path.resolve()}/crashveil.db",
                        port=9555, server_names=("crash.example",), public_host="crash.example")
    path = write_settings(settings)
    assert 0o600 == path.stat().st_mode & 0o777
    assert 'database_url = "sqlite:///crashveil.db"' in path.read_text()
    assert settings == Settings.load(tmp_path, environ={})
