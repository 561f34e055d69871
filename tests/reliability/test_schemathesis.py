"""schemathesis against ``openapi.yaml`` on both listeners of the running server: no 5xx anywhere.

The ingest listener (mutual TLS) serves the native API; the web listener (TLS, no client
certificate) serves the Sentry-compatible ingest, receipts and health (and the dashboard and
public pages, which the contract does not describe). Each listener is fuzzed with the
operations it serves. Every answer must pass ``not_a_server_error``, and its status and body
must be the ones the contract declares (``status_code_conformance``,
``response_schema_conformance``). Sentry requests carry a real DSN key every other case, so
the fuzzer gets past authentication into the envelope parser and the event mapping.

A fixed budget per operation in CI; ``CRASHVEIL_RELIABILITY_SCALE`` multiplies it.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

servers = sys.modules["crashveil_tests_servers"]
SCALE = max(1, int(os.environ.get("CRASHVEIL_RELIABILITY_SCALE", "1")))
schema = schemathesis.openapi.from_path(str(files("crashveil.server.http").joinpath("openapi.yaml")))

#: Operations only one listener serves (``app.create_app(surface=...)``); the rest are on both.
INGEST_ONLY = ["submitReport", "submitDeletionRequest", "getRemoteConfig", "metrics"]
WEB_ONLY = ["submitSentryEnvelope", "preflightSentryEnvelope", "submitSentryEvent", "preflightSentryEvent"]
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
_EXAMPLES = settings(max_examples=12 * SCALE, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))

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
def sentry_dsn(running: Any) -> tuple[str, str]:
    """(numeric project id, DSN key) of a Sentry key for the ``demo`` project."""
    from crashveil.server.sentry.keys import SentryKeys

    storage = running.dir.storage()
    try:
        project, key = SentryKeys(storage.engine).create_key("demo", label="schemathesis")
    finally:
        storage.close()
    return str(project.numeric_id), key


@pytest.fixture(scope="module")
def ingest_session(running: Any) -> Iterator[Any]:
    import requests

    with requests.Session() as http:
        http.verify = str(running.dir.ca_pem)
        http.cert = (str(running.dir.client_cert), str(running.dir.client_key))
        yield http


@pytest.fixture(scope="module")
def web_session(running: Any) -> Iterator[Any]:
    import requests

    with requests.Session() as http:
        http.verify = str(running.dir.ca_pem)  # the web listener asks for no client certificate
        yield http


def _check(case: Any, response: Any, running: Any) -> None:
    try:
        case.validate_response(response, checks=CHECKS)
    except BaseExceptionGroup as failure:  # schemathesis's FailureGroup: every failed check
        tail = running.log_text()[-2000:] if response.status_code >= 500 else ""
        raise AssertionError(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                             f"{response.text[:300]}\n{failure}\n{tail}") from None


@schema.exclude(operation_id=WEB_ONLY).parametrize()
@_EXAMPLES
def test_ingest_listener_answers_by_the_contract(case: Any, running: Any, ingest_session: Any) -> None:
    """Whatever schemathesis generates for the native API, the ingest listener answers below
    500, with a declared status and body."""
    response = case.call(base_url=running.url(""), session=ingest_session, timeout=10, verify=ingest_session.verify,
                         cert=ingest_session.cert)
    _check(case, response, running)


_authenticated = itertools.count()


@schema.exclude(operation_id=INGEST_ONLY).parametrize()
@_EXAMPLES
def test_web_listener_answers_by_the_contract(case: Any, running: Any, web_session: Any,
                                              sentry_dsn: tuple[str, str]) -> None:
    """The same on the web listener: Sentry ingest (half the cases with the real DSN key),
    receipts, health, the document itself."""
    headers = {}
    sentry_post = case.method == "POST" and case.operation.path.startswith("/api/{numeric_id}/")
    if sentry_post and next(_authenticated) % 2:
        numeric_id, key = sentry_dsn
        case.path_parameters = {**(case.path_parameters or {}), "numeric_id": numeric_id}
        headers["X-Sentry-Auth"] = f"Sentry sentry_version=7, sentry_key={key}"
    response = case.call(base_url=f"https://127.0.0.1:{running.web_port}", session=web_session, timeout=10,
                         headers=headers, verify=web_session.verify)
    _check(case, response, running)


def test_sentry_answer_without_an_event_follows_the_contract(running: Any, web_session: Any,
                                                             sentry_dsn: tuple[str, str]) -> None:
    """A header-only envelope (or one of sessions only) is a 200 whose body the contract allows."""
    import jsonschema

    numeric_id, key = sentry_dsn
    response = web_session.post(f"https://127.0.0.1:{running.web_port}/api/{numeric_id}/envelope/", data=b"{}\n",
                                headers={"X-Sentry-Auth": f"Sentry sentry_key={key}"}, timeout=10,
                                verify=web_session.verify)  # an environment CA bundle would win over session.verify
    accepted = schema.raw_schema["components"]["responses"]["SentryAccepted"]["content"]["application/json"]["schema"]
    assert 200 == response.status_code
    jsonschema.validate(response.json(), accepted)
