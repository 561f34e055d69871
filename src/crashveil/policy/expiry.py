"""When a policy field stops being collected unless a review renews it (``expires``).

Every field declares ``expires`` next to its ``review`` (Mozilla Glean's metric expiry):

- ``"YYYY-MM-DD"``: from that UTC day on, the field is expired;
- ``"release:X.Y[.Z]"``: expired in every release of the app at or above X.Y (compared by
  their leading numeric parts: ``2.0rc1`` counts as ``2.0``; a release with no number, or
  a report without a release, is not expired by a release bound);
- ``"never"``: only for a field every report carries (``wire.report.REQUIRED_FIELDS``): a
  report cannot exist without it.

An expired field is not collected by the SDK, is listed in the server's signed remote config
(``stopped_fields``, so apps shipped with an older policy stop too), and is dropped and
counted by the server. ``crashveil check`` warns ``warning_days`` ahead and fails past the
date unless a renewed review record exists; ``crashveil policy renew`` renews.

Stdlib only (the SDK imports it at its first crash).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

TYPE_CHECKING = False
if TYPE_CHECKING:
    from crashveil.policy.model import Policy

__all__ = ["EXPIRES_FORMS", "NEVER", "Expiry", "days_left", "expired_fields", "parse_expiry", "release_key"]

NEVER = "never"
#: What ``expires`` may hold (for error messages).
EXPIRES_FORMS = '"YYYY-MM-DD", "release:X.Y" or, for a field every report carries, "never"'
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_RELEASE_RE = re.compile(r"release:(\d{1,6}(?:\.\d{1,6}){0,3})")
#: An app release's version: after an optional ``name@`` (Sentry's ``package@1.2.3``) and ``v``.
_LEADING_NUMBERS = re.compile(r"(?:[^@\s]{1,128}@)?v?(\d{1,9}(?:\.\d{1,9}){0,5})")


@dataclass(frozen=True)
class Expiry:
    """A parsed ``expires``: a day, a release bound, or never."""

    text: str
    day: date | None = None
    release: tuple[int, ...] | None = None

    @property
    def never(self) -> bool:
        return self.day is None and self.release is None

    def expired(self, *, today: date, release: str | None = None) -> bool:
        """Whether the field is expired on ``today`` for an app at ``release``."""
        if self.day is not None:
            return today >= self.day
        if self.release is not None and release is not None:
            key = release_key(release)
            return key is not None and _padded(key, self.release) >= _padded(self.release, key)
        return False


def parse_expiry(text: str) -> Expiry:
    """``text`` as an :class:`Expiry`; ``ValueError`` naming the accepted forms otherwise."""
    if text == NEVER:
        return Expiry(text)
    if _DATE_RE.fullmatch(text):
        try:
            return Expiry(text, day=date.fromisoformat(text))
        except ValueError:
            raise ValueError(f"not a calendar date (expected {EXPIRES_FORMS})") from None
    found = _RELEASE_RE.fullmatch(text)
    if found:
        return Expiry(text, release=tuple(int(part) for part in found.group(1).split(".")))
    raise ValueError(f"has the wrong form (expected {EXPIRES_FORMS})")


def release_key(release: str) -> tuple[int, ...] | None:
    """The leading numeric parts of an app release (``"2.1.0rc1"``, ``"app@2.1.0"`` -> ``(2, 1, 0)``), or None."""
    found = _LEADING_NUMBERS.match(release.strip())
    return tuple(int(part) for part in found.group(1).split(".")) if found else None


def _padded(key: tuple[int, ...], other: tuple[int, ...]) -> tuple[int, ...]:
    return key + (0,) * max(0, len(other) - len(key))


def days_left(expiry: Expiry, today: date) -> int | None:
    """Days until a dated expiry (negative once past); None for a release bound or never."""
    return (expiry.day - today).days if expiry.day is not None else None


def expired_fields(policy: Policy, *, today: date, release: str | None = None) -> frozenset[str]:
    """The names of the policy's fields expired on ``today`` for an app at ``release``.

    A field whose ``expires`` is empty (a policy stored before expiry existed) or malformed
    never counts as expired here: the loader refuses such a file, so only old stored
    copies can lack it.
    """
    names = []
    for name, rule in policy.fields.items():
        if not rule.expires:
            continue
        try:
            expiry = parse_expiry(rule.expires)
        except ValueError:
            continue
        if expiry.expired(today=today, release=release):
            names.append(name)
    return frozenset(names)
