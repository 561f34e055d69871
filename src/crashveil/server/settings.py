"""Server settings: the one place the server reads its configuration.

Sources, later ones winning: the defaults below, ``DIR/settings.toml`` (a ``[server]``
table whose keys are the field names), then ``CRASHVEIL_<FIELD>`` environment variables
(``CRASHVEIL_PORT=9443``). An unknown key, or a value of the wrong form, is a
:class:`ConfigError` naming the key and its source. ``crashveil server init`` writes the
file; tests build ``Settings(...)`` directly.

A relative SQLite path in ``database_url`` is taken relative to the server directory, so a
server directory can be moved or restored elsewhere as one unit.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crashveil.errors import ConfigError

__all__ = ["Settings", "SETTINGS_FILE", "DEFAULT_DATABASE", "MAX_WORKERS", "PRIVATE_UMASK", "resolve_database_url",
           "server_dir_from_env", "write_settings"]

SETTINGS_FILE = "settings.toml"
DEFAULT_DATABASE = "sqlite:///crashveil.db"
#: Most front processes ``workers`` may ask for: far beyond the cores one writer can keep up
#: with, low enough that a typo (1000) is an error rather than a thousand processes.
MAX_WORKERS = 64
#: The umask of the server and its commands: what they create is for the server's user only.
PRIVATE_UMASK = 0o077
_ENV_PREFIX = "CRASHVEIL_"
#: The values of the log_format setting (server/logs.py).
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class Settings:
    """Everything a server process needs to know, validated."""

    server_dir: Path
    database_url: str
    # Loopback by default: exposing the server is a decision the operator makes explicitly.
    host: str = "127.0.0.1"
    port: int = 8443
    # A second listener for people and for SDKs that cannot present a client certificate:
    # the dashboard, the public summary, receipts and Sentry-compatible ingest. It never
    # serves the native report API, which stays behind mutual TLS on `port`. 0 turns it off.
    web_port: int = 8444
    tls: bool = True
    require_client_cert: bool = True
    # Front processes serving HTTP (server/http/run.py). 1: one process does everything. Above 1:
    # that many fronts share the ports (SO_REUSEPORT) and one more process, the writer,
    # stores what they prepared; the in-memory rate limits are split among the fronts.
    workers: int = 1
    # A sealed report is at most 64 KiB of JSON before sealing (policy LIMITS); 200 KiB of
    # body leaves room for the hybrid KEM's 1.1 KiB and compression that does not help.
    max_body_bytes: int = 200 * 1024
    max_decompressed_bytes: int = 1024 * 1024
    # Reports older than this (by their occurred hour) are refused: bounds replays of
    # captured envelopes. It must cover the SDK queue's life (policy limits.queue_max_age_days,
    # 30 in the default policy) or a crash kept offline for weeks would be refused on arrival;
    # within it, a replayed report is caught by its report id (kept 90 days) and, once its
    # installation was erased, by the erasure's tombstones (server/governance/tombstones.py), which
    # retention keeps for this window plus two hours.
    replay_window_s: int = 31 * 86400
    # An erasure is answered at the next multiple of this many seconds after its body was
    # read, so its timing does not tell whether the pseudonyms had reports (server/http/app.py).
    # 0 answers at once.
    erasure_answer_step_s: float = 0.25
    project_rate_per_s: float = 200.0
    project_burst: int = 2000
    # A single install sending more than one report a minute on average is a loop or abuse.
    pseudonym_rate_per_hour: int = 60
    # Counts-only mode (details not stored, the signed config tells SDKs to send counts
    # only), decided per credential (a client certificate on the mutual-TLS port, a DSN key
    # for Sentry ingest, or "no credential"; certificates and DSN keys are per app). When ONE
    # credential's own reports of a group in one hour pass this, the group is counts-only
    # for that credential alone: its further reports are stored counts-only and the config
    # served to it lists the group; other credentials are not affected.
    mass_failure_per_hour: int = 1000
    # Project-wide counts-only (every credential's reports, every config) needs the group's
    # reports of the hour to pass mass_failure_per_hour with each credential counting at most
    # this many: one sender (made-up pseudonyms or not) cannot switch a group for every other
    # app; with the defaults it takes reports from at least 11 credentials. A cap at or above
    # mass_failure_per_hour lets one credential switch the group project-wide.
    mass_failure_per_credential: int = 100
    # --- setup, keys and storage (owned by server/keys/ring.py, server/storage/store.py) ---
    # The host written into connection strings (what apps connect to); "" means public_url's
    # host, else `host`.
    public_host: str = ""
    # The URL people and Sentry SDKs reach the web listener at, e.g. "https://crash.example.com"
    # behind a reverse proxy with a public certificate (scheme, host and optional port; no
    # path). Printed DSNs and links use it. "" means the web listener itself:
    # http(s)://<public_host or host>:<web_port>.
    public_url: str = ""
    # Extra DNS names or IP addresses for the server certificate, beside the loopback ones.
    server_names: tuple[str, ...] = ()
    # Sealing suite of new project keys: hybrid post-quantum by default.
    sealing_suite: str = "mlkem768x25519"
    # Old HPKE private keys keep opening reports this long after a rotation: the SDK queue
    # keeps sealed reports up to 30 days (policy limits.queue_max_age_days), plus margin.
    key_overlap_days: int = 45
    # Retired KEKs stay in the key file this long after a rotation, for restoring a backup
    # taken before it; then they are destroyed (which shreds such backups).
    kek_retired_keep_days: int = 30
    # Where the key-encryption key lives: "file" (kek_file, mode 0600), "env" or "command"
    # (see kek_file, kek_env and kek_command below).
    kek_provider: str = "file"
    # Running processes re-read projects and keys this often (rotations by the CLI).
    project_cache_s: float = 30.0
    # SQLite waits this long for the write lock before failing (-> 503 and a client retry).
    sqlite_busy_timeout_ms: int = 5000
    # --- connections, per listener and process (server/http/connections.py) ---
    # A request head (request line and headers) must arrive within this many seconds of the
    # connection, or of the previous response plus keep_alive_s; else 408 and closed.
    head_timeout_s: float = 10.0
    # A request body must have fully arrived this long after its head: the ingest routes
    # answer 408, and the connection is closed (Antenna allows 70 s; SDK bodies are < 200 KiB).
    body_timeout_s: float = 30.0
    # An idle keep-alive connection is closed after this long (SDKs send one request each).
    keep_alive_s: float = 5.0
    # A TLS handshake must finish within this long (asyncio's default is 60 s).
    tls_handshake_timeout_s: float = 10.0
    # Most connections one listener holds (handshakes included); beyond it new ones are
    # reset. 0 = fit the soft descriptor limit: (RLIMIT_NOFILE - 64) / 2 listeners.
    max_connections: int = 0
    # Most connections one client address holds on one listener; the address is counted in
    # memory only. Apps behind one NAT share it: raise it for large fleets behind one address.
    max_connections_per_client: int = 64
    # --- client certificates (server/keys/client_certs.py) ---
    # Days a new client certificate is valid ('issue-client-cert --days' overrides); renew
    # with 'crashveil server renew-client-cert NAME', then revoke the old one.
    client_cert_days: int = 90
    # Server processes re-read the revoked serials this often: a revocation takes effect
    # on the mutual-TLS listener within this many seconds, without a restart.
    revocation_refresh_s: float = 2.0
    # --- reverse proxy, metrics and logs (docs/deploy.md) ---
    # The address of the web listener alone; "" means `host`. Behind a reverse proxy on the
    # same machine: web_host = "127.0.0.1" while `host` exposes the mutual-TLS port.
    web_host: str = ""
    # Proxies in front of the web listener (addresses or CIDR networks, e.g. ["127.0.0.1"]):
    # only from these are forwarded headers honoured, so the client's address (the log-in
    # limit per address, metrics_allow) and scheme are what the proxy saw. From any other peer
    # the client is the peer itself (server/http/forwarded.py).
    trusted_proxies: tuple[str, ...] = ()
    # The header the trusted proxies set: "x-forwarded-for" (with X-Forwarded-Proto) or
    # "forwarded" (RFC 7239). The other one is never read.
    proxy_header: str = "x-forwarded-for"
    # /metrics on the web listener is off unless one of these is set; with both, both must pass.
    # metrics_token: "sha256:" and the hex SHA-256 of the bearer token scrapers send (the token
    # itself is not stored). metrics_allow: addresses or CIDR networks of the scrapers.
    metrics_token: str = ""
    metrics_allow: tuple[str, ...] = ()
    # "text" (one line per record) or "json" (one JSON object per line), 'server run --log-format'.
    log_format: str = "text"
    # --- shared keys over several hosts (server/keys/kek_sources.py, docs/scale-out.md) ---
    # kek_provider above: "file" (kek_file), "env" (the variable kek_env) or "command"
    # (kek_command). Each holds a KEK set (the JSON of a kek.json: the current KEK and the
    # earlier ones still wrapping keys); every host over one database needs the same set.
    # The KEK file; "" means DIR/keys/kek.json. Re-read when it changes, without a restart.
    kek_file: str = ""
    # The environment variable holding the KEK set (kek_provider = "env"; read at start).
    kek_env: str = "CRASHVEIL_KEK_SET"
    # The command (argv, no shell) that prints the KEK set (kek_provider = "command", e.g. a
    # KMS or vault client); its output is never logged.
    kek_command: tuple[str, ...] = ()
    # The command's KEK set is reused this long (an unknown KEK id re-runs it after 5 s).
    kek_command_ttl_s: float = 300.0
    # Each server process reports the KEKs it holds this often (table kek_hosts).
    kek_heartbeat_s: float = 15.0
    # A process silent this long is no longer waited for by 'keys rotate'.
    kek_host_live_s: float = 60.0
    # --- several hosts over one database (server/cluster/, docs/scale-out.md) ---
    # This host's name among the server's hosts ('server add-host --host-name' writes it); ""
    # means the machine's name. Leases, heartbeats and the rate limits' share use it.
    host_id: str = ""
    # Each running host marks itself alive this often; a host silent for 3 heartbeats no
    # longer counts when the rate limits are shared among the live hosts.
    heartbeat_s: float = 10.0
    # Caches (projects, the dashboard's group list) check the cache versions this often: a
    # change made on another host is seen within this many seconds.
    cache_check_s: float = 1.0
    # Quasi-identifiers (environment, device class, tags) are stored only as far as at least
    # the policy's k installations share them in the pseudonym period (server/linkability/).
    # Off only for test fixtures that seed single installations: never in production.
    quasi_identifier_check: bool = True

    # --- paths inside the server directory -------------------------------------------
    @property
    def settings_path(self) -> Path:
        return self.server_dir / SETTINGS_FILE

    @property
    def tls_dir(self) -> Path:
        return self.server_dir / "tls"

    @property
    def ca_cert_path(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def ca_key_path(self) -> Path:
        return self.tls_dir / "ca.key"

    @property
    def server_cert_path(self) -> Path:
        return self.tls_dir / "server.pem"

    @property
    def server_key_path(self) -> Path:
        return self.tls_dir / "server.key"

    @property
    def clients_dir(self) -> Path:
        return self.server_dir / "clients"

    @property
    def kek_path(self) -> Path:
        return self.server_dir / "keys" / "kek.json"

    @property
    def projects_dir(self) -> Path:
        return self.server_dir / "projects"

    def policy_path(self, project_id: str) -> Path:
        """The human-editable copy of a project's policy."""
        return self.projects_dir / project_id / "policy.toml"

    @property
    def this_host(self) -> str:
        """``host_id``, else the machine's name."""
        if self.host_id:
            return self.host_id
        import socket

        return socket.gethostname()[:96] or "host"

    @property
    def connect_host(self) -> str:
        """The host apps connect to (``public_host``, else ``public_url``'s host, else ``host``)."""
        return self.public_host or (_split_public_url(self.public_url)[1] if self.public_url else self.host)

    @property
    def web_endpoint(self) -> tuple[str, str, int | None]:
        """(scheme, host, port) of the web listener as clients reach it: ``public_url``'s
        (port ``None`` when the URL has none), else the web listener's own (the mutual-TLS
        port when ``web_port`` is 0: then it serves everything). Sentry DSNs are built from it."""
        if self.public_url:
            return _split_public_url(self.public_url)
        return ("https" if self.tls else "http", self.connect_host, self.web_port or self.port)

    # --- loading -----------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        server_dir: Path,
        *,
        environ: Mapping[str, str] = os.environ,
        database_url: str | None = None,
    ) -> Settings:
        """Settings of the server directory ``server_dir``: file, then environment.

        Raises:
            ConfigError: the directory has no settings file, or a key is unknown or has a
                value of the wrong form (the message names the key and where it came from).
        """
        server_dir = Path(server_dir).resolve()
        path = server_dir / SETTINGS_FILE
        if not path.is_file():
            raise ConfigError(str(path), "no such settings file",
                              "a server directory made by 'crashveil server init DIR'")
        import tomllib

        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(str(path), f"cannot be read as TOML ({exc})") from exc
        table = data.get("server", {})
        extra = sorted(set(data) - {"server"})
        if extra or not isinstance(table, dict):
            raise ConfigError(f"{path}: {extra[0] if extra else 'server'}", "unexpected table",
                              "a single [server] table")
        values: dict[str, Any] = {}
        for key, value in table.items():
            values[key] = _coerce(key, value, source=str(path))
        for name, raw in environ.items():
            if name.startswith(_ENV_PREFIX) and name != "CRASHVEIL_SERVER_DIR":
                key = name[len(_ENV_PREFIX):].lower()
                if key in _FIELDS:
                    values[key] = _coerce(key, raw, source=f"environment {name}", from_env=True)
        if database_url is not None:
            values["database_url"] = database_url
        values.setdefault("database_url", DEFAULT_DATABASE)
        values["database_url"] = resolve_database_url(values["database_url"], server_dir)
        values.pop("server_dir", None)
        settings = cls(server_dir=server_dir, **values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Check cross-field rules; :class:`ConfigError` naming the key."""
        if not (0 < self.port < 65536):
            raise ConfigError("port", f"{self.port} is out of range", "1..65535")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or not (
                1 <= self.workers <= MAX_WORKERS):
            raise ConfigError("workers", f"{self.workers!r} is out of range", f"an integer from 1 to {MAX_WORKERS}")
        if not (0 <= self.web_port < 65536) or self.web_port == self.port:
            raise ConfigError("web_port", f"{self.web_port} is out of range or equals port",
                              "0 (off) or 1..65535, other than port")
        if not self.database_url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
            raise ConfigError("database_url", "names an unsupported database",
                              "sqlite:///PATH or postgresql://USER@HOST/DB")
        for key in ("max_body_bytes", "max_decompressed_bytes", "replay_window_s", "project_burst",
                    "pseudonym_rate_per_hour", "mass_failure_per_hour", "mass_failure_per_credential",
                    "sqlite_busy_timeout_ms"):
            if getattr(self, key) <= 0:
                raise ConfigError(key, "must be positive", "an integer > 0")
        if not (1 <= self.client_cert_days <= 825):
            raise ConfigError("client_cert_days", f"{self.client_cert_days} is out of range", "1..825 days")
        for key in ("head_timeout_s", "body_timeout_s", "keep_alive_s", "tls_handshake_timeout_s",
                    "revocation_refresh_s"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value <= 3600):
                raise ConfigError(key, f"{value!r} is out of range", "seconds, more than 0 and at most 3600")
        if self.max_connections < 0:
            raise ConfigError("max_connections", "must not be negative", "0 (fit the descriptor limit) or more")
        if self.max_connections_per_client < 1:
            raise ConfigError("max_connections_per_client", "must be positive", "an integer > 0")
        if not 0 <= self.erasure_answer_step_s <= 10:
            raise ConfigError("erasure_answer_step_s", "is out of range", "seconds from 0 (off) to 10")
        if self.key_overlap_days < 0 or self.kek_retired_keep_days < 0:
            raise ConfigError("key_overlap_days", "must not be negative", "days >= 0")
        if self.public_url:
            _split_public_url(self.public_url)
        from crashveil.server.http.forwarded import PROXY_HEADERS, parse_networks

        parse_networks("trusted_proxies", self.trusted_proxies)
        parse_networks("metrics_allow", self.metrics_allow)
        if self.proxy_header not in PROXY_HEADERS:
            raise ConfigError("proxy_header", f"{self.proxy_header!r} is not supported", " or ".join(PROXY_HEADERS))
        if self.metrics_token and not re.fullmatch(r"sha256:[0-9a-f]{64}", self.metrics_token):
            raise ConfigError("metrics_token", "is not a token digest",
                              "'sha256:' and 64 lower-case hex digits (docs/deploy.md shows how to make one)")
        if self.host_id and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}", self.host_id):
            raise ConfigError("host_id", "is not a host name", "letters, digits, '.', '_' and '-', at most 96")
        for key in ("heartbeat_s", "cache_check_s"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value <= 3600):
                raise ConfigError(key, f"{value!r} is out of range", "seconds, more than 0 and at most 3600")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError("log_format", f"{self.log_format!r} is not a log format", " or ".join(LOG_FORMATS))
        if self.kek_provider not in ("file", "env", "command"):
            raise ConfigError("kek_provider", f"{self.kek_provider!r} is not available", "'file', 'env' or 'command'")
        if self.kek_provider == "command" and not self.kek_command:
            raise ConfigError("kek_command", "is empty",
                              "the command that prints the KEK set (kek_provider = 'command')")
        for key in ("kek_command_ttl_s", "kek_heartbeat_s", "kek_host_live_s"):
            if not 0 < getattr(self, key) <= 86400:
                raise ConfigError(key, "is out of range", "seconds, more than 0 and at most 86400")
        from crashveil.wire import keyfmt

        if self.sealing_suite not in keyfmt.SUITES:
            raise ConfigError("sealing_suite", "is not a known sealing suite", " or ".join(keyfmt.SUITES))

    def to_toml(self) -> str:
        """The settings file text for these settings (non-default values, database always)."""
        lines = ["# crashveil server settings; every key is documented in crashveil/server/settings.py.",
                 "# Environment variables CRASHVEIL_<KEY> override these.", "[server]"]
        relative = self.database_url
        prefix = f"sqlite:///{self.server_dir}/"
        if relative.startswith(prefix):
            relative = "sqlite:///" + relative[len(prefix):]
        lines.append(f"database_url = {_toml_value(relative)}")
        for fld in dataclasses.fields(self):
            if fld.name in ("server_dir", "database_url"):
                continue
            value = getattr(self, fld.name)
            if value != fld.default:
                lines.append(f"{fld.name} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _split_public_url(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port or None) of a ``public_url``; :class:`ConfigError` naming the key."""
    from urllib.parse import urlsplit

    expected = "http(s)://HOST[:PORT] with no user, path, query or fragment, e.g. https://crash.example.com"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError("public_url", "is not a valid URL", expected) from None
    host = parts.hostname or ""
    if (parts.scheme not in ("http", "https") or not host or parts.username is not None or parts.password is not None
            or parts.path not in ("", "/") or parts.query or parts.fragment or not url.isprintable() or " " in url):
        raise ConfigError("public_url", "is not a plain http(s) URL of a host", expected)
    return parts.scheme, host, port


def server_dir_from_env(given: str | Path | None, environ: Mapping[str, str] = os.environ) -> Path:
    """The server directory: ``given``, else ``$CRASHVEIL_SERVER_DIR``, else the current one."""
    return Path(given or environ.get("CRASHVEIL_SERVER_DIR") or ".").resolve()


def write_settings(settings: Settings) -> Path:
    """Write ``settings.toml`` for ``settings`` (mode 0600: it may hold a database password)."""
    path = settings.settings_path
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(settings.to_toml())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def resolve_database_url(url: str, server_dir: Path) -> str:
    """Make a relative ``sqlite:///file`` absolute, under ``server_dir``."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rest = url[len("sqlite:///"):]
        if rest and not rest.startswith(":memory:"):
            return f"sqlite:///{(server_dir / rest).resolve()}"
    return url


def _coerce(key: str, value: Any, *, source: str, from_env: bool = False) -> Any:
    """``value`` converted to the type of field ``key``, or a ConfigError naming both."""
    fld = _FIELDS.get(key)
    if fld is None or key == "server_dir":
        close = difflib.get_close_matches(key, [k for k in _FIELDS if k != "server_dir"], n=1)
        hint = f"did you mean '{close[0]}'?" if close else "a key listed in crashveil/server/settings.py"
        raise ConfigError(f"{source}: {key}", "unknown setting", hint)
    kind = fld.type if isinstance(fld.type, str) else getattr(fld.type, "__name__", str(fld.type))
    where = f"{source}: {key}"
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if from_env and str(value).lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                return str(value).lower() in ("1", "true", "yes", "on")
            raise ValueError
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, int):
                return value
            if from_env:
                return int(str(value).strip())
            raise ValueError
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, (int, float)):
                return float(value)
            if from_env:
                return float(str(value).strip())
            raise ValueError
        if kind == "str":
            if isinstance(value, str):
                return value
            raise ValueError
        if kind.startswith("tuple"):
            if from_env and isinstance(value, str):
                return tuple(part.strip() for part in value.split(",") if part.strip())
            if isinstance(value, list) and all(isinstance(item, str) for item in value):
                return tuple(value)
            raise ValueError
    except ValueError:
        raise ConfigError(where, "has a value of the wrong form", _EXPECTED.get(kind, kind)) from None
    raise ConfigError(where, "has a value of the wrong form", kind)  # pragma: no cover


_EXPECTED = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string",
             "tuple[str, ...]": "a list of strings (comma-separated in the environment)"}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
