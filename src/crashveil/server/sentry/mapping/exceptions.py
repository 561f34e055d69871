"""The exception chain of a Sentry event: crash type, cause or context, and how it was caught.

``MECHANISMS`` maps the ``exception.mechanism.type`` names of current official SDKs to
crashveil's crash kinds (``Report.mechanism``); ``handled`` is kept, and a crash that ended
the process (an uncaught exception, a native fault) is unhandled whatever the SDK said.
Names were read from the SDKs' sources: sentry-python integrations, sentry-javascript
(``auto.<area>.<name>`` since v8: ``auto.node.onuncaughtexception``,
``auto.browser.global_handlers.onerror``, ``auto.middleware.express`` ...), sentry-java,
sentry-cocoa, sentry-dotnet, sentry-dart and sentry-native.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from crashveil.server.sentry.mapping.frames import AppRoot, frames_of, stack_of
from crashveil.server.sentry.mapping.read import MALFORMED, NOT_ALLOWLISTED, TOO_LARGE, Dropped, cut, obj, text
from crashveil.wire import LIMITS, ChainedError

__all__ = ["CHAIN_FRAMES", "EXCEPTION_PATHS", "MECHANISMS", "Caught", "chain_of", "crash_type", "error_code",
           "mechanism_of"]

#: Frames kept in a chained error's stack (the SDK's own limit for chains).
CHAIN_FRAMES = 16
_TEXT = LIMITS["max_message_chars"]
_TYPE_RE = re.compile(r"^[\w.$:<>\[\]-]{1,256}$")
Kind = Literal["excepthook", "thread", "asyncio", "unraisable", "native", "logging", "manual", "rejection",
               "framework"]
#: Crash kinds that end the process: never ``handled``.
_FATAL: frozenset[Kind] = frozenset(("excepthook", "native"))

MECHANISMS: Mapping[str, Kind | None] = {
    # Python (sentry-python)
    "excepthook": "excepthook", "sys.excepthook": "excepthook", "threading": "thread", "asyncio": "asyncio",
    "unraisablehook": "unraisable", "logging": "logging", "argv": "manual", "atexit": "excepthook",
    # JavaScript before v8, browser and Node
    "onerror": "excepthook", "onuncaughtexception": "excepthook", "onunhandledrejection": "rejection",
    "instrument": "excepthook", "generic": "manual",
    # JavaScript v8+ (the auto.* names not listed fall to their area below)
    "auto.browser.global_handlers.onerror": "excepthook",
    "auto.browser.global_handlers.onunhandledrejection": "rejection",
    "auto.node.onuncaughtexception": "excepthook", "auto.node.onunhandledrejection": "rejection",
    "auto.child_process.worker_thread": "thread", "auto.core.capture_console": "logging",
    "auto.core.linked_errors": None, "chained": None,
    # Java, Android, Kotlin
    "UncaughtExceptionHandler": "excepthook", "uncaught": "excepthook", "AppExitInfo": "native", "ANR": "native",
    "anr_foreground": "native", "anr_background": "native",
    # Cocoa, native (sentry-native, Crashpad, Breakpad), Windows
    "signalhandler": "native", "minidump": "native", "crashpad": "native", "breakpad": "native", "mach": "native",
    "signal": "native", "nsexception": "excepthook", "cpp_exception": "excepthook", "AppHang": "native",
    "seh": "native", "native": "native", "watchdog_termination": "native",
    # .NET, Dart and Flutter
    "AppDomain.UnhandledException": "excepthook", "UnobservedTaskException": "rejection",
    "Application.ThreadException": "thread", "FlutterError": "framework", "PlatformDispatcher.onError": "excepthook",
    "runZonedGuarded": "excepthook", "isolateError": "thread",
}
#: ``auto.<area>.`` prefixes of sentry-javascript v8+ not named above -> their crash kind.
_AUTO_AREAS: Mapping[str, Kind] = {
    "browser": "excepthook", "node": "excepthook", "log": "logging", "console": "logging", "function": "framework",
    "middleware": "framework", "http": "framework", "rpc": "framework", "db": "framework", "ai": "framework",
    "graphql": "framework", "queue": "framework", "serverless": "framework", "vue": "framework",
    "angular": "framework", "react": "framework", "ui": "framework", "faas": "framework",
}
#: Python and other server SDKs name the integration that caught the error (django, celery...).
_FRAMEWORK_RE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")

#: Every path this module may name as dropped.
EXCEPTION_PATHS = frozenset(("exception.mechanism.data", "exception.mechanism.type", "exception.type",
                             "exception.chain"))


class Caught:
    """How an exception was caught: the crash kind and whether the app handled it."""

    __slots__ = ("kind", "handled")

    def __init__(self, kind: Kind | None, handled: bool | None) -> None:
        self.kind = kind
        self.handled = handled


def mechanism_of(value: Mapping[str, Any], dropped: Dropped) -> Caught:
    mechanism = obj(value.get("mechanism"))
    if mechanism.get("data") or mechanism.get("meta"):
        dropped.add("exception.mechanism.data")
    name = text(mechanism.get("type"))
    kind: Kind | None = None
    if name:
        kind = _kind(name)
        if kind is None and name not in MECHANISMS:
            dropped.add("exception.mechanism.type", NOT_ALLOWLISTED)
    handled = mechanism.get("handled")
    handled = handled if isinstance(handled, bool) else None
    if kind in _FATAL:
        handled = False
    return Caught(kind, handled)


def _kind(name: str) -> Kind | None:
    if name in MECHANISMS:
        return MECHANISMS[name]
    if name.startswith("auto."):
        return _AUTO_AREAS.get(name.split(".", 2)[1], "framework")
    return "framework" if _FRAMEWORK_RE.match(name) else None


def crash_type(value: Mapping[str, Any], dropped: Dropped) -> str:
    name = text(value.get("type")) or "Error"
    module = text(value.get("module"))
    if module and module not in ("builtins", "__main__", "exceptions") and not name.startswith(module + "."):
        name = f"{module}.{name}"
    if not _TYPE_RE.match(name):
        dropped.add("exception.type", MALFORMED)
        return "UnknownError"
    return name


def error_code(value: Mapping[str, Any]) -> str | None:
    meta = obj(obj(value.get("mechanism")).get("meta"))
    for prefix, key in (("signal", "signal"), ("errno", "errno")):
        number = obj(meta.get(key)).get("number")
        if isinstance(number, int) and not isinstance(number, bool) and abs(number) < 10**10:
            return f"{prefix}:{number}"
    return None


def _relation(value: Mapping[str, Any]) -> Literal["cause", "context"]:
    """``cause`` when the SDK says so (Python exception groups: ``__cause__``; JavaScript and
    Java: ``cause``); sentry-python does not say it for a plain ``raise X from Y``."""
    source = obj(value.get("mechanism")).get("source")
    return "cause" if source in ("__cause__", "cause") else "context"


def chain_of(values: Sequence[Mapping[str, Any]], root: AppRoot, dropped: Dropped) -> tuple[ChainedError, ...] | None:
    """The errors before the reported one (``values[:-1]``), innermost cause first."""
    if len(values) > 1 + LIMITS["max_chain"]:
        dropped.add("exception.chain", TOO_LARGE, len(values) - 1 - LIMITS["max_chain"])
    chain = []
    for value in reversed(values[-1 - LIMITS["max_chain"]:-1]):
        message = text(value.get("value"))
        stack, _ = stack_of(frames_of(value, []), root, CHAIN_FRAMES, dropped)
        chain.append(ChainedError(relation=_relation(value), crash_type=crash_type(value, dropped),
                                  error_code=error_code(value), message=cut(message, _TEXT) if message else None,
                                  stack=stack))
    return tuple(chain) or None
