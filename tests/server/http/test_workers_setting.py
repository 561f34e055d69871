"""The ``workers`` setting and ``crashveil server run --workers N``: loading, validation,
the flag winning over the setting, and a real two-front server started from the CLI."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from crashveil.cli.app import cli, main
from crashveil.errors import ConfigError
from crashveil.server.http import run as run_module
from crashveil.server.settings import MAX_WORKERS, Settings, write_settings
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE, receipt_path, reports_path

from .test_run_processes import _children, _listening
from .test_run_tls import ServerDir, _client, _free_port, _init_with_cli, _sealed_report


def _write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "settings.toml").write_text("[server]\n" + body, encoding="utf-8")
    return tmp_path


# --- the setting -------------------------------------------------------------------------------

def test_workers_defaults_to_one(tmp_path: Path) -> None:
    assert 1 == Settings.load(_write(tmp_path, ""), environ={}).workers
    assert 1 == Settings(server_dir=tmp_path, database_url="sqlite:///x.db").workers


def test_workers_from_file_and_environment(tmp_path: Path) -> None:
    directory = _write(tmp_path, "workers = 4\n")
    assert 4 == Settings.load(directory, environ={}).workers
    assert 3 == Settings.load(directory, environ={"CRASHVEIL_WORKERS": "3"}).workers
    assert MAX_WORKERS == Settings.load(_write(tmp_path, f"workers = {MAX_WORKERS}\n"), environ={}).workers


@pytest.mark.parametrize(("body", "environ"), [
    ("workers = 0\n", {}),
    ("workers = -1\n", {}),
    ("workers = \"two\"\n", {}),
    ("workers = 1000\n", {}),
    ("workers = 2.0\n", {}),
    ("workers = true\n", {}),
    ("", {"CRASHVEIL_WORKERS": "two"}),
    ("", {"CRASHVEIL_WORKERS": "0"}),
])
def test_bad_workers_are_refused_naming_the_key(tmp_path: Path, body: str, environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(_write(tmp_path, body), environ=environ)
    assert "workers" in str(caught.value)
    assert "integer" in str(caught.value)


def test_validate_refuses_workers_built_directly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings(server_dir=tmp_path, database_url="sqlite:///x.db", workers=MAX_WORKERS + 1).validate()
    assert ("workers", f"an integer from 1 to {MAX_WORKERS}") == (caught.value.key, caught.value.expected)


def test_workers_round_trip_through_the_settings_file(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    default = Settings(server_dir=root, database_url=f"sqlite:///{root}/crashveil.db")
    assert "workers" not in default.to_toml()  # defaults are not written
    settings = Settings(server_dir=root, database_url=f"sqlite:///{root}/crashveil.db", workers=8)
    assert "workers = 8" in write_settings(settings).read_text()
    assert settings == Settings.load(root, environ={})


# --- the flag ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> ServerDir:
    """A server directory made by the real ``crashveil server init`` (and a client certificate)."""
    return _init_with_cli(tmp_path_factory.mktemp("server") / "srv")


def test_init_writes_settings_that_load_with_one_worker(server_dir: ServerDir) -> None:
    assert 1 == Settings.load(server_dir.path, environ={}).workers


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Settings, dict[str, Any]]]:
    """``run_server`` replaced by a recorder: the command runs up to serving, then returns."""
    calls: list[tuple[Settings, dict[str, Any]]] = []
    monkeypatch.setattr(run_module, "run_server", lambda settings, **kwargs: calls.append((settings, kwargs)))
    monkeypatch.delenv("CRASHVEIL_WORKERS", raising=False)
    return calls


@pytest.fixture
def two_in_file(server_dir: ServerDir, tmp_path: Path) -> Path:
    """A copy of the server directory whose settings file says ``workers = 2``."""
    copy = tmp_path / "srv"
    shutil.copytree(server_dir.path, copy)
    with (copy / "settings.toml").open("a", encoding="utf-8") as handle:
        handle.write("workers = 2\n")
    return copy


@pytest.mark.parametrize(("flag", "environ", "expected"), [
    ([], {}, 2),
    (["--workers", "3"], {}, 3),
    (["--workers", "1"], {}, 1),
    ([], {"CRASHVEIL_WORKERS": "5"}, 5),
    (["--workers", "3"], {"CRASHVEIL_WORKERS": "5"}, 3),
])
def test_the_flag_overrides_the_setting(two_in_file: Path, captured: list[Any], flag: list[str],
                                        environ: dict[str, str], expected: int) -> None:
    result = CliRunner().invoke(cli, ["server", "run", "--server-dir", str(two_in_file), *flag], env=environ,
                                catch_exceptions=False)
    assert 0 == result.exit_code, result.output
    [(settings, kwargs)] = captured
    assert (expected, expected) == (settings.workers, kwargs["workers"])


@pytest.mark.parametrize("value", ["0", "-1", "two", "1000"])
def test_a_bad_flag_is_a_usage_error(two_in_file: Path, captured: list[Any], value: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert 2 == main(["server", "run", "--server-dir", str(two_in_file), "--workers", value])
    err = capsys.readouterr().err
    assert "Invalid value for '--workers'" in err and value in err
    assert [] == captured


# --- the real server, from the command line ----------------------------------------------------

def test_server_run_with_two_workers_serves_and_stores(server_dir: ServerDir, tmp_path: Path) -> None:
    port, web_port = _free_port(), _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRASHVEIL_")}
    env.update(CRASHVEIL_PORT=str(port), CRASHVEIL_WEB_PORT=str(web_port))
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "crashveil", "server", "run", "--server-dir",
                                    str(server_dir.path), "--workers", "2"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while _listening(port) < 2 or _listening(web_port) < 2:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the fronts did not start: {log.read_text()}")
            time.sleep(0.1)
        assert 3 == len(_children(process.pid))  # two fronts and the writer
        url = f"https://127.0.0.1:{port}"
        _, sealed = _sealed_report(server_dir)
        with _client(server_dir) as client:
            health = client.get(url + "/healthz")
            stored = client.post(url + reports_path("demo"), content=sealed,
                                 headers={"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"})
            status = client.get(url + receipt_path(stored.json()["receipt"]))
        assert (200, 201, "grouped") == (health.status_code, stored.status_code, status.json()["status"])
        process.send_signal(signal.SIGTERM)
        assert 0 == process.wait(60), log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
