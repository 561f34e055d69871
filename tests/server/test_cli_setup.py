"""CLI setup: server init, project add/list, issue-client-cert, keys rotate/list, migrate."""

from __future__ import annotations

import ssl
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from crashveil.cli.app import cli
from crashveil.server.settings import Settings
from crashveil.server.storage.store import Storage
from crashveil.wire.protocol import ConnectionString


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert 0 == result.exit_code, result.output
    return result.stdout


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A server directory made by `crashveil server init`, with x25519 keys for speed."""
    directory = tmp_path_factory.mktemp("srv") / "server"
    _run("server", "init", str(directory), "--suite", "x25519", "--name", "crash.example", "--port", "9443")
    return directory


def test_init_layout_and_modes(server_dir: Path) -> None:
    """Init writes settings, KEK, CA and server certificate; secrets are 0600."""
    modes = {p.relative_to(server_dir).as_posix(): p.stat().st_mode & 0o777
             for p in server_dir.rglob("*") if p.is_file() and not p.name.startswith("crashveil.db")}
    assert {"settings.toml": 0o600, "keys/kek.json": 0o600, "tls/ca.pem": 0o644, "tls/ca.key": 0o600,
            "tls/server.pem": 0o644, "tls/server.key": 0o600, "projects/demo/policy.toml": 0o644,
            # the first project's creation is the audit trail's first entry: its key and signed head
            "keys/audit_ed25519.key": 0o600, "audit/head.json": 0o644, "audit/head.json.lock": 0o644,
            # the server's id, also in the database (server/cluster/identity.py)
            "server.id": 0o600} == modes


def test_init_prints_a_connection_string(server_dir: Path) -> None:
    """The connection string printed for the demo project parses and pins the CA and the keys."""
    printed = CliRunner().invoke(cli, ["project", "connection-string", "demo", "--server-dir", str(server_dir)])
    parsed = ConnectionString.parse(printed.stdout.strip())
    settings = Settings.load(server_dir, environ={})
    ca = x509.load_pem_x509_certificate(settings.ca_cert_path.read_bytes())
    storage = Storage.open(settings)
    record = storage.project("demo")
    storage.close()
    assert ("127.0.0.1", 9443, "demo") == (parsed.host, parsed.port, parsed.project)
    assert ca.public_bytes(__import__("cryptography").hazmat.primitives.serialization.Encoding.DER) == parsed.ca_der
    assert (record.keypairs[0].public_key_string(), record.signing_key.public_key_string()) == (
        parsed.public_key, parsed.signing_key)


def test_server_certificate_names(server_dir: Path) -> None:
    """The server certificate covers loopback plus the configured names and chains to the CA."""
    settings = Settings.load(server_dir, environ={})
    cert = x509.load_pem_x509_certificate(settings.server_cert_path.read_bytes())
    ca = x509.load_pem_x509_certificate(settings.ca_cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = [str(v) for v in san.get_values_for_type(x509.IPAddress)] + san.get_values_for_type(x509.DNSName)
    assert ["127.0.0.1", "::1", "localhost", "crash.example"] == names
    cert.verify_directly_issued_by(ca)
    context = ssl.create_default_context(cafile=str(settings.ca_cert_path))
    context.load_cert_chain(str(settings.server_cert_path), str(settings.server_key_path))


def test_issue_client_cert(server_dir: Path) -> None:
    """issue-client-cert writes NAME.pem and a 0600 NAME.key for client authentication."""
    _run("server", "issue-client-cert", "app-1", "--server-dir", str(server_dir))
    cert_path, key_path = server_dir / "clients" / "app-1.pem", server_dir / "clients" / "app-1.key"
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert 0o600 == key_path.stat().st_mode & 0o777
    assert [ExtendedKeyUsageOID.CLIENT_AUTH] == list(usage)
    ssl.create_default_context().load_cert_chain(str(cert_path), str(key_path))
    again = CliRunner().invoke(cli, ["server", "issue-client-cert", "app-1", "--server-dir", str(server_dir)])
    assert 1 == again.exit_code


def test_project_add_and_list(server_dir: Path, tmp_path: Path) -> None:
    """project add creates a project with its own policy file and lists it beside demo."""
    policy = tmp_path / "shop.policy.toml"
    default = (server_dir / "projects" / "demo" / "policy.toml").read_text()
    policy.write_text(default.replace('version = "1.2.0"', 'version = "1.3.0"'))
    printed = _run("project", "add", "shop", "--policy", str(policy), "--server-dir", str(server_dir))
    listed = _run("project", "list", "--server-dir", str(server_dir))
    assert "shop" == ConnectionString.parse(printed.strip()).project
    assert "1.3.0" in (server_dir / "projects" / "shop" / "policy.toml").read_text()
    assert [["demo", "1.2.0"], ["shop", "1.3.0"]] == [line.split()[:2] for line in listed.splitlines()[1:]]


def test_keys_rotate_and_list(server_dir: Path) -> None:
    """keys rotate gives new project keys and a new KEK; keys list shows ages and states."""
    before = tomllib.loads((server_dir / "settings.toml").read_text())
    _run("keys", "rotate", "--project", "demo", "--server-dir", str(server_dir))
    listed = _run("keys", "list", "--server-dir", str(server_dir))
    states = [line.split()[1:2] + line.split()[5:6] for line in listed.splitlines()[1:] if " demo " in line]
    kinds = sorted(
        line.split()[1] + ":" + line.split()[5] for line in listed.splitlines()[1:] if line.startswith("kek-")
    )
    assert [["hpke", "current"], ["hpke", "overlap"], ["signing", "current"], ["signing", "overlap"]] == states
    assert ["kek:current", "kek:retired"] == kinds
    assert before == tomllib.loads((server_dir / "settings.toml").read_text())


def test_migrate_reports_up_to_date(server_dir: Path) -> None:
    """server migrate on an initialised directory changes nothing."""
    assert "(up to date)" in _run("server", "migrate", "--server-dir", str(server_dir))


def test_init_refuses_existing_directory(server_dir: Path) -> None:
    """init never overwrites a server directory."""
    result = CliRunner().invoke(cli, ["server", "init", str(server_dir)])
    assert (1, True) == (result.exit_code, "already a server directory" in result.output)
