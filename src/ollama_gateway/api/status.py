"""``GET /status``: the numbers of ``/metrics`` as one JSON object, for the web console's live view.

Behind the API key like ``/metrics`` (and the same scope once keys have roles). Every number is
read from the same instruments ``/metrics`` renders, at the same moment, so the two never disagree;
counters are cumulative (a client derives rates from two readings and their ``time``). The shape
is documented in docs/observability.md.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from fastapi import Request
from pydantic import BaseModel
from starlette.responses import Response

from ollama_gateway import __version__
from ollama_gateway.api.bodies import JSONResponse
from ollama_gateway.api.errors import error_responses
from ollama_gateway.api.health import refresh_loaded
from ollama_gateway.api.routes import Routes
from ollama_gateway.core.names import full_name
from ollama_gateway.observability.metrics import Metrics
from ollama_gateway.observability.metrics_hot import PREFIX

routes = Routes(tags=["Service"])


class Status(BaseModel):
    """The shape of ``GET /status`` (every field in docs/observability.md)."""

    time: float
    version: str
    backend: str
    default_model: str
    parallel: int
    max_queue: int
    ready: bool
    upstreams: list[dict[str, Any]]
    requests: dict[str, Any]
    models: list[dict[str, Any]]


Samples = dict[str, list[tuple[dict[str, str], float]]]

# status field -> the sample (name without the prefix) it is read from, per model label
_PER_MODEL = {
    "running": "running_slots",
    "queued": "queue_depth",
    "size": "loaded_model_size_bytes",
    "expires_at": "loaded_model_expiry_timestamp_seconds",
    "prompt_tokens": "prompt_tokens_total",
    "generated_tokens": "generated_tokens_total",
    "generations": "generation_tokens_per_second_count",
    "tokens_per_second_sum": "generation_tokens_per_second_sum",
    "first_tokens": "time_to_first_token_seconds_count",
    "first_token_seconds_sum": "time_to_first_token_seconds_sum",
}
_INTEGERS = {"running", "queued", "size", "prompt_tokens", "generated_tokens", "generations"}


def _values(samples: Samples, name: str) -> list[tuple[dict[str, str], float]]:
    return samples.get(PREFIX + name, [])


def _by_label(samples: Samples, name: str, label: str) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for labels, value in _values(samples, name):
        out[labels.get(label, "")] += int(value)
    return dict(out)


def models_of(samples: Samples) -> list[dict[str, Any]]:
    """One entry per model that any per-model instrument knows, sorted by name.

    ``llama2`` and ``llama2:latest`` are one model (the scheduler counts slots under the full
    name, the token counters under the name a request used): their numbers are added up under
    the name ``/api/ps`` shows when the model is loaded, else the full name.
    """
    table: dict[str, dict[str, Any]] = {}
    names: dict[str, str] = {}
    for field, name in _PER_MODEL.items():
        for labels, value in _values(samples, name):
            model = labels.get("model", "")
            key = full_name(model) if model else model
            entry = table.setdefault(key, {"name": key, "loaded": False})
            if field == "size":
                names[key] = model  # the loaded model's own name
            if field == "expires_at":
                entry[field] = max(entry.get(field) or 0.0, value)
            else:  # counts and sums add up
                entry[field] = entry.get(field, 0) + (int(value) if field in _INTEGERS else value)
    for key, entry in table.items():
        entry["name"] = names.get(key, key)
        entry["loaded"] = "size" in entry
        for field in _PER_MODEL:
            entry.setdefault(field, None if field == "expires_at" else 0)
    return sorted(table.values(), key=lambda m: m["name"])


def status_of(samples: Samples, ready: tuple[bool, str, str], app_state: Any) -> dict[str, Any]:
    """The ``/status`` body from the metric samples and the readiness check."""
    settings = app_state.settings
    backend = getattr(app_state, "backend", None)
    backend_name = backend.name if backend is not None else "starting"
    ok, status, reason = ready
    in_flight = _values(samples, "requests_in_flight")
    upstream = {
        "name": backend_name,
        "url": settings.ollama_url if backend_name == "ollama" else None,
        "healthy": ok,
        "status": status,
        "reason": reason,
        "errors": _by_label(samples, "upstream_errors_total", "kind"),
    }
    return {
        "time": time.time(),
        "version": __version__,
        "backend": backend_name,
        "default_model": settings.model,
        "parallel": settings.parallel,
        "max_queue": settings.max_queue,
        "ready": ok,
        "upstreams": [upstream],
        "requests": {
            "in_flight": int(in_flight[0][1]) if in_flight else 0,
            "total": sum(int(v) for _, v in _values(samples, "requests_total")),
            "rejected": _by_label(samples, "rejected_requests_total", "reason"),
        },
        "models": models_of(samples),
    }


@routes.get(
    "/status",
    responses={
        200: {"model": Status, "description": "OK"},
        **error_responses("plain", 401, 403, 500),
    },
)
async def status(request: Request) -> Response:
    """The live numbers of ``/metrics`` as JSON (loaded models, slots, queues, tokens, health)."""
    state = request.app.state
    instruments: Metrics = state.metrics
    backend = getattr(state, "backend", None)
    if backend is not None:
        await refresh_loaded(instruments, backend)
    ready = await state.readiness.check(backend)
    return JSONResponse(status_of(instruments.samples(), ready, state))
