"""What the ``crashveil`` facade talks to before ``init()`` and after ``shutdown()``.

A client that records nothing and asks nothing, so the facade never asks "am I
initialised?" (sentry-python's ``NonRecordingClient``). Cheap: the standard library is not
touched, only the error tree and the consent level names.
"""

from __future__ import annotations

from crashveil.errors import ConfigError
from crashveil.sdk.consent.store import OFF

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: ``import crashveil`` does not import ``typing``
if TYPE_CHECKING:
    from types import TracebackType

    from crashveil.sdk._records import PendingCrash
    from crashveil.sdk.consent.feedback import FeedbackEntry
    from crashveil.sdk.consent.history import HistoryEntry
    from crashveil.wire.report import Report

__all__ = ["NullClient"]


class NullClient:
    """What the facade talks to before ``init()``: records nothing, asks nothing."""

    enabled = False
    hooks = None  # no crash hooks (``Client.hooks``), for the integrations' dedup

    def capture_exception(self, exc: BaseException, *, mechanism: str = "manual",
                          tb: TracebackType | None = None,
                          context: tuple[tuple[str, str | int], ...] = ()) -> str | None:
        return None

    def add_breadcrumb(self, message: str, category: str = "default") -> None:
        return None

    def level(self) -> str:
        return OFF

    def needs_prompt(self) -> bool:
        return False

    def grant(self, level: str, *, ask_each_time: bool | None = None) -> None:
        raise ConfigError("crashveil", "init() was not called", "crashveil.init(...) before recording consent")

    def revoke(self) -> None:
        raise ConfigError("crashveil", "init() was not called", "crashveil.init(...) before revoking consent")

    def preview(self, exc: BaseException, level: str | None = None) -> Report | None:
        return None

    def history(self) -> list[HistoryEntry]:
        return []

    def installation_code(self) -> str | None:
        return None

    def pending(self) -> list[PendingCrash]:
        return []

    def flush(self, timeout_s: float | None = None) -> bool:
        return True

    def send_privacy_feedback(self, topic: str, text: str, *, link_reports: bool = False) -> str | None:
        raise ConfigError("crashveil", "init() was not called", "crashveil.init(...) before sending feedback")

    def privacy_feedback(self) -> list[FeedbackEntry]:
        return []

    def close(self, *, uninstall: bool = True) -> None:
        """Nothing to close; takes ``Client.close``'s arguments (the exit handler passes them)."""
        return None
