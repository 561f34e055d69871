"""Trusted proxies (server/http/forwarded.py) and /metrics on the web listener (metrics.MetricsAccess):
forwarded headers count only from configured proxies, and the web listener's /metrics is off
unless a token or an address allowlist guards it."""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette >= 1.0 prefers httpx2 and warns when it finds httpx
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

from crashveil.errors import ConfigError
from crashveil.server.http.app import create_app
from crashveil.server.http.forwarded import ClientView, TrustedProxies, parse_networks
from crashveil.server.settings import Settings

PROXY = "10.0.0.5"


def _scope(peer: str, *headers: tuple[str, str], scheme: str = "https") -> dict[str, Any]:
    return {"type": "http", "scheme": scheme, "client": (peer, 40000),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers]}


def _proxies(*entries: str, header: str = "x-forwarded-for") -> TrustedProxies:
    return TrustedProxies(parse_networks("trusted_proxies", entries), header)


def test_headers_from_an_untrusted_peer_are_ignored() -> None:
    """With no proxy configured, or a peer that is not one, the client is the peer itself."""
    spoofed = _scope("198.51.100.7", ("X-Forwarded-For", "192.0.2.1"), ("X-Forwarded-Proto", "http"),
                     ("Forwarded", "for=192.0.2.1;proto=http"))
    assert (ClientView("198.51.100.7", "https"), ClientView("198.51.100.7", "https")) == (
        TrustedProxies().client(spoofed), _proxies("10.0.0.0/8").client(spoofed))


def test_trusted_proxy_names_the_client_and_scheme() -> None:
    """From a trusted proxy, the rightmost untrusted X-Forwarded-For entry is the client and
    X-Forwarded-Proto its scheme; addresses the client prepended itself are not believed."""
    scope = _scope(PROXY, ("X-Forwarded-For", "6.6.6.6, 192.0.2.1"), ("X-Forwarded-Proto", "https"), scheme="http")
    assert ClientView("192.0.2.1", "https") == _proxies("10.0.0.0/8").client(scope)


def test_chain_of_trusted_proxies_is_walked_from_the_right() -> None:
    scope = _scope(PROXY, ("X-Forwarded-For", "192.0.2.1, 10.1.1.1"), ("X-Forwarded-For", "10.2.2.2"))
    assert "192.0.2.1" == _proxies("10.0.0.0/8").client(scope).address


def test_garbage_entry_leaves_the_nearest_trusted_hop() -> None:
    """An entry that is no address stops the walk: the last trusted hop stands for the client."""
    scope = _scope(PROXY, ("X-Forwarded-For", "192.0.2.1, unknown, 10.1.1.1"))
    assert "10.1.1.1" == _proxies("10.0.0.0/8").client(scope).address


def test_only_the_configured_header_is_read() -> None:
    """A proxy that sets X-Forwarded-For passes a client's own Forwarded header through, and
    the other way round: only the header named by proxy_header counts."""
    both = _scope(PROXY, ("X-Forwarded-For", "192.0.2.1"), ("Forwarded", 'for="[2001:db8::1]:4711";proto=http'))
    assert (ClientView("192.0.2.1", "https"), ClientView("2001:db8::1", "http")) == (
        _proxies(PROXY).client(both), _proxies(PROXY, header="forwarded").client(both))


def test_ipv4_mapped_peer_matches_an_ipv4_network() -> None:
    scope = _scope("::ffff:10.0.0.5", ("X-Forwarded-For", "192.0.2.9"))
    assert "192.0.2.9" == _proxies("10.0.0.0/8").client(scope).address


@pytest.mark.parametrize(("key", "value", "named"), [
    ("trusted_proxies", ("10.0.0.0/33",), "trusted_proxies"),
    ("metrics_allow", ("not-an-address",), "metrics_allow"),
    ("proxy_header", "x-real-ip", "proxy_header"),
    ("metrics_token", "plain-token", "metrics_token"),
    ("log_format", "xml", "log_format"),
])
def test_bad_settings_name_their_key(tmp_path, key: str, value: object, named: str) -> None:
    settings = Settings(server_dir=tmp_path, database_url="sqlite:///x.db")
    with pytest.raises(ConfigError) as caught:
        dataclasses.replace(settings, **{key: value}).validate()
    assert named in str(caught.value)


def test_settings_file_and_environment_read_the_new_keys(tmp_path) -> None:
    (tmp_path / "settings.toml").write_text('[server]\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/8"]\n'
                                            'log_format = "json"\n')
    loaded = Settings.load(tmp_path, environ={"CRASHVEIL_METRICS_ALLOW": "192.0.2.0/24, 127.0.0.1"})
    assert (("127.0.0.1", "10.0.0.0/8"), ("192.0.2.0/24", "127.0.0.1"), "json") == (
        loaded.trusted_proxies, loaded.metrics_allow, loaded.log_format)


TOKEN = "scrape-token-" + "x" * 20
DIGEST = "sha256:" + hashlib.sha256(TOKEN.encode()).hexdigest()


def _web(settings: Settings, storage: Any, peer: str, **changes: object) -> TestClient:
    app = create_app(dataclasses.replace(settings, **changes), storage, surface="web", group_commit=False)
    return TestClient(app, base_url="https://testserver", client=(peer, 40000))


def test_web_metrics_are_off_by_default(settings, storage) -> None:
    assert 404 == _web(settings, storage, "127.0.0.1").get("/metrics").status_code


def test_web_metrics_need_the_bearer_token(settings, storage) -> None:
    client = _web(settings, storage, "192.0.2.1", metrics_token=DIGEST)
    statuses = [client.get("/metrics", headers=h).status_code
                for h in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                          {"Authorization": f"Bearer {TOKEN}"})]
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ([401, 401, 401, 200], True) == (statuses, b"crashveil_request_duration_seconds" in answer.content)


def test_web_metrics_allowlist_uses_the_client_behind_a_trusted_proxy(settings, storage) -> None:
    """The allowlist sees the client the trusted proxy names; from an untrusted peer the same
    header changes nothing."""
    allow = {"metrics_allow": ("192.0.2.0/24",)}
    behind = _web(settings, storage, PROXY, trusted_proxies=(PROXY,), **allow)
    direct = _web(settings, storage, "198.51.100.7", **allow)
    header = {"X-Forwarded-For": "192.0.2.44"}
    assert (200, 404, 404, 200) == (
        behind.get("/metrics", headers=header).status_code,
        behind.get("/metrics", headers={"X-Forwarded-For": "203.0.113.1"}).status_code,
        direct.get("/metrics", headers=header).status_code,
        _web(settings, storage, "192.0.2.3", **allow).get("/metrics").status_code)


def test_mutual_tls_listener_metrics_stay_open(settings, storage) -> None:
    app = create_app(settings, storage, surface="ingest", group_commit=False)
    assert 200 == TestClient(app, client=("198.51.100.7", 1)).get("/metrics").status_code


def test_trusted_proxy_connections_count_against_the_total_only() -> None:
    """Every client behind a trusted proxy comes over the proxy's connections: the per-client
    cap would throttle them all together, so a trusted proxy is held to the listener's total."""
    from crashveil.server.http.connections import Admission

    admission = Admission(6, 2, exempt=_proxies(PROXY).trusts)
    proxy = [admission.admit(PROXY) for _ in range(5)]
    other = [admission.admit("198.51.100.7") for _ in range(2)]
    assert ([True] * 5, [True, False]) == (proxy, other)


def test_web_host_binds_the_web_listener_alone(tmp_path) -> None:
    """web_host puts the web listener (behind a proxy) on loopback while `host` serves the
    mutual-TLS port elsewhere."""
    from starlette.applications import Starlette

    from crashveil.server.http.run import uvicorn_config

    settings = Settings(server_dir=tmp_path, database_url="sqlite:///x.db", tls=False, host="0.0.0.0",
                        web_host="127.0.0.1")
    assert ("0.0.0.0", "127.0.0.1") == (uvicorn_config(settings, Starlette()).host,
                                        uvicorn_config(settings, Starlette(), web=True).host)
