"""Prometheus metrics of the ingest API, in a registry of their own per app.

Each ``create_app`` gets a fresh :class:`Metrics` (its own ``CollectorRegistry``), so two
apps in one process (tests, the benchmark) never share or double-register counters.

Label values come only from fixed sets we define (reason codes, field names, detector names,
route templates), never from the request: a label taken from attacker-controlled text
(a release string, an unknown JSON key) would let a client grow the series without bound.
Per-release redaction counts go to storage instead (``store_report(redaction_hits=...)``).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from crashveil.policy import REPORT_FIELDS

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
_UNKNOWN_FIELD = "<unknown>"
_KNOWN_TOP_FIELDS = frozenset(REPORT_FIELDS)


class Metrics:
    """The counters and the latency histogram the ingest path updates."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.accepted = Counter("crashveil_reports_accepted", "Reports stored (201) or recognised as a retry (200).",
                                ["outcome"], registry=r)
        self.rejected = Counter("crashveil_reports_rejected", "Requests refused, by error code.",
                                ["reason"], registry=r)
        self.dropped_fields = Counter(
            "crashveil_dropped_fields",
            "Fields dropped from accepted reports: unknown to the format, or not allowed at the consent level.",
            ["field", "cause"], registry=r)
        self.redaction_hits = Counter("crashveil_redaction_hits",
                                      "Server-side redaction hits (the SDK should have caught them).",
                                      ["field", "detector"], registry=r)
        self.rate_limited = Counter("crashveil_rate_limited", "Requests refused with 429, by limit.",
                                    ["scope"], registry=r)
        self.deletions = Counter("crashveil_deletion_requests", "Deletion requests processed.", registry=r)
        self.latency = Histogram(
            "crashveil_request_duration_seconds", "Time from request start to response start, by route.",
            ["route", "method"], registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

    def count_dropped(self, paths: tuple[str, ...] | list[str], cause: str) -> None:
        """Count dropped field paths under their top-level field (unknown names collapse)."""
        for path in paths:
            top = path.split(".", 1)[0].split("[", 1)[0]
            self.dropped_fields.labels(top if top in _KNOWN_TOP_FIELDS else _UNKNOWN_FIELD, cause).inc()

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
