"""The client's two record types, kept out of ``client.py`` so ``init()`` needs no ``dataclasses``.

Both are made only on the capture path (a crash, the user's review of a kept crash), where
the report model has imported ``dataclasses`` already. ``crashveil.sdk.client`` exports them
under their usual names, loading this module on first access.
"""

from __future__ import annotations

from dataclasses import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from crashveil.wire.report import Report

__all__ = ["DisclosureRequest", "PendingCrash"]


@dataclass(frozen=True)
class DisclosureRequest:
    """The server asks for more detail about one crash; the app asks its user.

    ``preview`` is the exact report that would be sent if the user agrees; ``added_fields``
    the fields it carries beyond the level the user granted.
    """

    fingerprint: str
    crash_type: str
    current_level: str
    requested_level: str
    added_fields: tuple[str, ...]
    preview: Report


@dataclass(frozen=True)
class PendingCrash:
    """A crash kept on the device until the user decides ("ask me each time")."""

    id: str
    created: float
    crash_type: str
    level: str
    report: Report


# Documented and compared as ``crashveil.sdk.client.<name>``, where they have always lived.
DisclosureRequest.__module__ = PendingCrash.__module__ = "crashveil.sdk.client"
