"""Prometheus metrics of the ingest API, in a registry of their own per app.

Each ``create_app`` gets a fresh :class:`Metrics` (its own ``CollectorRegistry``), so two
apps in one process (tests, the benchmark) never share or double-register counters.

Several front processes (``run.run_processes``) use prometheus_client's multiprocess mode
instead, chosen explicitly: ``Metrics(multiprocess_dir=...)``, one per front, shared by its
apps. Every value is then kept in a per-process file in that directory and a scrape of any
front reads all files (``MultiProcessCollector``): counters and histograms are the totals of
all fronts, not those of whichever front the kernel handed the connection. Scrape-time
collectors registered on ``registry`` (``anomaly.VolumeAnomalyCollector``, which reads the
shared database) are added once, not summed. A family with no value yet (a labelled
counter never incremented) is left out, where one registry lists it empty. There are no ``Gauge`` objects here: one
added later needs a ``multiprocess_mode`` (``livesum`` and ``run_processes`` marking dead
fronts, or ``max``/``mostrecent``), since the default (``all``) adds a ``pid`` label.

Label values come only from fixed sets we define (reason codes, field names, detector names,
route templates), never from the request: a label taken from attacker-controlled text
(a release string, an unknown JSON key) would let a client grow the series without bound.
Per-release redaction counts go to storage instead (``store_report(redaction_hits=...)``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values as _values,
)
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from crashveil.server.http.forwarded import Network, in_networks, parse_address, parse_networks
from crashveil.wire import REPORT_FIELDS

if TYPE_CHECKING:
    from crashveil.server.settings import Settings

__all__ = ["ADDRESS_ALLOWED_KEY", "CONTENT_TYPE", "MULTIPROC_ENV", "Metrics", "MetricsAccess"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: The variable prometheus_client reads, at import, to keep values in per-process files.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_UNKNOWN_FIELD = "<unknown>"
_KNOWN_TOP_FIELDS = frozenset(REPORT_FIELDS)


class _MultiProcessRegistry(CollectorRegistry):
    """A registry whose scrape is the sum of every process's metric files.

    Metrics register here as usual (names are still checked for duplicates), but their
    values are read back from the files of all processes; other collectors (computed at
    scrape) are collected as they are.
    """

    def __init__(self, directory: Path) -> None:
        super().__init__(auto_describe=True)
        # prometheus_client leaves MultiProcessCollector unannotated; it is a Collector.
        self._files: Collector = MultiProcessCollector(None, path=str(directory))  # type: ignore[no-untyped-call]
        self._live: list[Collector] = []

    def register(self, collector: Collector) -> None:
        super().register(collector)
        if not isinstance(collector, MetricWrapperBase):
            self._live.append(collector)

    def unregister(self, collector: Collector) -> None:
        super().unregister(collector)
        if collector in self._live:
            self._live.remove(collector)

    def collect(self) -> Iterator[Metric]:
        yield from self._files.collect()
        for collector in list(self._live):
            yield from collector.collect()


class Metrics:
    """The counters and the latency histogram the ingest path updates.

    ``multiprocess_dir`` (set by ``run.run_processes`` in each front, never by default)
    selects prometheus_client's multiprocess mode over that directory; the process must
    have had ``PROMETHEUS_MULTIPROC_DIR`` set to it before prometheus_client was imported,
    or :class:`RuntimeError` (values of this process would silently be missing).
    """

    def __init__(self, *, multiprocess_dir: Path | str | None = None) -> None:
        self.multiprocess_dir = Path(multiprocess_dir) if multiprocess_dir is not None else None
        if self.multiprocess_dir is None:
            self.registry: CollectorRegistry = CollectorRegistry(auto_describe=True)
        else:
            if _values.ValueClass is _values.MutexValue or os.environ.get(MULTIPROC_ENV) != str(self.multiprocess_dir):
                raise RuntimeError(f"multiprocess metrics need {MULTIPROC_ENV}={self.multiprocess_dir} "
                                   "in the environment before prometheus_client is imported")
            self.registry = _MultiProcessRegistry(self.multiprocess_dir)
        r = self.registry
        self.accepted = Counter("crashveil_reports_accepted", "Reports stored (201) or recognised as a retry (200).",
                                ["outcome"], registry=r)
        self.rejected = Counter("crashveil_reports_rejected", "Requests refused, by error code.",
                                ["reason"], registry=r)
        self.dropped_fields = Counter(
            "crashveil_dropped_fields",
            "Fields dropped from accepted reports: unknown to the format, not allowed at the consent level, "
            "or stopped (an expired policy field or a field stop).",
            ["field", "cause"], registry=r)
        self.redaction_hits = Counter("crashveil_redaction_hits",
                                      "Server-side redaction hits (the SDK should have caught them).",
                                      ["field", "detector"], registry=r)
        self.rate_limited = Counter("crashveil_rate_limited", "Requests refused with 429, by limit.",
                                    ["scope"], registry=r)
        self.deletions = Counter("crashveil_deletion_requests", "Deletion requests processed.", registry=r)
        self.key_unavailable = Counter("crashveil_key_unavailable",
                                       "Requests answered 503 because this server lacked a key (KEK set).", registry=r)
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


#: Where ``app.ForgetClient`` leaves whether the client's address may scrape (``metrics_allow``).
ADDRESS_ALLOWED_KEY = "crashveil.metrics_address_allowed"


class MetricsAccess:
    """Who may read ``/metrics`` on the web listener: a bearer token, an address allowlist, or both.

    Off (no route) unless ``metrics_token`` or ``metrics_allow`` is set. The token is kept only
    as its SHA-256 (``metrics_token = "sha256:HEX"``) and a presented token is hashed and
    compared in constant time. The address is the client's as ``forwarded.TrustedProxies`` sees
    it; ``ForgetClient`` answers the allowlist before it removes the peer from the scope.
    """

    def __init__(self, token_digest: str = "", allow: tuple[Network, ...] = ()) -> None:
        self._digest = bytes.fromhex(token_digest.removeprefix("sha256:")) if token_digest else None
        self.allow = allow

    @classmethod
    def from_settings(cls, settings: Settings) -> MetricsAccess:
        return cls(settings.metrics_token, parse_networks("metrics_allow", settings.metrics_allow))

    @property
    def enabled(self) -> bool:
        return self._digest is not None or bool(self.allow)

    def address_allowed(self, address: str | None) -> bool:
        """Whether the client's address passes the allowlist (any address when there is none)."""
        if not self.allow:
            return True
        parsed = parse_address(address) if address else None
        return parsed is not None and in_networks(parsed, self.allow)

    def token_allowed(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries the token (any, when no token is set)."""
        if self._digest is None:
            return True
        scheme, _, token = (authorization or "").partition(" ")
        presented = hashlib.sha256(token.strip().encode()).digest()
        return scheme.lower() == "bearer" and hmac.compare_digest(presented, self._digest)
