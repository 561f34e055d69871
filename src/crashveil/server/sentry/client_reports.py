"""Sentry ``client_report`` items: the SDK's own counts of what it discarded and why.

An SDK that drops an event itself (its queue overflowed, a rate limit the server asked for
is still running, ``before_send`` returned ``None``, sampling) sends, later, an item
``{"timestamp": ..., "discarded_events": [{"reason", "category", "quantity"}, ...]}``
(develop.sentry.dev, "Client Reports"). Counting them is how a rate-limited burst adds up:
what was stored, plus what the server refused (its own outcomes), plus what the SDK says it
discarded, is what the app captured.

The content is the client's: categories and reasons are read from Sentry's documented
vocabularies (anything else counts as ``other``), quantities must be whole numbers up to
:data:`MAX_QUANTITY`, and at most :data:`MAX_ENTRIES` entries of one report are read.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

__all__ = ["CATEGORIES", "MAX_ENTRIES", "MAX_QUANTITY", "REASONS", "parse_client_report"]

#: Sentry data categories an SDK reports discards in (relay-base-schema ``DataCategory``).
CATEGORIES = frozenset((
    "default", "error", "transaction", "security", "attachment", "attachment_item", "session", "profile",
    "profile_chunk", "profile_chunk_ui", "replay", "span", "monitor", "monitor_seat", "feedback", "user_report",
    "log_item", "log_byte", "metric_bucket", "internal", "trace_metric", "statsd",
))
#: Discard reasons of the client report spec and of the SDKs' sources.
REASONS = frozenset((
    "queue_overflow", "cache_overflow", "buffer_overflow", "ratelimit_backoff", "network_error", "sample_rate",
    "before_send", "event_processor", "insufficient_data", "backpressure", "send_error", "internal_sdk_error",
    "ignored", "lost", "fetch_error", "too_large",
))
MAX_ENTRIES = 100
MAX_QUANTITY = 1_000_000


def parse_client_report(payload: bytes) -> Counter[tuple[str, str]] | None:
    """(category, reason) -> quantity from one client report; ``None`` if it is malformed."""
    try:
        report = json.loads(payload)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None
    if not isinstance(report, dict) or not isinstance(report.get("discarded_events", []), list):
        return None
    counts: Counter[tuple[str, str]] = Counter()
    for entry in report.get("discarded_events", [])[:MAX_ENTRIES]:
        parsed = _entry(entry)
        if parsed is not None:
            counts[parsed[0]] += parsed[1]
    return counts


def _entry(entry: Any) -> tuple[tuple[str, str], int] | None:
    if not isinstance(entry, dict):
        return None
    quantity = entry.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 < quantity <= MAX_QUANTITY:
        return None
    category, reason = entry.get("category"), entry.get("reason")
    category = category if isinstance(category, str) and category in CATEGORIES else "other"
    reason = reason if isinstance(reason, str) and reason in REASONS else "other"
    return (category, reason), quantity
