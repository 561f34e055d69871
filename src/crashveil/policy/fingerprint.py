"""Versioned crash fingerprints: which crashes are "the same crash".

A fingerprint is computed from the crash type and the in-app ``module:function`` path of the
stack, never from line numbers, messages or release, so it is stable when code above the crash
moves and across releases (a resolved crash that comes back in a later release regresses
the same group). The SDK computes it; the server recomputes it from the stack it stores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from crashveil.wire.report import Frame

__all__ = ["FINGERPRINT_VERSION", "compute_fingerprint", "grouping_title", "module_of"]

FINGERPRINT_VERSION = 1


def module_of(file: str) -> str:
    """``app/core/db.py`` -> ``app.core.db`` (works for Windows separators too)."""
    path = file.replace("\\", "/").lstrip("~/")
    if path.endswith(".py"):
        path = path[:-3]
    if path.endswith("/__init__"):
        path = path[: -len("/__init__")]
    return path.replace("/", ".")


#: The part of an app's own grouping (``Report.grouping``) that stands for the default material.
DEFAULT_PART = "{{ default }}"


def compute_fingerprint(crash_type: str, frames: Iterable[Frame], grouping: Sequence[str] | None = None) -> str:
    """``v1:<32 hex>`` from the crash type and the in-app frames' module and function.

    When no frame is in-app (a crash inside a library), the innermost frame still
    anchors the crash, so different library crashes do not collapse into one group.
    ``grouping`` (an app's own rule, as Sentry SDKs send it) replaces that material; its
    ``{{ default }}`` part stands for it. Without ``grouping`` the result is unchanged.
    """
    frames = list(frames)
    path = [f"{module_of(f.file)}:{f.function}" for f in frames if f.in_app]
    if not path and frames:
        last = frames[-1]
        path = [f"{module_of(last.file)}:{last.function}"]
    material = "\n".join([crash_type, *path])
    if grouping:
        parts = [material if part == DEFAULT_PART else f"\x00{part}" for part in grouping]
        material = "\x01grouping\n" + "\n".join(parts)
    digest = hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"v{FINGERPRINT_VERSION}:{digest}"


def grouping_title(crash_type: str, message_template: str | None) -> str:
    """What names a group in its fingerprint: the crash type, and for a logged message (whose
    type is only ``Message``) its redacted template too, so each logged problem is a group of
    its own while the title shown to every role stays the bare type. Native reports carry no
    template: their fingerprint is unchanged."""
    return crash_type if message_template is None else f"{crash_type}\n{message_template}"
