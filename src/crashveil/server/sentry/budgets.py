"""Rate budgets of Sentry ingest per project, by data category, answered as Sentry SDKs expect.

Two budgets per project, each a token bucket of the project's rate and burst
(``project_rate_per_s``, ``project_burst``):

- **errors**: error events. It is the native ingest's project bucket itself
  (``Ingestor.project_limiter``): a project has one error budget whichever SDK reports.
- **other**: envelopes without an event (sessions, client reports, transactions, ...). They
  are counted and dropped, never stored, but still cost a read; a browser app sends a
  session per page load, which must not use up the budget its errors need.

The envelope's items are known only once it is read, so the order is: before the read,
refuse only if *both* budgets are empty (cheap refusal under a flood); after the read, take
one token from the budget of what the envelope holds. An event refused by the errors budget
also takes a token from the other one, so a flood of refused events is bounded by it too
and cannot make the server read bodies for free.

A refusal is 429 with ``Retry-After`` and ``X-Sentry-Rate-Limits:
<seconds>:<categories>:<scope>:<reason>`` (develop.sentry.dev, "Rate Limiting"), always with
the categories named: an empty list would stop the SDK sending everything, its client
reports included, and those are how crashveil learns what the SDK dropped meanwhile.
Sentry SDKs do not record an event answered 429 as lost (the server is expected to count
it, as Relay does), so every refusal here is counted as an outcome by the caller.

The per-user limit (``pseudonym_rate_per_hour``) is answered the same way with reason
``user_rate_limited``, but asks for at most :data:`USER_BACKOFF_MAX_S` seconds: a Sentry SDK
keeps one rate-limit state for the whole app, so a backend serving many users backs off for
all of them because of one; a short backoff bounds that, and the SDK's client report counts
what it dropped meanwhile.
"""

from __future__ import annotations

from crashveil.errors import Throttled
from crashveil.server.http.ratelimit import KeyedLimiter, retry_after_header
from crashveil.server.sentry.envelope import ITEM_CATEGORIES

__all__ = ["ERROR_CATEGORIES", "OTHER_CATEGORIES", "USER_BACKOFF_MAX_S", "SentryBudgets", "user_limited"]

#: Categories the errors budget covers (what an ``event`` item is counted as by SDKs).
ERROR_CATEGORIES = ("default", "error", "security")
#: Every other category an envelope item may be counted in.
OTHER_CATEGORIES = tuple(sorted({c for c in ITEM_CATEGORIES.values() if c and c not in ERROR_CATEGORIES}))
#: The longest backoff the per-user limit asks of an SDK (see the module docstring).
USER_BACKOFF_MAX_S = 10.0


def _limit(wait_s: float, categories: tuple[str, ...], reason: str) -> tuple[str, str]:
    """(Retry-After, one X-Sentry-Rate-Limits entry) for ``wait_s``."""
    seconds = retry_after_header(wait_s)
    return seconds, f"{seconds}:{';'.join(categories)}:key:{reason}"


def user_limited(wait_s: float) -> Throttled:
    """The 429 of an event past its user's hourly limit."""
    seconds, header = _limit(min(wait_s, USER_BACKOFF_MAX_S), ERROR_CATEGORIES, "user_rate_limited")
    return Throttled("user", seconds, sentry_rate_limits=header)


class SentryBudgets:
    """The errors and other budgets of each project (see the module docstring)."""

    def __init__(self, errors: KeyedLimiter, other: KeyedLimiter) -> None:
        self.errors = errors
        self.other = other

    def before_read(self, project_id: str) -> None:
        """429 if neither budget has a token (nothing taken)."""
        error_wait, other_wait = self.errors.wait(project_id), self.other.wait(project_id)
        if error_wait and other_wait:
            seconds, first = _limit(error_wait, ERROR_CATEGORIES, "project_rate_limited")
            _, second = _limit(other_wait, OTHER_CATEGORIES, "project_rate_limited")
            raise Throttled("project", seconds, sentry_rate_limits=f"{first}, {second}")

    def take_event(self, project_id: str) -> None:
        """Take an errors token for an event; 429 if there is none (and charge the read)."""
        wait = self.errors.take(project_id)
        if wait:
            self.other.take(project_id)
            seconds, header = _limit(wait, ERROR_CATEGORIES, "project_rate_limited")
            raise Throttled("project", seconds, sentry_rate_limits=header)

    def take_other(self, project_id: str) -> None:
        """Take a token of the other budget for an envelope without an event; 429 if none."""
        wait = self.other.take(project_id)
        if wait:
            seconds, header = _limit(wait, OTHER_CATEGORIES, "project_rate_limited")
            raise Throttled("project", seconds, sentry_rate_limits=header)
