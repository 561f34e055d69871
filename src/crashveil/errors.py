"""The one exception tree of crashveil, shared by the policy code, the SDK and the server.

Every error names what is wrong (a key, a field path, a file) and the form that was
expected. None of them ever echoes report content: crash strings are attacker-controlled
and may hold personal data.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: ``import crashveil`` must not load ``typing``
if TYPE_CHECKING:
    from datetime import date

__all__ = [
    "CrashveilError",
    "ConfigError",
    "PolicyError",
    "ReportError",
    "ReportRejected",
    "SealError",
    "StorageError",
    "DatabaseSetupError",
    "AccessDenied",
    "NotVisible",
    "LoginFailed",
    "LoginBlocked",
    "Throttled",
    "AuditTamperedError",
    "BudgetExceededError",
    "NotFound",
    "EventSkipped",
    "SchemaAheadError",
    "DatabaseUnreachable",
    "BackupError",
    "Interrupted",
    "BadQueryParameter",
    "BadTriageAction",
    "KeyUnavailableError",
    "KekRolloutError",
    "ClusterError",
    "TokenRefused",
    "ScopeMissing",
    "BadApiInput",
    "DestinationError",
    "WebhookSignatureError",
    "InstallationCodeError",
    "ConfirmationInvalid",
    "BudgetExhaustedError",
    "ForwardingRefused",
    "BadAlertRule",
]


class CrashveilError(Exception):
    """Base class of every error crashveil raises on purpose."""


class ConfigError(CrashveilError, ValueError):
    """A bad option or setting: names the key, the problem and the expected form."""

    def __init__(self, key: str, problem: str, expected: str | None = None) -> None:
        self.key = key
        self.problem = problem
        self.expected = expected
        message = f"{key}: {problem}"
        if expected:
            message += f" (expected {expected})"
        super().__init__(message)


class PolicyError(CrashveilError, ValueError):
    """The policy file is invalid: names the file, the key path and the expected form."""

    def __init__(self, source: str, key_path: str, problem: str, expected: str | None = None) -> None:
        self.source = source
        self.key_path = key_path
        self.problem = problem
        self.expected = expected
        message = f"{source}: {key_path or '<top>'}: {problem}"
        if expected:
            message += f" (expected {expected})"
        super().__init__(message)


class ReportError(CrashveilError, ValueError):
    """A report does not follow the wire format: names the field path and the rule broken.

    ``code`` is a short machine-readable reason (``too_long``, ``wrong_type`` ...) used by the
    server's error map and its rejection counters.
    """

    def __init__(self, field: str, code: str, message: str) -> None:
        self.field = field
        self.code = code
        super().__init__(f"{field or '<report>'}: {message}")


class ReportRejected(CrashveilError):
    """The server refused a report; ``status`` is the HTTP status it maps to."""

    def __init__(self, code: str, message: str, *, field: str | None = None, status: int = 400) -> None:
        self.code = code
        self.field = field
        self.status = status
        super().__init__(message)


class SealError(CrashveilError):
    """Sealing or opening a report failed. Deliberately says nothing more (no oracle)."""


class StorageError(CrashveilError):
    """The database or the disk failed; the driver's error is chained with ``from``."""


class DatabaseSetupError(StorageError):
    """The database could not be reached or set up; the message names what failed and the fix."""


class AccessDenied(CrashveilError):
    """A role is missing, or a read of an individual report has no stated reason."""


class NotVisible(AccessDenied):
    """The project or object does not exist *for this principal*: answer 404, never 403."""

    status = 404


class LoginFailed(AccessDenied):
    """Wrong name or password, or a disabled user; deliberately says which of them nowhere."""

    status = 401

    def __init__(self) -> None:
        super().__init__("the name or the password is wrong")


class LoginBlocked(LoginFailed):
    """Too many failed log-ins for this account recently; retry later."""

    status = 429


class Throttled(ReportRejected):
    """A rate limit refused the request: 429 with ``Retry-After`` (the client keeps the report).

    Only the server raises it, and only its HTTP error map reads ``retry_after``; it is a
    ``ReportRejected`` for every ``except``.
    """

    def __init__(self, scope: str, retry_after: str, *, sentry_rate_limits: str | None = None) -> None:
        super().__init__("rate_limited", f"too many requests for this {scope}; retry later", status=429)
        self.scope = scope
        self.retry_after = retry_after
        #: The ``X-Sentry-Rate-Limits`` value for Sentry SDKs (``server/sentry/budgets.py``), if any.
        self.sentry_rate_limits = sentry_rate_limits


class AuditTamperedError(CrashveilError):
    """The audit trail does not match its signed checkpoint; nothing was signed."""


class BudgetExceededError(CrashveilError):
    """A privacy-budget spend was refused: the period's budget is used up."""


class NotFound(CrashveilError):
    """Raised by a dashboard page handler: answer the dashboard's 404 page."""


class EventSkipped(CrashveilError):
    """A Sentry event crashveil does not store (a transaction, an event with nothing to map);
    ``reason`` (a fixed code, never event content) tells the client why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SchemaAheadError(StorageError):
    """The database is at a schema revision this code does not know: a newer release migrated
    it (or it was restored from one). Neither migrating nor serving may touch it."""

    def __init__(self, current: str, head: str) -> None:
        super().__init__(f"database schema is at revision {current}, newer than this crashveil "
                         f"(knows up to {head}): upgrade crashveil, or restore a backup")
        self.current = current
        self.head = head


class DatabaseUnreachable(StorageError):
    """The database could not be connected to; ``where`` is its URL without the password."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"cannot reach the database at {where}: {reason}")
        self.where = where


class BackupError(CrashveilError):
    """A backup archive cannot be written, opened or restored: wrong passphrase, corrupted or
    truncated archive, a target that is not empty. One line naming the archive or directory."""


class Interrupted(CrashveilError):
    """A long operation stopped on SIGINT/SIGTERM at a safe point (nothing half-written left)."""


class BadQueryParameter(CrashveilError, ValueError):
    """A dashboard URL's query parameter is malformed (answered 400): names the parameter
    and the form expected, never echoes the value (a shared link may carry anything)."""

    def __init__(self, name: str, expected: str) -> None:
        super().__init__(f"query parameter {name!r}: expected {expected}")
        self.name = name
        self.expected = expected


class BadTriageAction(CrashveilError, ValueError):
    """A dashboard triage form is malformed or cannot apply to this group (answered 400):
    names the field and what was expected, never echoes the value."""

    def __init__(self, name: str, expected: str) -> None:
        super().__init__(f"{name}: {expected}")
        self.name = name
        self.expected = expected


class KeyUnavailableError(CrashveilError):
    """This server cannot find or unwrap a key it should have (its KEK set lacks the KEK that
    wraps it, or the KEK source failed): a server fault, answered 503 so the sender keeps the
    report. Names the key id and KEK id only, never key material."""

    def __init__(self, key_id: str, kek_id: str | None, problem: str) -> None:
        where = f" (KEK {kek_id})" if kek_id else ""
        super().__init__(f"key {key_id}{where} {problem}")
        self.key_id = key_id
        self.kek_id = kek_id
        self.problem = problem


class KekRolloutError(CrashveilError):
    """A KEK rotation would strand a host: a live host has not picked up the new KEK set.
    Names the hosts and the KEK id; nothing was rewrapped or retired."""

    def __init__(self, kek_id: str, lagging: list[str]) -> None:
        super().__init__(f"KEK {kek_id} has not reached host(s) {', '.join(lagging)}: distribute the KEK set to "
                         "them (kek_file, kek_env or kek_command) and run 'crashveil keys rotate' again")
        self.kek_id = kek_id
        self.lagging = lagging


class ClusterError(CrashveilError):
    """Several hosts or instances of one server disagree: a database that belongs to another
    server, a directory of another server, a second instance on a port already served. The
    message names the fix (``server add-host``, the PID holding the port)."""


class TokenRefused(AccessDenied):
    """An API call whose bearer token is missing, malformed, unknown, expired or revoked, or
    whose user is disabled: 401, one answer for all (nothing to tell them apart)."""

    status = 401


class ScopeMissing(AccessDenied):
    """The API token lacks the scope an operation needs (403, naming the scope)."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"this token lacks the scope {scope!r}")
        self.scope = scope


class BadApiInput(CrashveilError, ValueError):
    """A field of an API request body is missing or malformed (400): names the field and the
    form expected, never echoes the value."""

    def __init__(self, name: str, expected: str) -> None:
        super().__init__(f"field {name!r}: expected {expected}")
        self.name = name
        self.expected = expected


class DestinationError(CrashveilError, ValueError):
    """A forwarding destination's configuration is missing or malformed (a URL that is not
    http(s), a kind crashveil does not know, a secret it cannot unseal): names the destination
    and the setting, never a secret's value."""


class WebhookSignatureError(CrashveilError):
    """A webhook a receiver got from crashveil fails :func:`verify_webhook`: a header is
    missing, its timestamp is outside the tolerance (a replay), or the signature does not
    match. Says which, never the body."""


class InstallationCodeError(ConfigError):
    """An installation code (``crashveil.installation_code()``) that cannot be read: names the
    problem (length, a character by position, the check character), never repeats the code."""

    def __init__(self, problem: str, expected: str | None = None) -> None:
        super().__init__("installation code", problem, expected)


class ConfirmationInvalid(CrashveilError):
    """A signed erasure confirmation that is malformed or does not verify: says which."""


class BudgetExhaustedError(BudgetExceededError):
    """A public-summary window was refused: publishing it would take the privacy loss per
    installation over the policy's yearly bound. ``until`` is the first day a later window
    can be published again."""

    def __init__(self, message: str, until: date) -> None:
        super().__init__(message)
        self.until = until


class ForwardingRefused(AccessDenied):
    """The policy has no ``[forwarding.NAME]`` entry for a destination: nothing may go there."""

    def __init__(self, destination: str) -> None:
        super().__init__(f"the policy does not forward alerts to destination {destination!r} "
                         f"(no [forwarding.{destination}] entry)")
        self.destination = destination


class BadAlertRule(CrashveilError, ValueError):
    """An alert rule's option is missing or malformed: names the option and the form expected."""

    def __init__(self, option: str, expected: str) -> None:
        super().__init__(f"alert rule {option}: expected {expected}")
        self.option = option
        self.expected = expected


class PreconditionFailed(CrashveilError):
    """An API write's ``If-Match`` names a version the object no longer has (412): someone
    changed it since the client read it."""


class ApiClientError(CrashveilError):
    """The API client's call failed: no answer, or an error answer (401, 403, 404, ...). The
    message is one line naming the status and the server's error code; never the token."""
