"""The HTTP contract: openapi.yaml is valid, matches the route table, and every answer fits it."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.routing import Route

with warnings.catch_warnings():  # starlette >= 1.0 prefers httpx2 and warns when it finds httpx
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

from crashveil.sdk.delivery.seal import seal_report
from crashveil.server.http.app import create_app, load_openapi
from crashveil.wire import Report
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE, config_path, receipt_path, reports_path

jsonschema = pytest.importorskip("jsonschema")

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
HEADERS = {"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"}
SPEC = load_openapi()


@pytest.fixture
def client(settings: Any, storage: Any) -> TestClient:
    return TestClient(create_app(settings, storage, now=lambda: NOW))


@pytest.fixture
def seal(storage: Any) -> Callable[[bytes], bytes]:
    key = storage.project("demo").keypairs[0].public_key()
    return lambda payload: seal_report(payload, key, project_id="demo", schema_version=1)


def _operation(path: str, method: str) -> dict[str, Any]:
    """The spec's operation whose path template matches ``path``."""
    for template, item in SPEC["paths"].items():
        parts, wanted = template.strip("/").split("/"), path.split("?")[0].strip("/").split("/")
        if len(parts) == len(wanted) and all(p.startswith("{") or p == w for p, w in zip(parts, wanted, strict=False)):
            return item[method.lower()]  # type: ignore[no-any-return]
    raise AssertionError(f"{method} {path} is not in openapi.yaml")


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def check_against_spec(response: Any) -> None:
    """The status is documented for the operation, and a JSON body validates against its schema."""
    operation = _operation(response.request.url.path, response.request.method)
    status = str(response.status_code)
    assert status in operation["responses"], f"{status} not documented for {operation['operationId']}"
    documented = _resolve(operation["responses"][status])
    for header in documented.get("headers", {}):
        assert header in response.headers
    content = documented.get("content", {})
    if "application/json" in content:
        schema = {**content["application/json"]["schema"], "components": SPEC["components"]}
        jsonschema.validate(response.json(), schema, cls=jsonschema.Draft202012Validator)


def test_openapi_document_is_valid() -> None:
    """openapi.yaml is a valid OpenAPI 3.1 document."""
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(SPEC)


def test_openapi_json_serves_the_yaml(client: TestClient) -> None:
    """/openapi.json is the YAML document, as JSON."""
    response = client.get("/openapi.json")
    assert (200, SPEC) == (response.status_code, response.json())


def test_route_table_matches_spec(client: TestClient) -> None:
    """Every API route of the app is in the spec with the same methods, and nothing else is.

    The dashboard and the public summary are pages mounted under /dashboard and /public, not
    part of the machine API, so they are left out.
    """
    from crashveil.server.api.openapi import OPERATIONS  # the token API has its own contract

    token_api = {(path, method) for path, method, _, _ in OPERATIONS} | {("/api/v1/openapi.json", "get")}
    routes = {(route.path, method.lower()) for route in client.app.routes  # type: ignore[attr-defined]
              if isinstance(route, Route) for method in route.methods if method != "HEAD"} - token_api
    documented = {(path, method) for path, item in SPEC["paths"].items() for method in item}
    assert documented == routes


def test_protocol_paths_are_spec_paths() -> None:
    """The paths the SDK builds from crashveil.wire.protocol are operations of the spec."""
    assert ("submitReport", "getRemoteConfig", "getReceipt") == (
        _operation(reports_path("demo"), "post")["operationId"], _operation(config_path("demo"), "get")["operationId"],
        _operation(receipt_path("abc"), "get")["operationId"])


def test_answers_fit_the_contract(client: TestClient, seal: Callable[[bytes], bytes],
                                  make_report: Callable[..., Report]) -> None:
    """A tour of happy and refused requests: each status is documented and each body fits its schema."""
    report = make_report()
    stored = client.post(reports_path("demo"), content=seal(report.to_json()), headers=HEADERS)
    responses = [
        stored,
        client.post(reports_path("demo"), content=seal(report.to_json()), headers=HEADERS),
        client.post(reports_path("demo"), content=b"junk", headers=HEADERS),
        client.post(reports_path("demo"), content=b"junk", headers={**HEADERS, "Content-Type": "text/plain"}),
        client.post(reports_path("demo"), content=b"x" * 300_000, headers=HEADERS),
        client.post(reports_path("nope"), content=b"junk", headers=HEADERS),
        client.post(reports_path("demo"), headers=HEADERS,
                    content=seal(dataclasses.replace(make_report(), consent_level="off").to_json())),
        client.post("/api/v1/projects/demo/deletion-requests", headers=HEADERS,
                    content=seal(json.dumps({"request_id": str(uuid.uuid4()), "install_ids": ["c" * 32]}).encode())),
        client.post("/api/v1/projects/demo/deletion-requests", content=seal(b"{}"), headers=HEADERS),
        client.get(config_path("demo")),
        client.get(config_path("nope")),
        client.get(receipt_path(stored.json()["receipt"])),
        client.get(receipt_path("AAAAAAAAAAAAAAAAAAAAAA")),
        client.get("/healthz"),
        client.get("/readyz"),
        client.get("/metrics"),
    ]
    assert [201, 200, 400, 415, 413, 404, 422, 202, 400, 200, 404, 200, 404, 200, 200, 200] == \
        [r.status_code for r in responses]
    for response in responses:
        check_against_spec(response)


def test_remote_config_fits_its_schema(client: TestClient) -> None:
    """What the signed config decodes to matches RemoteConfig."""
    import base64

    body = client.get(config_path("demo")).json()
    config = json.loads(base64.urlsafe_b64decode(body["config"] + "=="))
    schema = {**SPEC["components"]["schemas"]["RemoteConfig"], "components": SPEC["components"]}
    jsonschema.validate(config, schema, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/nothing-here", 404, "not_found"),
    ("GET", reports_path("demo"), 405, "method_not_allowed"),
    ("DELETE", "/healthz", 405, "method_not_allowed"),
])
def test_routing_errors_use_the_error_shape(client: TestClient, method: str, path: str, status: int,
                                            code: str) -> None:
    """Unknown paths and wrong methods answer in the same JSON error shape."""
    response = client.request(method, path)
    assert (status, {"error": code, "field": None, "message": response.json()["message"]}) == \
        (response.status_code, response.json())


def test_metrics_are_per_app(settings: Any, storage: Any, seal: Callable[[bytes], bytes],
                             make_report: Callable[..., Report]) -> None:
    """Two apps in one process keep separate registries (no shared or duplicated counters)."""
    first = TestClient(create_app(settings, storage, now=lambda: NOW))
    second = TestClient(create_app(settings, storage, now=lambda: NOW))
    first.post(reports_path("demo"), content=seal(make_report().to_json()), headers=HEADERS)
    assert 'crashveil_reports_accepted_total{outcome="created"} 1.0' in first.get("/metrics").text
    assert 'outcome="created"' not in second.get("/metrics").text


def test_metrics_expose_the_promised_families(client: TestClient) -> None:
    """/metrics names accepted, rejected, dropped fields, redaction hits, rate-limited and latency."""
    client.post(reports_path("demo"), content=b"junk", headers=HEADERS)
    text = client.get("/metrics").text
    for family in ("crashveil_reports_accepted", "crashveil_reports_rejected", "crashveil_dropped_fields",
                   "crashveil_redaction_hits", "crashveil_rate_limited", "crashveil_request_duration_seconds"):
        assert re.search(rf"^# TYPE {family}(_total)? ", text, re.M), family
    assert 'crashveil_reports_rejected_total{reason="unsealable"} 1.0' in text
