"""schemathesis against ``openapi.yaml`` on the running server (mutual TLS): no 5xx anywhere.

A fixed budget per operation in CI; ``CRASHVEIL_RELIABILITY_SCALE`` multiplies it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

servers = sys.modules["crashveil_tests_servers"]
SCALE = max(1, int(os.environ.get("CRASHVEIL_RELIABILITY_SCALE", "1")))
schema = schemathesis.openapi.from_path(str(files("crashveil.server").joinpath("openapi.yaml")))

pytestmark = pytest.mark.slow


@schemathesis.serializer("application/vnd.crashveil.sealed", "application/x-sentry-envelope")
def _raw_bytes(ctx: Any, value: Any) -> bytes:
    """Sealed reports and envelopes are opaque bytes: send what was generated, as bytes."""
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else repr(value).encode()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real server for the whole module, with rate limits out of the fuzzer's way."""
    root = tmp_path_factory.mktemp("schemathesis")
    server = servers.Server(servers.init_server_dir(root / "dir"), root / "server.log",
                            environ={"CRASHVEIL_PROJECT_RATE_PER_S": "10000", "CRASHVEIL_PROJECT_BURST": "10000"})
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def session(running: Any) -> Iterator[Any]:
    import requests

    with requests.Session() as http:
        http.verify = str(running.dir.ca_pem)
        http.cert = (str(running.dir.client_cert), str(running.dir.client_key))
        yield http


@schema.parametrize()
@settings(max_examples=12 * SCALE, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx(case: Any, running: Any, session: Any) -> None:
    """Whatever schemathesis generates for an operation of the contract, the server answers below 500."""
    response = case.call(base_url=running.url(""), session=session, timeout=10, verify=session.verify,
                         cert=session.cert)
    assert (False, case.path) == (response.status_code >= 500, case.path), running.log_text()[-2000:]
