"""Signed remote config: verification, parsing, cache, rollback, and "it can only lower"."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crashveil.errors import ConfigError
from crashveil.policy.model import ConsentLevel
from crashveil.sdk.remote.config import (
    RemoteConfig,
    decode_config,
    effective_level,
    effective_sample_rate,
    encode_config,
    encode_document,
    load_cached,
    refresh,
    store_cached,
)
from crashveil.wire import keyfmt

NOW = 1_800_000_000.0
PROJECT = "demo-app"
FP = "v1:" + "b" * 32


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    """The server's config signing key for this module."""
    return Ed25519PrivateKey.generate()


def pinned(key: Ed25519PrivateKey) -> str:
    return keyfmt.format_key_string("ed25519", key.public_key().public_bytes_raw())


def config(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "project": PROJECT, "version": 3, "issued_at": NOW - 60, "expires_at": NOW + 3600,
        "sample_rate": 0.5,
        "sample_rates": [{"release": "2.4.*", "cohort": None, "rate": 0.2},
                         {"release": None, "cohort": "beta", "rate": 0.1}],
        "modules": {"environment": True, "breadcrumbs": False, "deep_stack": False},
        "counts_only": [FP],
        "request_level": {"v1:" + "c" * 32: "diagnostic"},
    }
    base.update(changes)
    return base


def document(key: Ed25519PrivateKey, data: dict[str, Any]) -> bytes:
    raw = encode_config(data)
    return encode_document(raw, key.sign(raw))


def parse(key: Ed25519PrivateKey, body: bytes) -> RemoteConfig:
    return RemoteConfig.parse(body, pinned(key), project=PROJECT, now=NOW)


# -- canonical JSON ---------------------------------------------------------------------------

def test_encode_config_is_canonical() -> None:
    """Key order and spacing do not change the bytes; decode reverses encode."""
    a = encode_config({"b": 1, "a": [1, 2], "c": {"y": None, "x": "é"}})
    assert b'{"a":[1,2],"b":1,"c":{"x":"\xc3\xa9","y":null}}' == a
    assert {"b": 1, "a": [1, 2], "c": {"y": None, "x": "é"}} == decode_config(a)


def test_encode_config_refuses_nan() -> None:
    """NaN has no canonical JSON form and is refused."""
    with pytest.raises(ValueError):
        encode_config({"sample_rate": float("nan")})


@pytest.mark.parametrize("raw", [b"[]", b"NaN", b"{", b"\xff"])
def test_decode_config_refuses_non_objects(raw: bytes) -> None:
    """Anything but a JSON object is a ConfigError."""
    with pytest.raises(ConfigError):
        decode_config(raw)


# -- verification ---------------------------------------------------------------------------

def test_genuine_config_is_parsed(key: Ed25519PrivateKey) -> None:
    """A config signed by the pinned key answers every query."""
    remote = parse(key, document(key, config()))
    assert (3, False) == (remote.version, remote.is_default)
    assert "diagnostic" == remote.requested_level("v1:" + "c" * 32)
    assert None is remote.requested_level(FP)
    assert (True, False, False, True) == tuple(remote.module_enabled(m) for m in
                                               ("environment", "breadcrumbs", "deep_stack", "unknown"))
    assert (True, False) == (remote.counts_only(FP), remote.counts_only("v1:" + "0" * 32))


@pytest.mark.parametrize(("release", "cohort", "expected"), [
    ("2.4.1", None, 0.2), ("3.0", "beta", 0.1), ("3.0", None, 0.5), (None, None, 0.5)])
def test_sample_rate_for(key: Ed25519PrivateKey, release: str | None, cohort: str | None, expected: float) -> None:
    """The most specific sample_rates entry applies, else the global sample_rate."""
    assert expected == parse(key, document(key, config())).sample_rate_for(release, cohort)


def test_no_rates_gives_none(key: Ed25519PrivateKey) -> None:
    """Without any rate the config says nothing about sampling."""
    assert None is parse(key, document(key, config(sample_rate=None, sample_rates=[]))).sample_rate_for("1", None)


def test_signature_by_another_key_is_refused(key: Ed25519PrivateKey) -> None:
    """A config signed by any key but the pinned one is refused."""
    with pytest.raises(ConfigError, match="signature"):
        parse(key, document(Ed25519PrivateKey.generate(), config()))



def _rotated(signers: list[Ed25519PrivateKey], data: dict[str, Any] | None = None) -> bytes:
    """A document as the server sends it during a signing-key rotation: ``signature`` by the
    newest key, ``signatures`` by every key of the overlap, newest first."""
    raw = encode_config(data or config())
    outer = json.loads(encode_document(raw, signers[0].sign(raw)))
    outer["signatures"] = [base64.urlsafe_b64encode(k.sign(raw)).rstrip(b"=").decode() for k in signers]
    return json.dumps(outer).encode()


def test_a_key_in_its_rotation_overlap_still_verifies(key: Ed25519PrivateKey) -> None:
    """An app pinning the older key (shipped before the rotation) accepts a config whose
    ``signature`` is by the newer key when ``signatures`` has one by its key; an app pinning
    the newer key accepts it too; any other key is refused."""
    newer = Ed25519PrivateKey.generate()
    body = _rotated([newer, key])
    assert (3, 3) == (parse(key, body).version, parse(newer, body).version)
    with pytest.raises(ConfigError, match="signature"):
        parse(Ed25519PrivateKey.generate(), body)


def test_only_the_first_signatures_are_looked_at(key: Ed25519PrivateKey) -> None:
    """At most MAX_CONFIG_SIGNATURES entries of ``signatures`` are tried (bounded work for a
    document the SDK has not verified yet); a pinned key's signature past them is refused."""
    from crashveil.wire.protocol import MAX_CONFIG_SIGNATURES

    others = [Ed25519PrivateKey.generate() for _ in range(MAX_CONFIG_SIGNATURES)]
    assert 3 == parse(key, _rotated([*others[:-1], key])).version
    with pytest.raises(ConfigError, match="signature"):
        parse(key, _rotated([*others, key]))

def test_tampered_config_is_refused(key: Ed25519PrivateKey) -> None:
    """Changing one byte of the signed config breaks the signature."""
    raw = encode_config(config())
    signature = key.sign(raw)
    tampered = raw.replace(b'"sample_rate":0.5', b'"sample_rate":0.9')
    with pytest.raises(ConfigError, match="signature"):
        parse(key, encode_document(tampered, signature))


def test_config_for_another_project_is_refused(key: Ed25519PrivateKey) -> None:
    """A genuine config for another project does not apply here."""
    with pytest.raises(ConfigError, match="another project"):
        parse(key, document(key, config(project="other-app")))


def test_expired_config_is_refused(key: Ed25519PrivateKey) -> None:
    """A genuine config past expires_at is refused."""
    with pytest.raises(ConfigError, match="expired"):
        parse(key, document(key, config(expires_at=NOW - 1, issued_at=NOW - 100)))


@pytest.mark.parametrize("body", [
    b"", b"null", b"[]", b'{"config": 1, "signature": "AA"}', b'{"config": "!!", "signature": "AA"}',
    b'{"signature": "AA"}', b"x" * 300_000,
])
def test_malformed_documents_are_refused(key: Ed25519PrivateKey, body: bytes) -> None:
    """Garbage documents raise ConfigError and nothing else."""
    with pytest.raises(ConfigError):
        parse(key, body)


@pytest.mark.parametrize("changes", [
    {"version": -1}, {"version": "3"}, {"expires_at": "soon"}, {"sample_rate": 1.5}, {"sample_rate": True},
    {"sample_rates": [{"release": None, "cohort": None, "rate": 0.1}]}, {"sample_rates": [{"rate": 2}]},
    {"modules": {"breadcrumbs": "no"}}, {"counts_only": [1]}, {"request_level": {FP: "ALL"}},
    {"expires_at": NOW + 10, "issued_at": NOW + 20}, {"project": None},
])
def test_signed_but_malformed_config_is_refused(key: Ed25519PrivateKey, changes: dict[str, Any]) -> None:
    """Even a genuinely signed config with a wrong field type or range is refused."""
    with pytest.raises(ConfigError):
        parse(key, document(key, config(**changes)))


def test_malformed_pinned_key_is_a_config_error(key: Ed25519PrivateKey) -> None:
    """A pinned key that is not an Ed25519 key string is a setup mistake (ConfigError)."""
    with pytest.raises(ConfigError):
        RemoteConfig.parse(document(key, config()), "x25519:AAAA", project=PROJECT, now=NOW)


# -- cache and refresh ------------------------------------------------------------------------

class FakeTransport:
    """Returns a fixed body from fetch_config."""

    def __init__(self, body: bytes | None) -> None:
        self.body = body

    def send(self, kind: str, sealed: bytes) -> Any:
        raise AssertionError("not used")

    def fetch_config(self) -> bytes | None:
        return self.body


def test_refresh_caches_and_cache_is_verified_again(key: Ed25519PrivateKey, tmp_path: Path) -> None:
    """A fetched config is cached (0600); loading the cache verifies it again."""
    path = tmp_path / "cfg" / "remote.json"
    fresh = refresh(FakeTransport(document(key, config())), path, pinned(key), project=PROJECT, now=NOW)
    assert 3 == fresh.version
    assert 0o600 == path.stat().st_mode & 0o777
    assert 3 == load_cached(path, pinned(key), project=PROJECT, now=NOW).version
    path.write_bytes(path.read_bytes().replace(b'"signature":"', b'"signature":"AA'))
    assert True is load_cached(path, pinned(key), project=PROJECT, now=NOW).is_default


def test_offline_refresh_uses_the_cache(key: Ed25519PrivateKey, tmp_path: Path) -> None:
    """When the server cannot be reached the cached config is used."""
    path = tmp_path / "remote.json"
    store_cached(path, parse(key, document(key, config())))
    assert 3 == refresh(FakeTransport(None), path, pinned(key), project=PROJECT, now=NOW).version


def test_expired_cache_gives_defaults(key: Ed25519PrivateKey, tmp_path: Path) -> None:
    """A cached config that has since expired is ignored: defaults apply."""
    path = tmp_path / "remote.json"
    store_cached(path, parse(key, document(key, config())))
    assert True is load_cached(path, pinned(key), project=PROJECT, now=NOW + 7200).is_default


def test_bad_fetched_config_keeps_the_cache(key: Ed25519PrivateKey, tmp_path: Path) -> None:
    """A forged config from the network does not replace the genuine cached one."""
    path = tmp_path / "remote.json"
    store_cached(path, parse(key, document(key, config())))
    forged = document(Ed25519PrivateKey.generate(), config(version=9, sample_rate=1.0))
    assert 3 == refresh(FakeTransport(forged), path, pinned(key), project=PROJECT, now=NOW).version


def test_replayed_older_config_is_refused(key: Ed25519PrivateKey, tmp_path: Path) -> None:
    """A genuine but older version cannot roll back a newer cached config."""
    path = tmp_path / "remote.json"
    store_cached(path, parse(key, document(key, config(version=5))))
    old = document(key, config(version=4))
    assert 5 == refresh(FakeTransport(old), path, pinned(key), project=PROJECT, now=NOW).version


def test_default_config_changes_nothing() -> None:
    """Without a config every module is allowed, nothing is counts-only, no rate, no request."""
    remote = RemoteConfig.default()
    assert (True, False, None, None) == (remote.module_enabled("breadcrumbs"), remote.counts_only(FP),
                                         remote.sample_rate_for("1.0", None), remote.requested_level(FP))


# -- it can only lower ---------------------------------------------------------------------------

class Levels:
    """Just enough of a Policy for effective_level: ordered levels."""

    def __init__(self) -> None:
        self.levels = tuple(ConsentLevel(name, rank, name, "") for rank, name in
                            enumerate(["off", "crash", "diagnostic", "full"]))
        self.level_names = tuple(level.name for level in self.levels)

    def rank(self, name: str) -> int:
        return {level.name: level.rank for level in self.levels}[name]


@pytest.mark.parametrize(("granted", "requested", "expected"), [
    ("diagnostic", "crash", "crash"),        # lower request lowers
    ("diagnostic", "diagnostic", "diagnostic"),
    ("crash", "diagnostic", "crash"),        # higher request never raises
    ("crash", "full", "crash"),
    ("off", "full", "off"),                  # nothing granted, nothing taken
    ("diagnostic", None, "diagnostic"),
    ("diagnostic", "unknown-level", "diagnostic"),
])
def test_effective_level_never_exceeds_the_grant(granted: str, requested: str | None, expected: str) -> None:
    """The server's requested level can lower collection but never raise it above the user's grant."""
    assert expected == effective_level(Levels(), granted, requested)  # type: ignore[arg-type]


def test_effective_level_exhaustive() -> None:
    """For every pair of levels the result's rank is at most the granted rank."""
    levels = Levels()
    for granted in levels.level_names:
        for requested in (*levels.level_names, None):
            result = effective_level(levels, granted, requested)  # type: ignore[arg-type]
            assert True is (levels.rank(result) <= levels.rank(granted))


@pytest.mark.parametrize(("local", "remote", "expected"), [
    (0.5, 0.1, 0.1), (0.5, 0.9, 0.5), (0.5, None, 0.5), (0.5, float("nan"), 0.5), (0.5, 7.0, 0.5), (1.0, 0.0, 0.0)])
def test_effective_sample_rate_only_lowers(local: float, remote: float | None, expected: float) -> None:
    """A remote rate is min()-ed with the local one and nonsense is ignored."""
    assert expected == effective_sample_rate(local, remote)


def test_document_shape_matches_the_protocol(key: Ed25519PrivateKey) -> None:
    """The document is {"config", "signature"} with unpadded base64url values."""
    outer = json.loads(document(key, config()))
    assert ["config", "signature"] == sorted(outer)
    assert encode_config(config()) == base64.urlsafe_b64decode(outer["config"] + "=" * (-len(outer["config"]) % 4))
    assert True is ("=" not in outer["signature"])


# -- when the client fetches (refresh interval, start-up delay) ------------------------------


class CountingTransport:
    """A transport whose ``fetch_config`` counts its calls (and has nothing to give)."""

    def __init__(self) -> None:
        self.fetches = 0

    def send(self, kind: str, sealed: bytes) -> Any:
        raise AssertionError("nothing is queued in these tests")

    def fetch_config(self) -> bytes | None:
        self.fetches += 1
        return None


def _start(make_client: Any, *, delay_s: float = 0.0) -> tuple[Any, CountingTransport]:
    """A client over the shared data dir, consent given, started; its fetch (if any) finished."""
    transport = CountingTransport()
    client = make_client(transport=transport)
    client.remote.delay_s = delay_s
    client.consent.grant("crash")
    client.start()
    if delay_s == 0.0 and client.remote.thread is not None:
        client.remote.thread.join(10)
    return client, transport


def test_the_config_is_fetched_again_only_after_the_refresh_interval(make_client: Any, clock: Any) -> None:
    """A start fetches; a start within the interval starts no thread and fetches nothing (an
    offline answer counts as a check too); a start after the interval fetches again."""
    from crashveil.sdk.remote.refresh import REMOTE_CONFIG_REFRESH_S

    fetches = []
    for advance in (0.0, 1.0, REMOTE_CONFIG_REFRESH_S - 2.0, 1.0):
        clock.now += advance
        client, transport = _start(make_client)
        fetches.append((transport.fetches, client.remote.thread is not None))
    assert [(1, True), (0, False), (0, False), (1, True)] == fetches


def test_a_config_that_expires_within_the_interval_is_fetched_when_it_expires(make_client: Any,
                                                                               clock: Any) -> None:
    """The last check recorded the config's own expiry: past it, the next start fetches."""
    client, transport = _start(make_client)
    checked = client.data_dir / "remote_config.checked"
    checked.write_text(f"{clock.now!r} {clock.now + 60.0!r}\n")
    clock.now += 30.0
    _, within = _start(make_client)
    clock.now += 30.0
    _, expired = _start(make_client)
    assert (1, 0, 1) == (transport.fetches, within.fetches, expired.fetches)


@pytest.mark.parametrize("record", ["", "garbage\n", "1.0\n", "nan nan\n", "9e99 inf\n"])
def test_a_torn_or_odd_check_record_makes_the_fetch_due(make_client: Any, record: str) -> None:
    """A record that does not parse, or a check dated in the future (clock set back): fetch."""
    client = make_client()
    client.data_dir.mkdir(parents=True, exist_ok=True)
    (client.data_dir / "remote_config.checked").write_text(record)
    assert client.remote.due()


def test_the_fetch_waits_after_start_and_is_skipped_if_the_client_closes(make_client: Any) -> None:
    """The first fetch is deferred (it would compete with the app's start); closed before it
    runs, nothing is fetched and nothing is recorded, so the next start fetches."""
    client, transport = _start(make_client, delay_s=30.0)
    thread = client.remote.thread
    alive = thread.is_alive()
    client.close()
    thread.join(5)
    assert (True, False, 0, False) == (alive, thread.is_alive(), transport.fetches,
                                       (client.data_dir / "remote_config.checked").exists())


#: The start of a test app that writes its ``RUN`` to ``SOCKET_LOG`` for every socket it makes.
SOCKET_RECORDER = """
import os, socket
_socket = socket.socket

class Recording(_socket):  # every socket the process makes
    def __init__(self, *args, **kwargs):
        with open(os.environ["SOCKET_LOG"], "a") as log:
            log.write(os.environ["RUN"] + "\\n")
        super().__init__(*args, **kwargs)

socket.socket = Recording
"""

_APP = SOCKET_RECORDER + """
import threading
import crashveil
from crashveil.sdk.remote import refresh as config_refresh

config_refresh.REMOTE_CONFIG_DELAY_S = 0.0  # fetch at once (the test waits for it below)
crashveil.init(dsn=os.environ["TEST_DSN"], data_dir=os.environ["TEST_DATA"], app_name="cfgapp",
               client_cert=os.environ["TEST_CERT"], client_key=os.environ["TEST_KEY"])
if os.environ["RUN"] == "grant":
    crashveil.grant("crash")
for thread in threading.enumerate():
    if thread.name == "crashveil-config":
        thread.join(30)
print(sorted(m for m in ("ssl", "http.client", "cryptography") if m in __import__("sys").modules))
"""


def test_a_second_init_within_the_interval_opens_no_socket(key: Ed25519PrivateKey, keypair: Any, run_app: Any,
                                                           tmp_path: Path) -> None:
    """Real app processes, real HTTPS server: the start after consent fetches the config
    (one GET); the next start, within the refresh interval, makes no socket, sends the
    server nothing and loads neither ``ssl`` nor ``http.client`` nor ``cryptography``."""
    import sys
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from https_server import ReportServer, make_pki

    from crashveil.wire.protocol import ConnectionString, config_path

    pki = make_pki(tmp_path / "pki")
    now = time.time()
    with ReportServer(pki) as server:
        server.config_body = document(key, config(version=7, issued_at=now - 60, expires_at=now + 86400))
        dsn = ConnectionString(host="127.0.0.1", port=server.port, project=PROJECT,
                               public_key=keypair.public_key_string(), signing_key=pinned(key),
                               ca_der=pki.ca_der).format()
        log = tmp_path / "sockets.log"
        env = {"TEST_DSN": dsn, "TEST_DATA": str(tmp_path / "data"), "TEST_CERT": str(pki.client_cert),
               "TEST_KEY": str(pki.client_key), "SOCKET_LOG": str(log)}
        runs = {}
        for run in ("grant", "first", "second"):
            done = run_app(_APP, env={**env, "RUN": run})
            with server.lock:
                gets = [r.path for r in server.received if r.method == "GET"]
            runs[run] = (done.returncode, done.stdout.strip(), len(gets), done.stderr[-500:])
    cached = load_cached(tmp_path / "data" / "remote_config.json", pinned(key), project=PROJECT, now=now)
    sockets = log.read_text().split() if log.exists() else []
    assert {"grant": (0, "[]", 0, ""), "first": (0, "['cryptography', 'http.client', 'ssl']", 1, ""),
            "second": (0, "[]", 1, "")} == runs
    assert ([config_path(PROJECT)], 7, ["first"]) == (gets, cached.version, sorted(set(sockets)))
