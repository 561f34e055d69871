"""Event ids and times: the report id of an event, and its hour corrected for clock drift."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from crashveil.errors import ReportRejected
from crashveil.server.sentry.mapping.read import MALFORMED, Dropped

__all__ = ["DRIFT_TOLERANCE", "FUTURE_SLACK", "normalize_event_id", "occurred_at", "parse_timestamp",
           "report_id_for"]

#: A crash may carry a clock this far ahead of ours (as native ingest).
FUTURE_SLACK = timedelta(hours=1)
#: A clock this far off the server's (by the envelope's ``sent_at``) is corrected (Relay does the same).
DRIFT_TOLERANCE = timedelta(seconds=60)
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def normalize_event_id(value: Any, field: str = "event_id") -> str:
    """32 lower-case hex digits from a Sentry event id (dashes allowed); 400 otherwise."""
    if not isinstance(value, str) or len(value) > 36:
        raise ReportRejected("bad_event_id", "expected 32 hex digits", field=field)
    hexid = value.replace("-", "").lower()
    if not _HEX32.match(hexid):
        raise ReportRejected("bad_event_id", "expected 32 hex digits", field=field)
    return hexid


def report_id_for(event_id: str, project_id: str) -> str:
    """The report id of a Sentry event: the event id as a UUID if it is a version-4 one.

    Any other id is hashed (with the project) into a version-4-shaped UUID rather than
    replaced by a random one, so a retried event still maps to the same report and is
    stored once; the client is still answered its own ``event_id``.
    """
    text = f"{event_id[:8]}-{event_id[8:12]}-{event_id[12:16]}-{event_id[16:20]}-{event_id[20:]}"
    if _UUID4.match(text):
        return text
    raw = bytearray(hashlib.sha256(f"crashveil/sentry-event/v1\x00{project_id}\x00{event_id}".encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def parse_timestamp(value: Any) -> datetime | None:
    """A Sentry timestamp (epoch seconds, or RFC 3339 text) as aware UTC; ``None`` if unreadable."""
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            if not -1e11 < value < 1e11:
                return None
            return datetime.fromtimestamp(float(value), tz=UTC)
        if isinstance(value, str) and len(value) <= 40:
            text = value.strip()
            if text.endswith(("Z", "z")):
                text = text[:-1] + "+00:00"
            moment = datetime.fromisoformat(text)
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def occurred_at(value: Any, sent_at: datetime | None, received_at: datetime, dropped: Dropped) -> datetime:
    """When the event happened: its timestamp, corrected by the envelope's ``sent_at`` when the
    sender's clock is off; the arrival time when it has none."""
    moment = parse_timestamp(value) if value is not None else None
    if moment is None:
        if value is not None:
            dropped.add("timestamp", MALFORMED)
        return received_at
    if sent_at is not None and abs(received_at - sent_at) > DRIFT_TOLERANCE:
        moment += received_at - sent_at
    return moment
