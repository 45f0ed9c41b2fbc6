"""Read a gateway's ``/metrics`` the way Prometheus does, into ``{(name, labels): value}``."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset], float]


def scrape(url: str, headers: dict[str, str] | None = None, settle: bool = True) -> Samples:
    """The samples once every earlier request has been counted (only the scrape is in flight).

    A client can read a whole response a moment before the server has finished its bookkeeping
    for it, so a scrape that still sees another request in flight is repeated (for up to 5 s);
    ``settle=False`` takes the first answer (requests are meant to be in flight).
    """
    deadline = time.monotonic() + 5
    while True:
        r = httpx.get(url + "/metrics", headers=headers, timeout=10)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = parse(r.text)
        if not settle or value(samples, "ollama_gateway_requests_in_flight") <= 1:
            return samples
        if time.monotonic() > deadline:
            return samples
        time.sleep(0.01)


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(labels)[label] for (n, labels) in samples if n == name and label in dict(labels)}
