"""The file form of the connection string: ``crashveil project connection PROJECT --out FILE``
writes it, ``init(connection_file=FILE)`` (or ``CRASHVEIL_CONNECTION_FILE``) reads it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crashveil.errors import ConfigError
from crashveil.sdk.options import Options


def _options(tmp_path: Path, environ: dict[str, str] | None = None, **kwargs: object) -> Options:
    return Options.from_kwargs({"data_dir": str(tmp_path / "data"), **kwargs}, environ=environ or {})


def test_written_by_the_cli_and_read_by_init(tmp_path: Path) -> None:
    """The file holds the same string `connection-string` prints; init and the variable read it."""
    pytest.importorskip("sqlalchemy")
    server, target = tmp_path / "server", tmp_path / "app" / "crashveil.conn"
    target.parent.mkdir()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "crashveil", *args], capture_output=True, text=True, timeout=120)
        assert 0 == done.returncode, done.stderr
        return done

    cli("server", "init", str(server), "--suite", "x25519")
    printed = cli("project", "connection-string", "demo", "--server-dir", str(server)).stdout.strip()
    said = cli("project", "connection", "demo", "--out", str(target), "--server-dir", str(server)).stderr
    from_kwarg = _options(tmp_path, connection_file=str(target))
    from_env = _options(tmp_path, environ={"CRASHVEIL_CONNECTION_FILE": str(target)})
    expected = _options(tmp_path, dsn=printed)
    assert f"connection_file={str(target)!r}" in said
    assert (expected.dsn, expected.dsn, "demo") == (from_kwarg.dsn, from_env.dsn, from_kwarg.project)


@pytest.mark.parametrize(("content", "problem"), [
    (None, "cannot be read"),
    ("", "exactly one connection string"),
    ("crashveil://a:1/demo?key=x:y&sign=ed25519:z&ca=AA\ncrashveil://b:1/demo?key=x:y&sign=ed25519:z&ca=AA\n",
     "exactly one connection string"),
    ("https://example.com/\n", "dsn scheme 'https' is not supported"),
    ("crashveil://host:1/demo?key=x:y&ca=AA\n", "dsn.sign missing"),
])
def test_bad_files_are_config_errors_naming_the_option_and_file(tmp_path: Path, content: str | None,
                                                                problem: str) -> None:
    path = tmp_path / "crashveil.conn"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as info:
        _options(tmp_path, connection_file=str(path))
    assert ("connection_file", True, True) == (info.value.key, str(path) in str(info.value), problem in str(info.value))


def test_dsn_and_connection_file_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="together with dsn"):
        _options(tmp_path, connection_file=str(tmp_path / "x"), dsn="crashveil://h:1/demo?key=a:b&sign=ed25519:c&ca=AA")


def test_comments_are_skipped_and_the_file_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "crashveil.conn"
    path.write_text("# a comment\n\n  crashveil://h:1/demo?key=a:b&sign=ed25519:c&ca=AA  \n")
    options = _options(tmp_path, connection_file=str(path))
    path.unlink()
    assert ("h", 1, "demo", str(path)) == (options.dsn.host, options.dsn.port, options.project,
                                          options.connection_file)
