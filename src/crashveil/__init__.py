"""crashveil: privacy-first crash reporting for Python applications.

The facade holds the one client slot of the process. Before ``init()`` a null client answers
every call, so nothing here ever asks whether the SDK is initialised. This module imports
the standard library only, and only what it needs at once: ``import crashveil`` must not
load ``ssl``, ``http.client``, ``asyncio``, ``json``, ``tomllib``, ``cryptography`` or even
``typing`` (``tests/test_public_api.py`` and ``tests/sdk/test_init_cost.py`` check it in a fresh
process).

Typical use::

    import crashveil
    crashveil.init(dsn="crashveil://...", release="myapp@1.2.0")
    if crashveil.needs_prompt():
        from crashveil.sdk.prompts import ask_in_terminal
        ask_in_terminal()
"""

from __future__ import annotations

import _thread
import sys

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: ``typing`` costs milliseconds to import
if TYPE_CHECKING:
    from typing import Any

    from crashveil.sdk.client import Client
    from crashveil.sdk.consent.feedback import FeedbackEntry
    from crashveil.sdk.consent.history import HistoryEntry
    from crashveil.sdk.null_client import NullClient
    from crashveil.wire.report import Report

__version__ = "0.1.0"
__all__ = [
    "__version__",
    "add_breadcrumb",
    "capture_exception",
    "flush",
    "grant",
    "history",
    "init",
    "installation_code",
    "level",
    "needs_prompt",
    "preview",
    "revoke",
    "shutdown",
    "send_privacy_feedback",
    "privacy_feedback",
]

_client: Client | NullClient | None = None
_lock = _thread.allocate_lock()  # threading.Lock() itself, without importing threading (~3 ms)
_atexit_registered = False


def _current() -> Client | NullClient:
    global _client
    if _client is None:
        from crashveil.sdk.null_client import NullClient

        _client = NullClient()
    return _client


def init(**options: Any) -> None:
    """Start the SDK: read the options, install the crash hooks, deliver what is queued.

    Options are those of :class:`crashveil.sdk.options.Options` (``dsn``, ``release``,
    ``app_name``, ``policy`` ...), each also readable from ``CRASHVEIL_*`` variables. Until the
    user grants a level, the hooks only chain: nothing is written and nothing is sent.

    Raises:
        ConfigError: an unknown option (the message names the closest valid one) or a bad value.
        PolicyError: the policy file is invalid.
    """
    global _client, _atexit_registered
    from crashveil.sdk.client import Client
    from crashveil.sdk.options import Options

    client = Client(Options.from_kwargs(options))
    with _lock:
        previous, _client = _client, client
        if previous is not None:
            previous.close()
        client.install_hooks()
        client.start()
        if not _atexit_registered:
            import atexit

            atexit.register(_at_exit)
            _atexit_registered = True


def _at_exit() -> None:
    client = _client
    if client is not None:
        client.close(uninstall=False)


def capture_exception(exc: BaseException | None = None) -> str | None:
    """Report ``exc`` (default: the exception being handled) if the user consented.

    Returns the report id, or None when nothing was recorded. Never raises.
    """
    if exc is None:
        exc = sys.exc_info()[1]
    if exc is None:
        return None
    return _current().capture_exception(exc, mechanism="manual")


def add_breadcrumb(message: str, category: str = "default") -> None:
    """Remember a step the app took (``"opened settings"``), sent only inside a crash report.

    Kept in memory (the last 20), redacted when a crash is reported, and only while the user
    granted a level that includes breadcrumbs; otherwise a no-op. Never raises.
    """
    _current().add_breadcrumb(message, category)


def grant(level: str, *, ask_each_time: bool | None = None) -> None:
    """Record the consent level the user chose (a level name of the policy, or ``"off"``).

    ``ask_each_time`` keeps every crash on the device until the user reviews it at the next
    start. Raises ``ConfigError`` for a level the policy does not have, or before ``init()``.
    """
    _current().grant(level, ask_each_time=ask_each_time)


def revoke() -> None:
    """Withdraw consent: delete the local queue and secrets, ask the server to delete.

    The deletion request carries this install's pseudonyms and is retried until the server
    acknowledges it.
    """
    _current().revoke()


def level() -> str:
    """The consent level in force (``"off"`` until the user chooses)."""
    return _current().level()


def needs_prompt() -> bool:
    """True when the app should ask the user: no choice yet, or the policy changed materially."""
    return _current().needs_prompt()


def preview(exc: BaseException, level: str | None = None) -> Report | None:
    """The exact redacted report that would be sent for ``exc`` (None before ``init()``)."""
    return _current().preview(exc, level)


def history() -> list[HistoryEntry]:
    """What was queued and sent from this device: time, crash type, level, receipt id."""
    return _current().history()


def installation_code() -> str | None:
    """This installation's code (``XXXXX-XXXXX-XXXXX-XXXXX-XXXXX``), to show in the app's privacy
    settings: with it, the app's privacy team can erase this installation's reports after the app
    is gone (a person gives it to support). None until the user first granted a level. The code
    changes after ``revoke()``; keep it as private as a password: it links the installation's
    reports across rotation periods.
    """
    return _current().installation_code()


def flush(timeout_s: float | None = None) -> bool:
    """Wait up to ``timeout_s`` (default: the ``flush_timeout_s`` option) for queued reports to go."""
    return _current().flush(timeout_s)


def shutdown() -> None:
    """Flush (bounded), remove the hooks and return to the null client."""
    global _client
    with _lock:
        client, _client = _client, None
    if client is not None:
        client.close()


def send_privacy_feedback(topic: str, text: str, *, link_reports: bool = False) -> str | None:
    """Send the user's feedback on the data practice (a question, a concern, a preference).

    ``topic`` is one of the policy's ``[feedback] topics``; ``text`` is redacted on the device
    and at most the policy's ``max_chars`` long. Allowed at every consent level, even ``off``
    (it is the user's own act; nothing else is sent). Never linked to crash reports unless
    ``link_reports`` is true and the user consented to reports: then it carries the current
    period's pseudonym only. Returns the feedback id, or None without a DSN. Raises
    ``ConfigError`` for an unknown topic, an empty or too long text, or before ``init()``.
    """
    return _current().send_privacy_feedback(topic, text, link_reports=link_reports)


def privacy_feedback() -> list[FeedbackEntry]:
    """The feedback sent from this device, with its status and the privacy officer's replies."""
    return _current().privacy_feedback()
