"""The instruments every request updates, kept as plain numbers and rendered at scrape time.

prometheus-client guards every value with its own lock; a request that updates a counter, two
histograms and a gauge pays for several lock round trips. These collectors keep plain Python
numbers instead and build the metric families only when Prometheus scrapes. :class:`HttpStats` is
updated from the event loop only; :class:`GenerationStats` takes one lock per update, so it may be
called from any thread.

Measured against prometheus-client's own instruments in the same run (``bench/metrics_cost.py``,
figures in ``bench/README.md``): 274 vs 1,148 bytecodes per request, about 4-5% of the gateway's
own work on the seed call; that is why these stay hand-made.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

PREFIX = "ollama_gateway_"
OVERFLOW = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
FIRST_TOKEN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
SPEED_BUCKETS = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)


class Buckets:
    """One histogram series: a count per bucket (the last one +Inf), then the sum."""

    __slots__ = ("bounds", "values")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.values: list[float] = [0] * (len(bounds) + 2)

    def observe(self, amount: float) -> None:
        values = self.values
        values[bisect_left(self.bounds, amount)] += 1  # a value equal to a bound is inside it
        values[-1] += amount

    def exposition(self) -> tuple[list[tuple[str, float]], float]:
        """(cumulative ``(le, count)`` pairs, sum), as ``HistogramMetricFamily`` takes them."""
        values = list(self.values)
        cumulative, out = 0.0, []
        for bound, count in zip((*self.bounds, float("inf")), values[:-1], strict=True):
            cumulative += count
            out.append((floatToGoString(bound), cumulative))
        return out, values[-1]


def _floats(buckets: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(float(b) for b in buckets)


class HttpStats:
    """Requests by route, method and status; their duration; requests in flight."""

    def __init__(self) -> None:
        self.bounds = _floats(REQUEST_BUCKETS)
        self.in_flight = 0
        self.counts: dict[tuple[str, str, int], int] = {}
        self.durations: dict[tuple[str, str], Buckets] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        if method not in METHODS:
            method = OVERFLOW
        key = (route, method, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        durations = self.durations.get((route, method))
        if durations is None:
            durations = self.durations[(route, method)] = Buckets(self.bounds)
        durations.observe(seconds)

    def collect(self) -> Iterator[Any]:
        requests = CounterMetricFamily(
            PREFIX + "requests",
            "HTTP requests answered, by route template, method and status.",
            labels=["route", "method", "status"],
        )
        for (route, method, status), count in list(self.counts.items()):
            requests.add_metric([route, method, str(status)], count)
        yield requests
        duration = HistogramMetricFamily(
            PREFIX + "request_duration_seconds",
            "Time from a request arriving to its response ending (streams included).",
            labels=["route", "method"],
        )
        for (route, method), series in list(self.durations.items()):
            buckets, total = series.exposition()
            duration.add_metric([route, method], buckets, sum_value=total)
        yield duration
        yield GaugeMetricFamily(
            PREFIX + "requests_in_flight", "Requests being answered now.", value=self.in_flight
        )

    def describe(self) -> list[Any]:
        return []  # the registry learns the names from collect()


class _ModelSeries:
    __slots__ = ("first_token", "generated", "prompt", "speed")

    def __init__(self, first_token: tuple[float, ...], speed: tuple[float, ...]) -> None:
        self.first_token = Buckets(first_token)
        self.prompt = 0
        self.generated = 0
        self.speed = Buckets(speed)


class GenerationStats:
    """Per model: time to first token, prompt and generated tokens, generation speed."""

    def __init__(self, label: Callable[[str], str], max_names: int) -> None:
        self.label = label  # bounds the number of distinct model labels
        self.max_names = max_names
        self.first_token_bounds = _floats(FIRST_TOKEN_BUCKETS)
        self.speed_bounds = _floats(SPEED_BUCKETS)
        self.lock = threading.Lock()
        self.by_label: dict[str, _ModelSeries] = {}
        self.by_name: dict[str, _ModelSeries] = {}  # the model names asked for -> their series

    def _series(self, model: str) -> _ModelSeries:
        series = self.by_name.get(model)
        if series is None:
            label = self.label(model)
            series = self.by_label.get(label)
            if series is None:
                series = _ModelSeries(self.first_token_bounds, self.speed_bounds)
                self.by_label[label] = series
            if len(self.by_name) < self.max_names:  # bounded memory
                self.by_name[model] = series
        return series

    def first_token(self, model: str, seconds: float) -> None:
        with self.lock:
            self._series(model).first_token.observe(max(0.0, seconds))

    def tokens(self, model: str, prompt: int, generated: int, seconds: float) -> None:
        with self.lock:
            series = self._series(model)
            if prompt > 0:
                series.prompt += prompt
            if generated > 0:
                series.generated += generated
                if seconds > 0:
                    series.speed.observe(generated / seconds)

    def collect(self) -> Iterator[Any]:
        with self.lock:
            snapshot = [
                (label, s.first_token.exposition(), s.prompt, s.generated, s.speed.exposition())
                for label, s in self.by_label.items()
            ]
        first = HistogramMetricFamily(
            PREFIX + "time_to_first_token_seconds",
            "Time from a request arriving to the first generated token reaching the gateway.",
            labels=["model"],
        )
        prompt = CounterMetricFamily(
            PREFIX + "prompt_tokens", "Prompt tokens evaluated, by model.", labels=["model"]
        )
        generated = CounterMetricFamily(
            PREFIX + "generated_tokens", "Tokens generated, by model.", labels=["model"]
        )
        speed = HistogramMetricFamily(
            PREFIX + "generation_tokens_per_second",
            "Decode speed of each finished generation (generated tokens / decode time).",
            labels=["model"],
        )
        for label, (first_buckets, first_sum), prompts, generation, (speeds, speed_sum) in snapshot:
            if first_buckets[-1][1]:
                first.add_metric([label], first_buckets, sum_value=first_sum)
            if prompts:
                prompt.add_metric([label], prompts)
            if generation:
                generated.add_metric([label], generation)
            if speeds[-1][1]:
                speed.add_metric([label], speeds, sum_value=speed_sum)
        yield from (first, prompt, generated, speed)

    def describe(self) -> list[Any]:
        return []
