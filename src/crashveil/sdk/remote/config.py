"""The server's signed remote config: verified, cached, and only ever able to collect less.

Document (``GET /api/v1/projects/{project}/config``, see :mod:`crashveil.wire.protocol`)::

    {"config": "<base64url of the config bytes>", "signature": "<base64url>",
     "signatures": ["<base64url>", ...]}

``signature`` is Ed25519 (RFC 8032) over the exact config bytes (the base64url-decoded
``config``), by the key pinned in the connection string's ``sign=ed25519:...``. During a
signing-key rotation the server signs with its newest key (``signature``) and also with
every key still in its overlap (``signatures``, newest first, at most
``MAX_CONFIG_SIGNATURES``): apps shipped with the old connection string pin the old key and
must keep verifying until they are updated. The config is accepted when any of them
verifies with the pinned key; extra entries are not looked at (bounded work). The config
bytes are canonical JSON (``crashveil.wire.canonical``: UTF-8, sorted keys, no spaces, no NaN)::

    {"project": str, "version": int, "issued_at": epoch s, "expires_at": epoch s,
     "sample_rate": float | null,
     "sample_rates": [{"release": fnmatch pattern | null, "cohort": str | null, "rate": float}],
     "modules": {"environment": bool, "breadcrumbs": bool, "deep_stack": bool},
     "counts_only": [fingerprint, ...],
     "request_level": {fingerprint: level name},
     "stopped_fields": [policy field name, ...]}

The server encodes it with ``canonical_json`` (which :func:`encode_config` is), signs those
bytes, and wraps both with :func:`encode_document`. Unknown keys are ignored (a newer server may add some).

When. Only with consent and a DSN, and only when the last check (``remote_config.checked``:
the time of the last attempt, fetched or not, and the expiry of the config then in force) is
``REMOTE_CONFIG_REFRESH_S`` (1 h) old or that config has expired; both constants, and the
scheduling below, are in ``crashveil.sdk.remote.refresh``. Then it is fetched once per
process, by whichever comes first:

- the start-up fetch (``RemoteConfigKeeper.refresh``, at ``init()``), on a daemon thread
  ``REMOTE_CONFIG_DELAY_S`` (5 s) after start, skipped if the app closes sooner;
- the sender, right before it delivers something (``RemoteConfigKeeper.before_send``):
  it is connecting to the server anyway, so it fetches first, synchronously in the sending
  thread, over the same transport. That is how an app that exits within the delay (a CLI
  tool that crashed: its report goes in the exit flush) still gets the config. The fetch is
  bounded by the transport's timeouts, and the exit flush waits no longer than its own
  bound for it and the send together: a hanging config endpoint leaves the report queued
  for the next start, as a hanging server would. The attempt is recorded before it starts,
  so the runs of the next hour send without trying again: a broken config endpoint delays
  one run's report, never all of them.

A fetched config applies to what is captured after it; reports already sealed in the queue
are sent as they are. Otherwise a start neither connects nor loads ``ssl``, ``http.client``
or ``cryptography``; the cached config is verified when first needed (the first crash). An
app that exits within the delay and sends nothing does not fetch: its exit opens no
connection. With consent off nothing is fetched, not even when a deletion request is sent.

Trust. A config that fails any check (bad signature, another project, expired, malformed,
an older version than the cached one) is ignored: the SDK runs on :meth:`RemoteConfig.default`,
which changes nothing. The cache on disk is verified again when loaded.

It can only lower collection, never raise it above what the user granted:

- ``sample_rate`` / ``sample_rates`` are applied as ``min(policy rate, remote rate)``
  (:func:`effective_sample_rate`, ``Limiter.set_remote_sample_rate``);
- ``modules`` can turn a collection module off; ``True`` means "as the user and policy
  allow", never "on" against them (:meth:`RemoteConfig.module_enabled`);
- ``counts_only`` turns a crash into a count;
- ``stopped_fields`` names policy fields no report may carry any more (an expired field, or
  a privacy incident's stop): reports built after the config arrives leave them out (a
  field every report carries cannot be stopped; an SDK without this key ignores it);
- ``request_level`` is a *request*: the level used is :func:`effective_level`, which never
  exceeds the user's grant; a higher request can only lead the app to *ask* the user.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crashveil.errors import ConfigError
from crashveil.wire.canonical import canonical_json
from crashveil.wire.protocol import MAX_CONFIG_SIGNATURES

if TYPE_CHECKING:  # pragma: no cover
    from crashveil.policy.model import Policy
    from crashveil.sdk.transport import Transport

__all__ = [
    "MODULES",
    "RemoteConfig",
    "SampleRate",
    "decode_config",
    "effective_level",
    "effective_sample_rate",
    "encode_config",
    "encode_document",
    "load_cached",
    "refresh",
    "store_cached",
]

MODULES = ("environment", "breadcrumbs", "deep_stack")
MAX_DOCUMENT_BYTES = 256 * 1024
_MAX_ENTRIES = 10_000
_KEY = "remote_config"
_LEVEL_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_FINGERPRINT_MAX = 200


# -- the document's bytes ----------------------------------------------------------------------

def encode_config(config: Mapping[str, Any]) -> bytes:
    """Canonical JSON bytes of a config mapping (``crashveil.wire.canonical``): the bytes the
    server signs. NaN and infinities are refused (``ValueError``)."""
    return canonical_json(config)


def decode_config(raw: bytes) -> dict[str, Any]:
    """The mapping in config bytes; :class:`ConfigError` unless it is a JSON object."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigError(_KEY, "config is not JSON", "canonical JSON object") from exc
    if not isinstance(data, dict):
        raise ConfigError(_KEY, "config is not a JSON object", "canonical JSON object")
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def encode_document(config_bytes: bytes, signature: bytes) -> bytes:
    """The HTTP body ``{"config": b64url, "signature": b64url}`` (the server signs; this wraps)."""
    return canonical_json({"config": _b64(config_bytes), "signature": _b64(signature)})


def _overlap_signatures(outer: Mapping[str, Any]) -> list[Any]:
    """The document's ``signatures`` (the keys of a rotation overlap), at most
    ``MAX_CONFIG_SIGNATURES``; a missing or malformed list is no extra signature."""
    extra = outer.get("signatures")
    return list(extra[:MAX_CONFIG_SIGNATURES]) if isinstance(extra, list) else []


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str) or not text.isascii():
        raise ConfigError(_KEY, f"{what} is not a base64url string", "base64url")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(_KEY, f"{what} is not valid base64url", "base64url") from exc


# -- the only-lower rules ----------------------------------------------------------------------

def effective_level(policy: Policy, granted: str, requested: str | None) -> str:
    """The consent level to collect at: the server's request, but never above ``granted``.

    ``requested`` lower than ``granted`` lowers collection; higher, unknown or ``None``
    leaves ``granted`` (a higher request may only make the app *ask* the user).
    """
    if requested is None or requested not in policy.level_names:
        return granted
    return requested if policy.rank(requested) <= policy.rank(granted) else granted


def effective_sample_rate(local: float, remote: float | None) -> float:
    """``min(local, remote)``: a remote rate lowers sampling, never raises it."""
    if remote is None or not isinstance(remote, (int, float)) or math.isnan(remote) or not 0.0 <= remote <= 1.0:
        return local
    return min(local, float(remote))


# -- the config ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SampleRate:
    """One ``sample_rates`` entry; matched like the policy's overrides (most specific wins)."""

    release: str | None
    cohort: str | None
    rate: float


@dataclass(frozen=True)
class RemoteConfig:
    """A verified remote config (or the default one, which changes nothing)."""

    project: str | None = None
    version: int = 0
    issued_at: float = 0.0
    expires_at: float = math.inf
    sample_rate: float | None = None
    sample_rates: tuple[SampleRate, ...] = ()
    modules: Mapping[str, bool] = field(default_factory=dict)
    counts_only_fingerprints: frozenset[str] = frozenset()
    request_levels: Mapping[str, str] = field(default_factory=dict)
    stopped_fields: frozenset[str] = frozenset()
    document: bytes = field(default=b"", repr=False)

    @classmethod
    def default(cls) -> RemoteConfig:
        """No remote config: nothing is changed."""
        return cls()

    @property
    def is_default(self) -> bool:
        return not self.document

    @classmethod
    def parse(cls, body: bytes, signing_key: str, *, project: str, now: float) -> RemoteConfig:
        """Verify and parse a config document.

        Args:
            body: the HTTP body (or the cached copy).
            signing_key: the pinned ``"ed25519:<base64url>"`` key string.
            project: the project this app reports to; the config must name it.
            now: the current epoch time; the config must not have expired.

        Raises:
            ConfigError: (key ``remote_config``) naming what failed. Callers that want the
                default on failure use :func:`load_cached` / :func:`refresh`.
        """
        from crashveil.sdk.delivery.seal import verify_config_signature

        if not isinstance(body, (bytes, bytearray)) or len(body) > MAX_DOCUMENT_BYTES:
            raise ConfigError(_KEY, "document missing or too large", f"at most {MAX_DOCUMENT_BYTES} bytes")
        try:
            outer = json.loads(bytes(body).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ConfigError(_KEY, "document is not JSON", '{"config": ..., "signature": ...}') from exc
        if not isinstance(outer, dict):
            raise ConfigError(_KEY, "document is not a JSON object", '{"config": ..., "signature": ...}')
        config_bytes = _unb64(outer.get("config"), "config")
        signature = _unb64(outer.get("signature"), "signature")
        if not verify_config_signature(config_bytes, signature, signing_key) and not any(
                verify_config_signature(config_bytes, _unb64(other, "signatures"), signing_key)
                for other in _overlap_signatures(outer) if other != outer["signature"]):
            raise ConfigError(_KEY, "signature does not verify", "signed by the pinned key")
        data = decode_config(config_bytes)
        config = _from_mapping(data, document=bytes(body))
        if config.project != project:
            raise ConfigError(_KEY, "is for another project", f"project {project!r}")
        if not config.expires_at > now:
            raise ConfigError(_KEY, "has expired", "expires_at in the future")
        return config

    # -- queries ---------------------------------------------------------------------------
    def requested_level(self, fingerprint: str) -> str | None:
        """The level the server asks for this crash group (a request, see :func:`effective_level`)."""
        return self.request_levels.get(fingerprint)

    def module_enabled(self, name: str) -> bool:
        """``False`` if the server turned the module off; ``True`` means "as otherwise allowed"."""
        return self.modules.get(name, True)

    def sample_rate_for(self, release: str | None, cohort: str | None) -> float | None:
        """The remote rate for this release and cohort (most specific entry, else ``sample_rate``)."""
        from crashveil.sdk.delivery.limits import select_override

        entry = select_override(self.sample_rates, release, cohort)
        return entry.rate if entry is not None else self.sample_rate

    def counts_only(self, fingerprint: str) -> bool:
        """``True`` if crashes with this fingerprint should only be counted, not reported."""
        return fingerprint in self.counts_only_fingerprints


def _from_mapping(data: dict[str, Any], *, document: bytes) -> RemoteConfig:
    project = data.get("project")
    if not isinstance(project, str):
        raise ConfigError(_KEY, "project is missing", "a project id string")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ConfigError(_KEY, "version is not a non-negative integer", "an integer")
    issued_at, expires_at = _time(data, "issued_at"), _time(data, "expires_at")
    if expires_at < issued_at:
        raise ConfigError(_KEY, "expires before it was issued", "issued_at <= expires_at")
    sample_rate = data.get("sample_rate")
    if sample_rate is not None:
        sample_rate = _rate(sample_rate, "sample_rate")
    rates = []
    for index, entry in enumerate(_list(data, "sample_rates")):
        where = f"sample_rates[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(_KEY, f"{where} is not an object", '{"release", "cohort", "rate"}')
        release, cohort = entry.get("release"), entry.get("cohort")
        if release is not None and not isinstance(release, str) or cohort is not None and not isinstance(cohort, str):
            raise ConfigError(_KEY, f"{where} release/cohort is not a string or null", "string or null")
        if release is None and cohort is None:
            raise ConfigError(_KEY, f"{where} applies to nothing", "a release pattern and/or a cohort")
        rates.append(SampleRate(release, cohort, _rate(entry.get("rate"), f"{where}.rate")))
    modules_raw = data.get("modules", {})
    if not isinstance(modules_raw, dict) or not all(isinstance(v, bool) for v in modules_raw.values()):
        raise ConfigError(_KEY, "modules is not an object of booleans", '{"breadcrumbs": false, ...}')
    counts_only = _list(data, "counts_only")
    if not all(isinstance(fp, str) and len(fp) <= _FINGERPRINT_MAX for fp in counts_only):
        raise ConfigError(_KEY, "counts_only holds something other than fingerprints", "fingerprint strings")
    levels = data.get("request_level", {})
    if not isinstance(levels, dict) or len(levels) > _MAX_ENTRIES or not all(
            isinstance(v, str) and _LEVEL_RE.match(v) and len(k) <= _FINGERPRINT_MAX for k, v in levels.items()):
        raise ConfigError(_KEY, "request_level is not an object of level names", '{"<fingerprint>": "<level>"}')
    stopped = _list(data, "stopped_fields")
    if not all(isinstance(name, str) and _LEVEL_RE.match(name) for name in stopped):
        raise ConfigError(_KEY, "stopped_fields holds something other than field names", "field name strings")
    return RemoteConfig(
        project=project, version=version, issued_at=issued_at, expires_at=expires_at, sample_rate=sample_rate,
        sample_rates=tuple(rates), modules=dict(modules_raw), counts_only_fingerprints=frozenset(counts_only),
        request_levels=dict(levels), stopped_fields=frozenset(stopped), document=document,
    )


def _time(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(_KEY, f"{key} is not an epoch time", "seconds since the epoch")
    return float(value)


def _rate(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigError(_KEY, f"{where} is not a rate", "a number in [0, 1]")
    return float(value)


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list) or len(value) > _MAX_ENTRIES:
        raise ConfigError(_KEY, f"{key} is not a list", f"a list of at most {_MAX_ENTRIES} entries")
    return value


# -- cache and refresh -------------------------------------------------------------------------

def load_cached(path: Path, signing_key: str, *, project: str, now: float) -> RemoteConfig:
    """The cached config, verified again; the default if missing, expired or not genuine."""
    try:
        body = Path(path).read_bytes()
    except OSError:
        return RemoteConfig.default()
    try:
        return RemoteConfig.parse(body, signing_key, project=project, now=now)
    except ConfigError:
        return RemoteConfig.default()


def store_cached(path: Path, config: RemoteConfig) -> None:
    """Write the config's signed document to ``path`` (atomically, mode 0600)."""
    if config.is_default:
        return
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(config.document)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def refresh(transport: Transport, path: Path, signing_key: str, *, project: str, now: float) -> RemoteConfig:
    """Fetch, verify and cache the config; on any failure keep the (verified) cached one.

    A fetched config older (lower ``version``) than a valid cached one is refused: a
    replayed old document cannot undo a newer, stricter one. Never raises for what the
    server sent; a malformed ``signing_key`` (a setup mistake) raises ``ConfigError``.
    """
    from crashveil.wire.keyfmt import parse_key_string

    parse_key_string(signing_key, ("ed25519",), key="dsn.sign")
    cached = load_cached(path, signing_key, project=project, now=now)
    try:
        body = transport.fetch_config()
    except OSError:
        body = None
    if body is None:
        return cached
    try:
        fresh = RemoteConfig.parse(body, signing_key, project=project, now=now)
    except ConfigError:
        return cached
    if not cached.is_default and fresh.version < cached.version:
        return cached
    try:
        store_cached(path, fresh)
    except OSError:
        pass  # still use it in this run
    return fresh
