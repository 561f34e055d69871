"""The API client commands (``crashveil groups|releases|api``) in-process: the same click
commands and ``ApiClient``, with a transport into the test app instead of ``urllib`` (the
one run against a real server over TLS is in ``test_api_schemathesis.py``, which has one)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from crashveil.cli.api_client import Answer, ApiClient, token_from_env
from crashveil.cli.api_commands import ClientSettings, _safe
from crashveil.cli.app import cli
from crashveil.errors import ApiClientError

SERVER = "http://localhost"


class AppTransport:
    """``Transport`` into the Starlette test client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def send(self, method: str, url: str, headers: Any, body: bytes | None) -> Answer:
        answer = self.client.request(method, url, headers=dict(headers), content=body)
        return Answer(answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.content)


def _run(api: Any, token: str, *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), obj=ClientSettings(AppTransport(api.client)),
                              env={"CRASHVEIL_API_TOKEN": token, "CRASHVEIL_API_SERVER": SERVER})


def test_cli_lists_shows_updates_and_reads_through_the_api(api: Any) -> None:
    """Table and JSON output, the filters, show, an audited update, releases, the audit log,
    the token list and a revocation: one command line each; the client follows every page."""
    dev = api.dash.access
    dev.grant("dev", "demo", "privacy-officer", actor="cli")
    _, token = dev.create_token("dev", "cli", projects=["demo"], roles=["developer", "privacy-officer"], actor="cli",
                                scopes=["admin"])
    table = _run(api, token, "groups", "list", "--project", "demo", "--sort", "events")
    listed = _run(api, token, "groups", "list", "--project", "demo", "--json", "--limit", "2")
    found = json.loads(_run(api, token, "groups", "list", "--project", "demo", "-q", "TimeoutError", "--json").output)
    assert (0, 0, 2, ["TimeoutError"]) == (table.exit_code, listed.exit_code, len(json.loads(listed.output)),
                                           [g["type"] for g in found])
    assert table.output.splitlines()[0].split()[:4] == ["id", "status", "events", "installs"]
    gid = api.dash.group_ids["fetch"]
    shown = _run(api, token, "groups", "show", str(gid), "--project", "demo", "--json")
    updated = _run(api, token, "groups", "update", str(gid), "--project", "demo", "--status", "ignored", "--json")
    assert (gid, "ignored") == (json.loads(shown.output)["id"], json.loads(updated.output)["status"])
    stale = _run(api, token, "groups", "show", str(gid), "--project", "demo").stderr.split("ETag: ")[1].strip()
    _run(api, token, "groups", "update", str(gid), "--project", "demo", "--status", "open")
    refused = _run(api, token, "groups", "update", str(gid), "--project", "demo", "--status", "resolved",
                   "--if-match", stale)
    assert (1, "412 precondition_failed") == (refused.exit_code, refused.output.strip().removeprefix("Error: ")[:23])
    assert ("group.status", f"group:{gid}") == (api.dash.audit.entries()[-1].action,
                                                api.dash.audit.entries()[-1].subject)
    outputs = [_run(api, token, *args) for args in (("releases", "list", "--project", "demo"),
                                                    ("api", "audit", "--project", "demo", "--limit", "3"),
                                                    ("api", "aggregates", "--project", "demo", "--days", "2"),
                                                    ("api", "projects"), ("api", "tokens"))]
    assert [0] * 5 == [o.exit_code for o in outputs], [o.output for o in outputs]
    assert ("1.2.0" in outputs[0].output, "group.status" in outputs[1].output, len(outputs[1].output.splitlines()))\
        == (True, True, 4)
    victim = dev.create_token("dev", "old", projects=["demo"], roles=["developer"], actor="cli")[0]
    revoked = _run(api, token, "api", "revoke-token", victim, "--json")
    assert (0, True) == (revoked.exit_code, json.loads(revoked.output)["revoked"])
    client = ApiClient(SERVER, token, AppTransport(api.client))  # pages of one: every group once, in order
    one_by_one = [g["id"] for g in client.items("/api/v1/projects/demo/groups", "groups", {"sort": "events"},
                                                limit=100, page_max=1)]
    whole = [g["id"] for g in client.get("/api/v1/projects/demo/groups", {"sort": "events"}).json()["groups"]]
    assert (whole, len(whole)) == (one_by_one, len(set(one_by_one)))
    _errors_are_one_line_with_the_status_and_never_the_token(api)


def _errors_are_one_line_with_the_status_and_never_the_token(api: Any) -> None:
    """401, 403 and 404 are one line on stderr, exit code 1, never the token."""
    reader = api.token("viewer", scopes=["groups:read"])
    answers = [_run(api, "cvt_0123456789abcdef_secretsecret", "groups", "list", "--project", "demo"),
               _run(api, reader, "api", "tokens"),
               _run(api, reader, "groups", "show", "999999", "--project", "demo"),
               _run(api, reader, "groups", "update", "1", "--project", "demo", "--status", "open")]
    lines = [a.output.strip().splitlines() for a in answers]
    assert [1, 1, 1, 1] == [a.exit_code for a in answers]
    assert [len(x) for x in lines] == [1, 1, 1, 1]
    assert ["401 unauthorized", "403 insufficient_scope", "404 not_found", "403 insufficient_scope"] == [
        x[0].removeprefix("Error: ")[:len(w)] for x, w in zip(lines, ["401 unauthorized",
                                                                                 "403 insufficient_scope",
                                                                                 "404 not_found",
                                                                                 "403 insufficient_scope"],
                                                                          strict=True)]
    assert not any("secretsecret" in a.output or reader in a.output for a in answers)
    missing = CliRunner().invoke(cli, ["groups", "list", "--project", "demo", "--server", SERVER],
                                 obj=ClientSettings(AppTransport(api.client)), env={"CRASHVEIL_API_TOKEN": ""})
    assert (1, True) == (missing.exit_code, "CRASHVEIL_API_TOKEN" in missing.output)


@pytest.mark.parametrize("server", ["http://crash.example.org", "ftp://localhost", "localhost:8443",
                                    "https://h/?x=1"])
def test_client_refuses_plain_http_off_the_loopback_and_non_urls(server: str) -> None:
    with pytest.raises(ApiClientError, match="--server"):
        ApiClient(server, "cvt_x", AppTransport(None))


def test_table_cells_cannot_drive_the_terminal_and_tokens_come_from_the_environment() -> None:
    assert ("?[31mred?]0;title?", "-") == (_safe("\x1b[31mred\x1b]0;title\x07"), _safe(None))
    with pytest.raises(ApiClientError, match="CRASHVEIL_API_TOKEN"):
        token_from_env({})
    assert "cvt_a_b" == token_from_env({"CRASHVEIL_API_TOKEN": " cvt_a_b\n"})


def test_client_modules_import_nothing_of_the_server() -> None:
    """The client runs with a plain ``pip install crashveil``: no server package, no httpx."""
    import ast
    from pathlib import Path

    import crashveil.cli

    names = set()
    for module in ("api_client.py", "api_commands.py"):
        tree = ast.parse((Path(crashveil.cli.__file__).parent / module).read_text(encoding="utf-8"))
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert [] == sorted(n for n in names if n.startswith(("crashveil.server", "httpx", "starlette", "requests")))
