"""Every option ``crashveil.init()`` accepts, its default, and the ``CRASHVEIL_*`` variables.

This is the only SDK module that reads the environment. ``Options`` is frozen and handed
down by constructor; no other module looks at ``os.environ`` or a global. Keyword arguments
win over the environment; an unknown keyword is a ``ConfigError`` naming the closest valid
option (sentry-python raises a bare ``TypeError("Unknown option")``; a suggestion is kinder).
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

from crashveil._frozen import Frozen
from crashveil.errors import ConfigError

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: ``init()`` does not import ``typing``
if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Mapping
    from typing import Any

    from crashveil.policy.model import Policy
    from crashveil.sdk._records import DisclosureRequest
    from crashveil.sdk.integrations._base import Integration
    from crashveil.sdk.transport import Transport
    from crashveil.wire.protocol import ConnectionString

    #: A DSN as checked at ``init()``: its parts until first read, then the dataclass.
    _Connection = ConnectionString | tuple[str, int, str, str, str, bytes]

__all__ = ["Options", "default_data_dir", "default_app_root", "OPTION_NAMES", "FALLBACK_APP_NAME"]

#: ``app_name`` when none is given and the program's name is no use: prompts say "this application" then.
FALLBACK_APP_NAME = "python-app"

_APP_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

#: Option names, in the order of the ``Options`` attributes (the single list; init() validates against it).
OPTION_NAMES: tuple[str, ...] = (
    "app_name", "data_dir", "policy", "app_root", "dsn", "project", "release", "cohort", "client_cert",
    "client_key", "consent_callback", "ask_each_time", "logging_integration", "logging_breadcrumbs",
    "keep_history_content", "flush_timeout_s", "transport", "now", "rng",
    "integrations", "auto_integrations", "consent_mode", "server_level", "connection_file", "adoption_ping",
)

#: Defaults of the optional attributes (``policy`` and ``rng``: None, completed on first read).
_DEFAULTS: dict[str, Any] = {
    "policy": None, "dsn": None, "project": None, "release": None, "cohort": None, "client_cert": None,
    "client_key": None, "consent_callback": None, "ask_each_time": False, "logging_integration": False,
    "logging_breadcrumbs": False, "keep_history_content": False, "flush_timeout_s": 2.0, "transport": None,
    "now": time.time, "rng": None,
    "integrations": (), "auto_integrations": True, "consent_mode": "device", "server_level": None,
    "connection_file": None, "adoption_ping": False,
}
#: ``consent_mode``: the user decides on the device, or the operator of server software decides.
CONSENT_MODES = ("device", "server")
#: The fields of ``ConnectionString``, in order (what ``parse_connection_parts`` returns).
_DSN_PARTS = ("host", "port", "project", "public_key", "signing_key", "ca_der")
#: Attribute -> slot: ``policy``, ``rng`` and ``dsn`` are properties over a slot whose value is
#: completed on first read (None: the shipped policy, a new SystemRandom; a DSN's parts).
_LAZY = ("policy", "rng", "dsn")
_SLOTS = {name: f"_{name}_value" if name in _LAZY else name for name in OPTION_NAMES}


class Options(Frozen):
    """The resolved configuration of one SDK client. Build it with :meth:`from_kwargs`.

    Attributes (in ``OPTION_NAMES`` order): ``app_name``, ``data_dir`` (a ``Path``), ``policy``
    (the policy given to ``init()``, else the shipped reference policy, parsed on first read),
    ``app_root``, ``dsn`` (a ``ConnectionString`` or None), ``project``, ``release``,
    ``cohort``, ``client_cert``, ``client_key``, ``consent_callback`` (progressive disclosure:
    called with a ``DisclosureRequest`` when the server asks for a richer level for one crash;
    returns True if the user agrees, for that crash only), ``ask_each_time`` (keep each crash
    sealed on the device until the user decides at the next start), ``logging_integration``
    (report ``logger.exception(...)`` records), ``logging_breadcrumbs`` (INFO and higher log
    records as breadcrumbs), ``keep_history_content`` (keep the redacted report text in the
    local history), ``flush_timeout_s``, ``transport`` (a ``crashveil.sdk.transport.Transport``
    instead of HTTPS), ``now`` (the clock), ``rng`` (a ``random.SystemRandom`` unless given) and
    ``connection_file`` (a file holding the connection string, instead of ``dsn``: ``crashveil
    project connection PROJECT --out FILE`` writes it) and ``adoption_ping`` (send the daily
    adoption ping the policy's ``[adoption]`` declares, within the user's consent:
    ``crashveil.sdk.adoption``; off unless the app turns it on).

    Immutable: assigning raises ``dataclasses.FrozenInstanceError`` (an ``AttributeError``), as
    it did when this was a frozen dataclass. A plain class with ``__slots__`` so that
    ``init()`` imports neither ``dataclasses`` (which imports ``inspect``) nor generates methods
    at import: together several milliseconds of every app's start.
    """

    __slots__ = tuple(_SLOTS.values())
    # The slots' types, for type checkers only (annotations without values add no class attribute).
    app_name: str
    data_dir: Path
    _policy_value: Policy | None
    app_root: Path
    _dsn_value: _Connection | None
    project: str | None
    release: str | None
    cohort: str | None
    client_cert: str | None
    client_key: str | None
    consent_callback: Callable[[DisclosureRequest], bool] | None
    ask_each_time: bool
    logging_integration: bool
    logging_breadcrumbs: bool
    keep_history_content: bool
    flush_timeout_s: float
    transport: Transport | None
    now: Callable[[], float]
    _rng_value: random.Random | None
    integrations: tuple[Integration, ...]
    auto_integrations: bool
    consent_mode: str
    server_level: str | None
    connection_file: str | None
    adoption_ping: bool

    def __init__(self, **values: Any) -> None:
        unknown = sorted(set(values) - set(OPTION_NAMES))
        if unknown:
            raise TypeError(f"Options() got an unexpected keyword argument {unknown[0]!r}")
        for name in OPTION_NAMES:
            if name in values:
                value = values[name]
            elif name in _DEFAULTS:
                value = _DEFAULTS[name]
            else:
                raise TypeError(f"Options() missing required keyword argument {name!r}")
            object.__setattr__(self, _SLOTS[name], value)

    @property
    def policy(self) -> Policy:
        """The policy given to ``init()``, else the shipped reference policy (parsed on first read).

        ``init()`` without a ``policy`` option stores None; the first read loads the reference
        policy (once per process). So ``init()`` never parses it. A policy *file* given by the
        app is still loaded, and checked, in :meth:`from_kwargs`: a bad file is a
        ``PolicyError`` at ``init()``.
        """
        value = self._policy_value
        if value is None:
            from crashveil.policy.loader import default_policy

            value = default_policy()
            object.__setattr__(self, "_policy_value", value)
        return value

    @property
    def rng(self) -> random.Random:
        """The randomness for sampling and ids: the one given, else a ``random.SystemRandom``."""
        value = self._rng_value
        if value is None:
            import random

            value = random.SystemRandom()
            object.__setattr__(self, "_rng_value", value)
        return value

    @property
    def dsn(self) -> ConnectionString | None:
        """The connection string (a ``ConnectionString``), None without one.

        Checked at ``init()``; the dataclass itself is made on first read (the first request
        to the server), so ``init()`` with a DSN imports no ``dataclasses``.
        """
        value = self._dsn_value
        if isinstance(value, tuple):
            from crashveil.wire.protocol import ConnectionString

            value = ConnectionString(*value)
            object.__setattr__(self, "_dsn_value", value)
        return value

    def dsn_part(self, name: str) -> Any:
        """``options.dsn.<name>`` (``public_key``, ``project`` ...) without making the
        ``ConnectionString``; None without a DSN."""
        value = self._dsn_value
        if value is None:
            return None
        if isinstance(value, tuple):
            return value[_DSN_PARTS.index(name)]
        return getattr(value, name)

    def policy_loaded(self) -> bool:
        """Whether :attr:`policy` is already in memory (False: the shipped policy, not read yet)."""
        return self._policy_value is not None

    def __reduce__(self) -> tuple[Any, ...]:  # copy and pickle: __setattr__ refuses
        return (_restore_options, (self._values(),))

    def _values(self) -> tuple[Any, ...]:
        """The slots as stored (``policy`` None while not read, a DSN as its parts)."""
        return tuple(getattr(self, slot) for slot in self.__slots__)

    def _compared(self) -> tuple[Any, ...]:
        """What equality and the hash see: the slots, with the DSN as its ``ConnectionString``."""
        return tuple(self.dsn if name == "dsn" else getattr(self, slot) for name, slot in _SLOTS.items())

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(_SLOTS, self._compared(), strict=False))
        return f"Options({shown})"

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Options:
        """Validate ``init()`` keywords, fill the rest from ``CRASHVEIL_*`` and defaults.

        Raises:
            ConfigError: unknown option (with the closest name), or a value of the wrong form.
            PolicyError: the policy file given is invalid.
        """
        env = os.environ if environ is None else environ
        for key in kwargs:
            if key not in OPTION_NAMES:
                import difflib

                close = difflib.get_close_matches(key, OPTION_NAMES, n=1)
                hint = f"did you mean {close[0]!r}?" if close else None
                raise ConfigError(key, "unknown option", hint or f"one of: {', '.join(OPTION_NAMES)}")
        values: dict[str, Any] = {}
        for name, variable in _ENV.items():
            if name in kwargs:
                values[name] = kwargs[name]
            elif variable in env:
                values[name] = env[variable]
        for name in OPTION_NAMES:
            if name in kwargs and name not in values:
                values[name] = kwargs[name]
        return _resolve(values, env)


def _restore_options(values: tuple[Any, ...]) -> Options:
    """An ``Options`` from its slot values (what ``__reduce__`` gives ``copy`` and ``pickle``)."""
    options = Options.__new__(Options)
    for slot, value in zip(Options.__slots__, values, strict=False):
        object.__setattr__(options, slot, value)
    return options


_ENV = {
    "dsn": "CRASHVEIL_DSN",
    "app_name": "CRASHVEIL_APP_NAME",
    "data_dir": "CRASHVEIL_DATA_DIR",
    "release": "CRASHVEIL_RELEASE",
    "cohort": "CRASHVEIL_COHORT",
    "policy": "CRASHVEIL_POLICY",
    "app_root": "CRASHVEIL_APP_ROOT",
    "client_cert": "CRASHVEIL_CLIENT_CERT",
    "client_key": "CRASHVEIL_CLIENT_KEY",
    "ask_each_time": "CRASHVEIL_ASK_EACH_TIME",
    "logging_integration": "CRASHVEIL_LOGGING",
    "flush_timeout_s": "CRASHVEIL_FLUSH_TIMEOUT_S",
    "consent_mode": "CRASHVEIL_CONSENT_MODE",
    "server_level": "CRASHVEIL_SERVER_LEVEL",
    "connection_file": "CRASHVEIL_CONNECTION_FILE",
    "adoption_ping": "CRASHVEIL_ADOPTION_PING",
}


def _resolve(values: dict[str, Any], env: Mapping[str, str]) -> Options:
    """Check every option (in this order, so the first wrong one is named) and build ``Options``."""
    connection_file = _optional_str(values, "connection_file")
    connection = _connection(values.get("dsn")) if connection_file is None else _connection_from_file(
        connection_file, values.get("dsn"))
    project = _project(values, connection)
    app_name = _app_name(values)
    data_dir = values.get("data_dir")
    data_path = Path(data_dir) if data_dir not in (None, "") else default_data_dir(app_name, env)
    app_root = values.get("app_root")
    root_path = Path(app_root) if app_root not in (None, "") else default_app_root()
    timeout = _flush_timeout(values)
    callback = values.get("consent_callback")
    _check_callables(values)

    return Options(
        app_name=app_name,
        data_dir=data_path.expanduser(),
        policy=_policy(values.get("policy")),  # None: the shipped policy, read on first use
        app_root=root_path.expanduser().resolve(),
        dsn=connection,
        project=project,
        release=_optional_str(values, "release"),
        cohort=_optional_str(values, "cohort"),
        client_cert=_optional_str(values, "client_cert"),
        client_key=_optional_str(values, "client_key"),
        consent_callback=callback,
        ask_each_time=_flag(values, "ask_each_time"),
        logging_integration=_flag(values, "logging_integration"),
        logging_breadcrumbs=_flag(values, "logging_breadcrumbs"),
        keep_history_content=_flag(values, "keep_history_content"),
        flush_timeout_s=timeout,
        transport=values.get("transport"),
        now=values.get("now", time.time),
        rng=values.get("rng") or None,  # None: a random.SystemRandom, made on first read
        integrations=_integrations(values.get("integrations")),
        auto_integrations=_flag({"auto_integrations": values.get("auto_integrations", True)}, "auto_integrations"),
        **_consent_mode(values),
        connection_file=connection_file,
        adoption_ping=_flag(values, "adoption_ping"),
    )


def _connection(dsn: object) -> _Connection | None:
    """The ``dsn`` option checked now (a bad one is a ``ConfigError`` at ``init()``).

    A string is kept as its parts: the ``ConnectionString`` dataclass is made when
    ``options.dsn`` is first read (see ``Options.dsn``).
    """
    if dsn is None or dsn == "":
        return None
    if isinstance(dsn, str):
        from crashveil.wire._connection import parse_connection_parts

        return parse_connection_parts(dsn)
    from crashveil.wire.protocol import ConnectionString

    if not isinstance(dsn, ConnectionString):
        raise ConfigError("dsn", f"is a {type(dsn).__name__}", "a crashveil:// connection string")
    return dsn


#: Most bytes of a connection file read (a connection string is about 1.5 KiB).
_CONNECTION_FILE_MAX = 64 * 1024


def _connection_from_file(path: str, dsn: object) -> _Connection:
    """The connection string in the file ``path`` (``crashveil project connection --out FILE``):
    its one line that is neither empty nor a ``#`` comment, checked like ``dsn``. The file is
    the app's own configuration, read once here; nothing is fetched."""
    if dsn not in (None, ""):
        raise ConfigError("connection_file", "is given together with dsn", "one of dsn or connection_file")
    expected = "a file written by 'crashveil project connection PROJECT --out FILE'"
    try:
        with open(Path(path).expanduser(), "rb") as handle:
            data = handle.read(_CONNECTION_FILE_MAX + 1)
    except OSError as exc:
        raise ConfigError("connection_file", f"{path} cannot be read ({exc.strerror or exc})", expected) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("connection_file", f"{path} is not UTF-8 text", expected) from None
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if len(data) > _CONNECTION_FILE_MAX or len(lines) != 1:
        raise ConfigError("connection_file", f"{path} does not hold exactly one connection string", expected)
    try:
        connection = _connection(lines[0])
    except ConfigError as exc:
        raise ConfigError("connection_file", f"{path}: {exc.key} {exc.problem}", exc.expected) from None
    assert connection is not None  # a non-empty string parses or raises
    return connection


def _project(values: Mapping[str, Any], connection: _Connection | None) -> str | None:
    """The ``project`` option, else the dsn's; with a dsn the two must agree."""
    dsn_project = None if connection is None else connection[2] if isinstance(connection, tuple) else connection.project
    project = _optional_str(values, "project") or dsn_project
    if connection is not None and project != dsn_project:
        raise ConfigError("project", "differs from the project in the dsn", repr(dsn_project))
    return project


def _app_name(values: Mapping[str, Any]) -> str:
    """The ``app_name`` option (else guessed from the program): it names a directory, and the
    app in the consent prompts (``sdk/prompts.py``) unless the policy's notice names it."""
    app_name = _optional_str(values, "app_name") or _guess_app_name()
    if not _APP_NAME_RE.match(app_name):
        raise ConfigError("app_name", "is not a safe directory name", "letters, digits, '.', '_', '-' or space")
    return app_name


def _flush_timeout(values: Mapping[str, Any]) -> float:
    """The ``flush_timeout_s`` option: seconds, 0 to 60 (2 by default)."""
    timeout = values.get("flush_timeout_s", 2.0)
    try:
        timeout = float(timeout)
    except (TypeError, ValueError) as exc:
        raise ConfigError("flush_timeout_s", "is not a number", "seconds, e.g. 2.0") from exc
    if not 0 <= timeout <= 60:
        raise ConfigError("flush_timeout_s", "is out of range", "0 to 60 seconds")
    return timeout


def _check_callables(values: Mapping[str, Any]) -> None:
    """``consent_callback`` and ``now``, when given, must be callable."""
    callback = values.get("consent_callback")
    if callback is not None and not callable(callback):
        raise ConfigError("consent_callback", "is not callable", "a function(request) -> bool")
    for name in ("now",):
        if name in values and not callable(values[name]):
            raise ConfigError(name, "is not callable", "a function returning seconds since the epoch")
def _integrations(value: object) -> tuple[Integration, ...]:
    """The ``integrations`` option: a list of integration objects (``crashveil.sdk.integrations``)."""
    if value is None:
        return ()
    expected = "a list such as [FlaskIntegration()] from crashveil.sdk.integrations"
    if not isinstance(value, (list, tuple)):
        raise ConfigError("integrations", f"is a {type(value).__name__}", expected)
    if value:
        from crashveil.sdk.integrations._base import Integration

        for item in value:
            if not isinstance(item, Integration):
                raise ConfigError("integrations", f"holds a {type(item).__name__}", expected)
    return tuple(value)


def _consent_mode(values: Mapping[str, Any]) -> dict[str, Any]:
    """``consent_mode`` and ``server_level``; the policy's ``[consent]`` is checked by the client."""
    mode = _optional_str(values, "consent_mode") or "device"
    if mode not in CONSENT_MODES:
        raise ConfigError("consent_mode", "unknown mode", " or ".join(repr(m) for m in CONSENT_MODES))
    level = _optional_str(values, "server_level")
    if mode == "server" and level is None:
        raise ConfigError("server_level", "is missing in server mode", "a level of the policy, e.g. 'crash'")
    if mode == "device" and level is not None:
        raise ConfigError("server_level", "is only for consent_mode='server'", "consent_mode='server'")
    return {"consent_mode": mode, "server_level": level}


def _policy(value: object) -> Policy | None:
    """The policy option: None for the shipped policy (read on first use), else loaded now."""
    if value is None or value == "":
        return None
    from crashveil.policy.model import Policy

    if isinstance(value, Policy):
        return value
    if isinstance(value, (str, os.PathLike)):
        from crashveil.policy.loader import load_policy

        return load_policy(value)
    raise ConfigError("policy", f"is a {type(value).__name__}", "a path to a policy file or a Policy")


def _optional_str(values: Mapping[str, Any], name: str) -> str | None:
    value = values.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(name, f"is a {type(value).__name__}", "a string")
    return value


def _flag(values: Mapping[str, Any], name: str) -> bool:
    value = values.get(name, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(name, "is not a yes/no value", "true or false (or 1/0 in the environment)")


def _guess_app_name() -> str:
    """The main script's name without extension (``myapp`` for ``myapp.py``), else ``python-app``."""
    stem = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    if stem == "__main__":
        main = sys.modules.get("__main__")
        spec = getattr(main, "__spec__", None)
        stem = spec.name.split(".")[0] if spec is not None and spec.name else ""
    return stem if stem and _APP_NAME_RE.match(stem) else FALLBACK_APP_NAME


def default_data_dir(app_name: str, environ: Mapping[str, str] | None = None) -> Path:
    """The per-user data directory of the app, with a ``crashveil`` folder inside.

    Linux and others: ``$XDG_DATA_HOME`` or ``~/.local/share``; macOS: ``~/Library/Application
    Support``; Windows: ``%LOCALAPPDATA%`` (falls back to ``~/AppData/Local``).
    """
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    if sys.platform == "win32":
        base = Path(env["LOCALAPPDATA"]) if env.get("LOCALAPPDATA") else home / "AppData" / "Local"
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        xdg = env.get("XDG_DATA_HOME", "")
        base = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".local" / "share"
    return base / app_name / "crashveil"


def default_app_root() -> Path:
    """Where the app's own code lives: the main script's directory, else the working directory.

    For ``python -m pkg.main`` the root is the directory holding ``pkg``, so frames of the
    whole package count as in-app.
    """
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if main_file:
        path = Path(main_file).resolve().parent
        spec = getattr(main, "__spec__", None)
        if spec is not None and spec.name:
            depth = spec.name.count(".")
            if Path(main_file).stem == "__main__":
                depth += 1
            for _ in range(depth):
                path = path.parent
        return path
    return Path.cwd()
