"""``public_url``: every printed connection string, DSN and link names the public host, never the
listener's own address (issue 20). Each command's whole output (stdout and stderr) is searched."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from crashveil.cli.app import cli
from crashveil.wire.protocol import ConnectionString

PUBLIC = "https://crash.example.com"
LOCAL = re.compile(r"127\.0\.0\.1|localhost|\[::1\]|:8444\b")


def _run(*args: str) -> tuple[str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert 0 == result.exit_code, result.output
    return result.stdout, result.stderr


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """The output of every command that prints a connection string, DSN or link."""
    server = tmp_path_factory.mktemp("public") / "server"
    where = ("--server-dir", str(server))
    outputs = {"init": _run("server", "init", str(server), "--suite", "x25519", "--public-url", PUBLIC)}
    outputs["project add"] = _run("project", "add", "shop", *where)
    outputs["connection-string"] = _run("project", "connection-string", "demo", *where)
    outputs["sentry-key create"] = _run("project", "sentry-key", "create", "demo", *where)
    outputs["issue-client-cert"] = _run("server", "issue-client-cert", "app-1", *where)
    outputs["renew-client-cert"] = _run("server", "renew-client-cert", "app-1", *where)
    outputs["server_dir"] = (str(server), "")
    return outputs


def test_no_output_names_the_listener_itself(printed: dict[str, tuple[str, str]]) -> None:
    leaks = {name: LOCAL.findall(out + err) for name, (out, err) in printed.items() if name != "server_dir"}
    assert {name: [] for name in leaks} == leaks


def test_connection_strings_dsn_and_dashboard_link_use_it(printed: dict[str, tuple[str, str]]) -> None:
    strings = [ConnectionString.parse(printed[name][0].strip().splitlines()[-1])
               for name in ("init", "project add", "connection-string")]
    dsn = printed["sentry-key create"][0].strip()
    assert [("crash.example.com", 8443)] * 3 == [(s.host, s.port) for s in strings]
    assert re.fullmatch(r"https://[0-9a-f]+@crash\.example\.com/\d+", dsn), dsn
    assert f"dashboard: {PUBLIC}/dashboard/" in printed["init"][1]


def test_server_certificate_names_the_public_host(printed: dict[str, tuple[str, str]]) -> None:
    """Apps connect to the host in their connection string: the certificate must carry it."""
    cert = x509.load_pem_x509_certificate((Path(printed["server_dir"][0]) / "tls" / "server.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "crash.example.com" in names.get_values_for_type(x509.DNSName)
