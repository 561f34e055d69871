"""schemathesis against the API's own OpenAPI description, on a real server's web listener.

The server is the real process (``tests/_servers.py``: uvicorn, TLS, SQLite), its ``demo``
project seeded with a few groups, a developer with a token of every scope made by the CLI.
The document the server serves at ``/api/v1/openapi.json`` is the one fuzzed. Every answer
must be below 500, with a status and body the description declares. Half the group cases
use a real group id, so the fuzzer reaches the 200 answers and PATCH bodies, not only 404s.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _loading import load

schemathesis = pytest.importorskip("schemathesis")
import sqlalchemy as sa  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from crashveil.server.api.openapi import description  # noqa: E402
from crashveil.server.db.tables import crash_groups  # noqa: E402

servers = sys.modules.get("crashveil_tests_servers") or load("crashveil_tests_servers",
                                                             Path(__file__).resolve().parents[2] / "_servers.py")
SCALE = max(1, int(os.environ.get("CRASHVEIL_RELIABILITY_SCALE", "1")))
schema = schemathesis.openapi.from_dict(description())
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
_EXAMPLES = settings(max_examples=15 * SCALE, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))
_real = itertools.count()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real server with demo's groups, and the token (every scope) of a developer and privacy officer."""
    root = tmp_path_factory.mktemp("api_schemathesis")
    server_dir = servers.init_server_dir(root / "dir")
    cli_dir = ("--server-dir", str(server_dir.path))
    servers._cli("user", "add", "dev", "--project", "demo", "--role", "developer", *cli_dir,
                 env={"CRASHVEIL_NEW_PASSWORD": "schemathesis-password"})
    servers._cli("user", "grant", "dev", "demo", "privacy-officer", *cli_dir)
    token = servers._cli("token", "create", "dev", "--name", "fuzz", "--project", "demo", "--role", "developer",
                         "--role", "privacy-officer", "--scope", "admin", *cli_dir).strip()
    sealer = servers.Sealer(server_dir)
    storage = server_dir.storage()
    try:
        from datetime import UTC, datetime

        for crash_type, function in (("KeyError", "load"), ("ValueError", "parse"), ("OSError", "save")):
            storage.store_report("demo", sealer.report(crash_type=crash_type, function=function, message="bad 42"),
                                 origin="crashveil-sdk", received_at=datetime.now(UTC), redaction_hits={},
                                 dropped_fields=())
        with storage.engine.connect() as conn:
            group_id = int(conn.execute(sa.select(sa.func.min(crash_groups.c.id))).scalar_one())
    finally:
        storage.close()
    server = servers.Server(server_dir, root / "server.log")
    server.start()
    yield server, token, group_id
    server.kill()


@pytest.fixture(scope="module")
def web(running: Any) -> Iterator[Any]:
    import requests

    server, _, _ = running
    with requests.Session() as http:
        http.verify = str(server.dir.ca_pem)
        yield http


def test_served_description_is_the_one_fuzzed(running: Any, web: Any) -> None:
    server, _, _ = running
    answer = web.get(f"https://127.0.0.1:{server.web_port}/api/v1/openapi.json", timeout=10, verify=web.verify)
    assert (200, description()) == (answer.status_code, answer.json())


def test_cli_client_against_the_real_server(running: Any) -> None:
    """``crashveil groups list`` and ``releases list`` as a user runs them: a subprocess, urllib
    over TLS to the web listener with the server's CA, the token from the environment; a bad
    token is one line on stderr, exit code 1, without the token."""
    import json
    import subprocess

    server, token, group_id = running
    where = ("--server", f"https://127.0.0.1:{server.web_port}", "--ca-file", str(server.dir.ca_pem))

    def run(token_value: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "crashveil", *args, *where], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "CRASHVEIL_API_TOKEN": token_value})

    listed = run(token, "groups", "list", "--project", "demo", "--json")
    refused = run("cvt_0123456789abcdef_wrongsecret", "releases", "list", "--project", "demo")
    assert (0, 1, 1) == (listed.returncode, refused.returncode, len(refused.stderr.strip().splitlines()))
    assert group_id in [g["id"] for g in json.loads(listed.stdout)]
    assert "401 unauthorized" in refused.stderr and "wrongsecret" not in refused.stderr + refused.stdout


@schema.parametrize()
@_EXAMPLES
def test_api_answers_by_its_description(case: Any, running: Any, web: Any) -> None:
    """Whatever schemathesis generates, a token-bearing call is answered below 500 as declared."""
    server, token, group_id = running
    if case.path_parameters and next(_real) % 2:
        real = {"project": "demo"} | ({"group": group_id} if "group" in case.path_parameters else {})
        case.path_parameters = {**case.path_parameters, **real}
    response = case.call(base_url=f"https://127.0.0.1:{server.web_port}", session=web, timeout=10,
                         headers={"Authorization": f"Bearer {token}"}, verify=web.verify)
    try:
        case.validate_response(response, checks=CHECKS)
    except BaseExceptionGroup as failure:
        tail = server.log_text()[-2000:] if response.status_code >= 500 else ""
        raise AssertionError(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                             f"{response.text[:300]}\n{failure}\n{tail}") from None
