"""Per-upstream instruments of the fleet, on the app's Prometheus registry.

==========================================================  ====================================
``ollama_gateway_upstream_requests_total{upstream,status}``  requests an upstream answered or
                                                             failed: ``ok``, ``client_error``,
                                                             ``not_found``, ``busy``, ``error``,
                                                             ``unavailable``, ``timeout``,
                                                             ``bad_response``
``ollama_gateway_upstream_failovers_total{upstream}``        generations moved off an upstream
                                                             before their first byte
``ollama_gateway_upstream_first_token_seconds{upstream}``    time to the first chunk, from when
                                                             the upstream was picked
``ollama_gateway_upstream_in_flight{upstream}``              requests in flight (scrape time)
``ollama_gateway_upstream_max_in_flight{upstream}``          its limit (scrape time)
``ollama_gateway_upstream_breaker_state{upstream}``          0 closed, 1 half-open, 2 open
==========================================================  ====================================

Upstream names come from the configuration (and DNS answers, at most a few hundred), never from
requests; they are capped all the same (:class:`LabelCap`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ollama_gateway.observability.metrics import LabelCap
from ollama_gateway.observability.metrics_hot import FIRST_TOKEN_BUCKETS, PREFIX

STATUSES = frozenset(
    {"ok", "client_error", "not_found", "busy", "error", "unavailable", "timeout", "bad_response"}
)


class UpstreamMetrics:
    def __init__(self, registry: CollectorRegistry, max_upstreams: int = 256) -> None:
        self.label = LabelCap(max_upstreams)
        r = registry
        self.requests = Counter(
            PREFIX + "upstream_requests",
            "Requests each upstream answered or failed, by status.",
            ["upstream", "status"],
            registry=r,
        )
        self.failovers = Counter(
            PREFIX + "upstream_failovers",
            "Generations moved to another upstream before their first byte, by the one left.",
            ["upstream"],
            registry=r,
        )
        self.first_token = Histogram(
            PREFIX + "upstream_first_token_seconds",
            "Time from picking an upstream to its first chunk.",
            ["upstream"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            PREFIX + "upstream_in_flight", "Requests in flight per upstream.", ["upstream"],
            registry=r,
        )  # fmt: skip
        self.max_in_flight = Gauge(
            PREFIX + "upstream_max_in_flight",
            "Most requests in flight per upstream.",
            ["upstream"],
            registry=r,
        )
        self.breaker = Gauge(
            PREFIX + "upstream_breaker_state",
            "Circuit breaker per upstream: 0 closed, 1 half-open, 2 open (ejected).",
            ["upstream"],
            registry=r,
        )

    def answered(self, upstream: str, status: str) -> None:
        self.requests.labels(self.label(upstream), status if status in STATUSES else "error").inc()

    def failover(self, upstream: str) -> None:
        self.failovers.labels(self.label(upstream)).inc()

    def first_chunk(self, upstream: str, seconds: float) -> None:
        self.first_token.labels(self.label(upstream)).observe(max(0.0, seconds))

    def publish(self, upstreams: Iterable[Any]) -> None:
        """Scrape time: the gauges from the upstreams' state (``name``, ``in_flight``,
        ``max_in_flight``, ``breaker.state``)."""
        for gauge in (self.in_flight, self.max_in_flight, self.breaker):
            gauge.clear()
        for upstream in upstreams:
            label = self.label(upstream.name)
            self.in_flight.labels(label).set(upstream.in_flight)
            self.max_in_flight.labels(label).set(upstream.max_in_flight)
            self.breaker.labels(label).set(int(upstream.breaker.state))
