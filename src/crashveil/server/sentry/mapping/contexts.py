"""Where the app ran, coarsely: OS family and major version, runtime name and major.minor,
architecture, device class and platform. Each value comes from a closed list (anything else
is ``other``), because every context value is whatever the app (or an attacker) says.

sentry-python sends no ``contexts.os`` at all, only ``contexts.runtime`` with its ``build``
string (``3.11.7 (main, ...) [GCC 12.2.0]``): the OS family is then read from the compiler
tag of that string (``MSC`` -> Windows, Apple ``clang-`` -> Darwin, ``GCC`` -> Linux), and
its version stays ``unknown``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from crashveil.server.sentry.mapping.read import Dropped, obj, text, token
from crashveil.wire import Environment

__all__ = ["CONTEXT_PATHS", "KNOWN_CONTEXTS", "device_class", "environment", "platform"]

KNOWN_CONTEXTS = frozenset((
    "os", "runtime", "device", "app", "browser", "trace", "culture", "gpu", "cloud_resource", "response",
    "state", "profile", "replay", "flags", "otel", "feedback", "client_os", "memory_info", "threadpool_info",
    "unity", "monitor", "spring", "missing_instrumentation", "ota_updates", "react_native_context", "character",
))
_USED_CONTEXTS = frozenset(("os", "runtime", "device", "browser"))
_KNOWN_OS = frozenset(("type", "name", "version", "build", "kernel_version", "raw_description", "rooted",
                       "distribution_name", "distribution_version", "distribution_pretty_name"))
_USED_DEVICE = frozenset(("arch", "device_type", "family", "simulator"))
#: Every path this module may name as dropped.
CONTEXT_PATHS = frozenset(
    {f"contexts.{k}" for k in KNOWN_CONTEXTS - _USED_CONTEXTS} | {"contexts.<unknown>"}
    | {f"contexts.os.{k}" for k in _KNOWN_OS - {"name", "version"}} | {"contexts.os.<unknown>"}
    | {"contexts.device", "contexts.runtime.other", "contexts.browser.other"})

_OS_FAMILIES = {
    "linux": "Linux", "darwin": "Darwin", "macos": "Darwin", "mac os x": "Darwin", "mac os": "Darwin",
    "windows": "Windows", "android": "Android", "ios": "iOS", "ipados": "iOS", "tvos": "tvOS",
    "watchos": "watchOS", "freebsd": "FreeBSD", "openbsd": "OpenBSD", "netbsd": "NetBSD", "chrome os": "ChromeOS",
    "chromeos": "ChromeOS", "ubuntu": "Linux", "debian": "Linux", "fedora": "Linux",
}
#: Runtime (or browser) names kept as they are; any other name is stored as ``other``: a
#: secret cut to 32 characters slips past the redactor's token detectors.
_RUNTIMES = {name.lower(): name for name in (
    "CPython", "PyPy", "IronPython", "Jython", "GraalPy", "MicroPython", "Stackless", "node", "Deno", "Bun",
    "Electron", "Hermes", "Chrome", "Chrome Mobile", "Chrome Mobile iOS", "Chromium", "Firefox", "Firefox Mobile",
    "Safari", "Mobile Safari", "Edge", "Opera", "Samsung Internet", "WebKit", "Java", "OpenJDK", "Android",
    "Android Runtime", "Dalvik", "ART", ".NET", ".NET Core", ".NET Framework", "Mono", "Unity", "ruby", "jruby",
    "truffleruby", "php", "go", "rustc", "Dart", "Flutter", "Erlang", "Elixir", "swift")}
_ARCH = {
    "amd64": "x86_64", "x64": "x86_64", "x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64", "arm64e": "arm64",
    "arm64-v8a": "arm64", "armeabi-v7a": "arm", "x86": "x86", "i386": "x86", "i686": "x86", "armv7": "arm",
    "arm": "arm",
}
#: The compiler tag of CPython's ``sys.version`` -> the OS it was built for.
_BUILD_OS = (("[MSC ", "Windows"), ("[Clang", "Darwin"), ("[GCC", "Linux"))
_PLATFORMS = frozenset(("as3", "c", "cfml", "cocoa", "csharp", "elixir", "haskell", "go", "groovy", "java",
                        "javascript", "native", "node", "objc", "other", "perl", "php", "python", "ruby", "dart",
                        "rust", "swift", "kotlin", "unity", "flutter", "react-native", "electron", "dotnet"))
DeviceClass = Literal["desktop", "mobile", "tablet", "tv", "watch", "server", "other"]
_DEVICE_TYPES: dict[str, DeviceClass] = {
    "desktop": "desktop", "handheld": "mobile", "mobile": "mobile", "phone": "mobile", "tablet": "tablet",
    "console": "other", "tv": "tv", "watch": "watch", "server": "server",
}
_OS_DEVICE: dict[str, DeviceClass] = {
    "Android": "mobile", "iOS": "mobile", "tvOS": "tv", "watchOS": "watch", "Windows": "desktop",
    "Darwin": "desktop", "ChromeOS": "desktop",
}


def environment(contexts: Mapping[str, Any], dropped: Dropped) -> Environment | None:
    """OS family and major version, runtime and major.minor, architecture; ``None`` if none is said."""
    for key in contexts:
        if key not in _USED_CONTEXTS:
            dropped.known(key, KNOWN_CONTEXTS, "contexts.")
    os_ctx, runtime = obj(contexts.get("os")), obj(contexts.get("runtime"))
    device, browser = obj(contexts.get("device")), obj(contexts.get("browser"))
    for key in os_ctx:
        if key not in ("name", "version"):
            dropped.known(key, _KNOWN_OS, "contexts.os.")
    if any(key not in _USED_DEVICE for key in device):
        dropped.add("contexts.device")
    if any(key not in ("name", "version", "build") for key in runtime):
        dropped.add("contexts.runtime.other")
    if any(key not in ("name", "version") for key in browser):
        dropped.add("contexts.browser.other")
    if not os_ctx and not runtime and not browser:
        return None
    family, major = _os(os_ctx, runtime)
    impl_source = runtime if runtime else browser
    impl_raw = token(impl_source.get("name"), 64)
    impl = _RUNTIMES.get(impl_raw.lower(), "other") if impl_raw else "unknown"
    match = re.match(r"^\s*v?(\d{1,4})(?:\.(\d{1,4}))?", text(impl_source.get("version")) or "")
    runtime_version = (f"{match.group(1)}.{match.group(2)}" if match and match.group(2) else
                       match.group(1) if match else "unknown")
    arch_raw = token(device.get("arch"), 32)
    arch = _ARCH.get(arch_raw.lower(), "other") if arch_raw else "unknown"
    return Environment(os_family=family, os_version=major, python_impl=impl, python_version=runtime_version,
                       arch=arch)


def _os(os_ctx: Mapping[str, Any], runtime: Mapping[str, Any]) -> tuple[str, str]:
    os_name = token(os_ctx.get("name"), 32)
    if os_name:
        family = _OS_FAMILIES.get(os_name.lower(), "other")
    else:
        build = text(runtime.get("build")) or ""
        family = next((name for tag, name in _BUILD_OS if tag in build[:400]), "unknown")
    version = text(os_ctx.get("version")) or ""
    major = "".join(ch for ch in version.split(".")[0] if ch.isdigit())[:8] or "unknown"
    return family, major


def device_class(contexts: Mapping[str, Any], env: Environment | None) -> DeviceClass | None:
    """The kind of device from ``device_type`` or ``family`` (never the model), else from the OS."""
    device = obj(contexts.get("device"))
    for key in ("device_type", "family"):
        name = token(device.get(key), 32)
        if name and name.lower() in _DEVICE_TYPES:
            return _DEVICE_TYPES[name.lower()]
    family = obj(contexts.get("os")).get("name")
    if isinstance(family, str) and family.lower() in ("ipados",):
        return "tablet"
    return _OS_DEVICE.get(env.os_family) if env is not None else None


def platform(value: Any) -> str | None:
    """Sentry's ``platform`` from its documented list, else ``other`` (``None`` if absent)."""
    name = text(value)
    if not name:
        return None
    return name if name in _PLATFORMS else "other"
