"""Prometheus instruments for one app, and the small API the rest of the gateway reports through.

``create_app`` builds one :class:`Metrics` per app (each with its own ``CollectorRegistry``, so
tests can build many apps) and keeps it on ``app.state.metrics``; ``GET /metrics`` renders it.

The instrumentation API (every method is cheap and never raises on odd input; all are
thread-safe except ``http.observe``, which the middleware calls from the event loop), and who
calls it:

======================================================  =========================================
``http.observe(route, method, status, seconds)``        ``http/access.py``, per request
``first_token(model, seconds)``                         ``core/observer.py``: time to first token
``observe_tokens(model, prompt, generated, seconds)``   ``core/observer.py``, once per finished
                                                        generation; ``seconds`` is the decode time
``rejected(reason)``                                    per request the gateway refuses:
                                                        ``core/service.py`` and the fleet
                                                        (``queue_full``, ``queue_timeout``),
                                                        ``http/access.py`` (``rate_limit``: a 429
                                                        that is not an upstream's own)
``observe_load(model, seconds)``                        the embedded backend after a load, or
                                                        ``core/observer.py`` when a generation's
                                                        stats say it loaded the model
``set_slots({model: (running, queued)})``               a scrape-time source (``app.py``): the
                                                        whole scheduler state at once
``set_loaded(models)``                                  ``GET /metrics`` and ``GET /status``, from
                                                        ``backend.running()``
``upstream_error(kind)``                                ``core/observer.py``, per failed upstream
                                                        generation
======================================================  =========================================

State that can be read cheaply when Prometheus scrapes is best published then, with no cost on
the request path: ``on_scrape(fn)`` registers ``fn(metrics)``, which ``GET /metrics`` calls before
rendering (an exception in it is logged and skipped).

A backend that wants the instruments implements ``bind_metrics(metrics)``; the app calls it
before ``start()``. Other components receive ``app.state.metrics`` when the lifespan builds them.

Label cardinality is bounded: routes are templates (``unmatched`` for unknown paths), methods and
upstream-error kinds come from fixed sets, and model names and rejection reasons are capped
(:class:`LabelCap`: the first ``limit`` distinct values keep their name, later ones read
``other``). No key, key id or prompt is ever a label.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from ollama_gateway import __version__
from ollama_gateway.core.times import rfc3339_seconds
from ollama_gateway.observability.metrics_hot import OVERFLOW, PREFIX, GenerationStats, HttpStats

log = logging.getLogger(__name__)

__all__ = ["CONTENT_TYPE", "UPSTREAM_ERROR_KINDS", "LabelCap", "Metrics"]

# Every name here is a classic Prometheus name, so the exposition is text format 0.0.4, which
# every scraper reads (prometheus-client's newer default announces 1.0.0 for the same bytes).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

UNMATCHED = "unmatched"
MAX_LABEL_LENGTH = 120
UPSTREAM_ERROR_KINDS = frozenset(
    {"unavailable", "timeout", "bad_response", "busy", "rate_limited", "error", OVERFLOW}
)

LOAD_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)


class LabelCap:
    """Keeps a label's distinct values bounded: after ``limit`` of them, new ones read ``other``.

    >>> cap = LabelCap(2)
    >>> [cap("a"), cap("b"), cap("c"), cap("a")]
    ['a', 'b', 'other', 'a']
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        value = str(value)[:MAX_LABEL_LENGTH] or "unknown"
        if value in self._seen:
            return value
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) >= self.limit:
                return OVERFLOW
            self._seen.add(value)
            return value


class Metrics:
    """Every instrument of one app, registered in its own :class:`CollectorRegistry`."""

    def __init__(self, *, max_models: int = 32, max_reasons: int = 32) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.model_label = LabelCap(max_models)
        self.reason_label = LabelCap(max_reasons)
        r = self.registry

        info = Gauge(
            PREFIX + "build_info", "Always 1; the version as a label.", ["version"], registry=r
        )
        info.labels(__version__).set(1)
        self.http = HttpStats()
        r.register(self.http)
        self.generations = GenerationStats(self.model_label, 4 * max_models)
        r.register(self.generations)
        self.queued = Gauge(
            PREFIX + "queue_depth", "Requests waiting for a generation slot.", ["model"], registry=r
        )
        self.running_slots = Gauge(
            PREFIX + "running_slots", "Generation slots in use.", ["model"], registry=r
        )
        self.rejections = Counter(
            PREFIX + "rejected_requests",
            "Requests the gateway refused with 429 or 503 (queue full, rate limit...), by reason.",
            ["reason"],
            registry=r,
        )
        self.load_duration = Histogram(
            PREFIX + "model_load_duration_seconds",
            "Time to load a model into memory (embedded engine).",
            ["model"],
            buckets=LOAD_BUCKETS,
            registry=r,
        )
        self.loaded_models = Gauge(
            PREFIX + "loaded_models", "Models loaded now (as /api/ps lists them).", registry=r
        )
        self.loaded_size = Gauge(
            PREFIX + "loaded_model_size_bytes",
            "Memory size of each loaded model (as /api/ps reports it).",
            ["model"],
            registry=r,
        )
        self.loaded_expiry = Gauge(
            PREFIX + "loaded_model_expiry_timestamp_seconds",
            "When each loaded model will be unloaded if idle (Unix time; /api/ps expires_at).",
            ["model"],
            registry=r,
        )
        self.upstream_errors = Counter(
            PREFIX + "upstream_errors",
            "Generations the Ollama upstream failed, by kind.",
            ["kind"],
            registry=r,
        )
        self._loaded_lock = threading.Lock()
        self._loaded: dict[str, tuple[float, float | None]] = {}
        self._scrape_sources: list[Callable[[Metrics], None]] = []

    # -- generations ---------------------------------------------------------------------------
    def first_token(self, model: str, seconds: float) -> None:
        self.generations.first_token(model, seconds)

    def observe_tokens(self, model: str, prompt: int, generated: int, seconds: float) -> None:
        """A finished generation: token counts, and speed when ``seconds`` of decoding is known."""
        self.generations.tokens(model, prompt, generated, seconds)

    def upstream_error(self, kind: str) -> None:
        self.upstream_errors.labels(kind if kind in UPSTREAM_ERROR_KINDS else OVERFLOW).inc()

    # -- the scheduler -------------------------------------------------------------------------
    def rejected(self, reason: str) -> None:
        self.rejections.labels(self.reason_label(reason)).inc()

    def set_slots(self, state: Mapping[str, tuple[int, int]]) -> None:
        """Replace the slot gauges: ``{model: (running, queued)}`` for every model in use."""
        self.running_slots.clear()
        self.queued.clear()
        for model, (running, queued) in state.items():
            label = self.model_label(model)
            self.running_slots.labels(label).inc(running)
            self.queued.labels(label).inc(queued)

    # -- loaded models -------------------------------------------------------------------------
    def observe_load(self, model: str, seconds: float) -> None:
        """A model load took ``seconds`` (the load-duration histogram only)."""
        self.load_duration.labels(self.model_label(model)).observe(max(0.0, seconds))

    def set_loaded(self, models: Iterable[Any]) -> None:
        """Replace the loaded-model gauges with ``backend.running()``'s list (``RunningModel``)."""
        with self._loaded_lock:
            self._loaded = {
                m.name: (float(m.size), rfc3339_seconds(m.expires_at)) for m in models if m.name
            }
            self._publish_loaded()

    def _publish_loaded(self) -> None:
        self.loaded_models.set(len(self._loaded))
        self.loaded_size.clear()
        self.loaded_expiry.clear()
        for name, (size, expiry) in self._loaded.items():
            label = self.model_label(name)
            self.loaded_size.labels(label).inc(size)
            if expiry is not None:
                self.loaded_expiry.labels(label).set(expiry)

    # -- exposition ----------------------------------------------------------------------------
    def on_scrape(self, source: Callable[[Metrics], None]) -> None:
        """Call ``source(self)`` before each rendering, to publish state read at scrape time."""
        self._scrape_sources.append(source)

    def _refresh(self) -> None:
        for source in self._scrape_sources:
            try:
                source(self)
            except Exception:
                log.exception("a metrics source failed; its values are left as they were")

    def render(self) -> bytes:
        """The Prometheus text exposition of every instrument (scrape-time sources first)."""
        self._refresh()
        return generate_latest(self.registry)

    def samples(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """The same numbers as :meth:`render`, as ``{sample name: [(labels, value)]}`` (for the
        JSON status endpoint): ``ollama_gateway_generated_tokens_total``, ``..._bucket``, ..."""
        self._refresh()
        out: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
        return out


def scheduler_slots(scheduler: Any) -> dict[str, tuple[int, int]]:
    """``{model: (running, queued)}`` of a :class:`~ollama_gateway.core.scheduler.Scheduler`.

    Read at scrape time (``metrics.on_scrape``), so the request path pays nothing for these
    gauges; the scheduler keeps an entry only for models with requests running or waiting.
    """
    names = list(getattr(scheduler, "_models", ()))
    return {name: (scheduler.running(name), scheduler.queued(name)) for name in names}
