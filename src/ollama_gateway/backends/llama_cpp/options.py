"""Ollama's generation ``options`` (and ``format``) mapped onto the engine's sampling options.

Precedence: the request's options over the model's parameters layer (the Ollama ``params``
blob, e.g. ``{"stop": [...], "temperature": 0.6}``) over Ollama's defaults. Known options of the
wrong type or out of their range (``_FLOATS``, ``_INTS``, ``MAX_STOPS``) are a 400; options the
engine has no use for are ignored (logged at debug level).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from ollama_gateway.backends.llama_cpp.sampling import SamplingOptions
from ollama_gateway.errors import BadRequest
from ollama_gateway.grammar import json_object_gbnf, schema_to_gbnf

log = logging.getLogger(__name__)

INT64 = 2**63
INT32 = 2**31

# Accepted ranges, inclusive (docs/embedded.md lists them): a value outside is a 400. Floats must
# also be finite. ``repeat_last_n`` and ``num_ctx`` are further bounded by the context, quietly.
_FLOATS: dict[str, tuple[float, float]] = {
    "temperature": (0.0, math.inf),
    "top_p": (0.0, 1.0),
    "min_p": (0.0, 1.0),
    "typical_p": (0.0, 1.0),
    "repeat_penalty": (math.ulp(0.0), math.inf),  # > 0: llama.cpp divides by it
    "presence_penalty": (-math.inf, math.inf),
    "frequency_penalty": (-math.inf, math.inf),
}
_INTS: dict[str, tuple[int, int]] = {
    "top_k": (0, INT32 - 1),  # 0: off
    "repeat_last_n": (-1, INT64 - 1),  # -1: the whole context
    "seed": (-INT64, INT64 - 1),  # Ollama's int64; negative: random
    "num_predict": (-2, INT64 - 1),  # -1 unlimited, -2 fill the context: both max_predict
    "num_ctx": (1, INT32 - 1),
    "num_thread": (0, 1024),  # accepted, not used: threads are set when a model loads
}
# Stop strings: how many, and how long each may be (llama-server and Ollama take any number;
# these are far beyond what a chat template or a client needs, and keep matching cheap).
MAX_STOPS = 32
MAX_STOP_CHARS = 512
# Options Ollama knows that this engine accepts and has no use for.
_IGNORED = frozenset(
    {
        "num_keep",
        "penalize_newline",
        "num_batch",
        "num_gpu",
        "main_gpu",
        "use_mmap",
        "use_mlock",
        "numa",
        "low_vram",
        "f16_kv",
        "vocab_only",
        "logits_all",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
        "tfs_z",
    }
)


@dataclass(slots=True)
class EngineOptions:
    """Sampling options plus the per-request context limit and thread count."""

    sampling: SamplingOptions
    num_ctx: int | None = None
    num_thread: int | None = None


def _number(name: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"option {name} must be a number, not {type(value).__name__}")
    low: float
    high: float
    if kind is int:
        if isinstance(value, float):
            if not value.is_integer():
                raise BadRequest(f"option {name} must be an integer")
            value = int(value)
        low, high = _INTS[name]
    else:
        value = float(value)
        if not math.isfinite(value):
            raise BadRequest(f"option {name} must be a finite number")
        low, high = _FLOATS[name]
    if not low <= value <= high:
        raise BadRequest(f"option {name} is out of range: {_range(low, high)}")
    return value


def _range(low: float, high: float) -> str:
    if low == math.ulp(0.0):
        return "it must be greater than 0"
    if high in (math.inf, INT64 - 1, INT32 - 1):
        return f"it must be at least {low:g}"
    return f"it must be between {low:g} and {high:g}"


def _stop(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
        raise BadRequest("option stop must be a string or a list of strings")
    if len(value) > MAX_STOPS:
        raise BadRequest(f"option stop has {len(value)} strings (the limit is {MAX_STOPS})")
    if any(len(s) > MAX_STOP_CHARS for s in value):
        raise BadRequest(f"option stop: a string is longer than {MAX_STOP_CHARS} characters")
    return tuple(s for s in value if s)


def engine_options(
    options: dict[str, Any] | None,
    *,
    model_params: dict[str, Any] | None = None,
    max_predict: int,
    format: str | dict[str, Any] | None = None,
) -> EngineOptions:
    """Validate and map Ollama options (request over model defaults) onto the engine."""
    merged = {**(model_params or {}), **(options or {})}
    sampling = SamplingOptions()
    result = EngineOptions(sampling=sampling)
    for name, value in merged.items():
        if value is None:
            continue
        if name in _FLOATS:
            setattr(sampling, name, _number(name, value, float))
        elif name in ("top_k", "repeat_last_n", "seed", "num_predict"):
            setattr(sampling, name, _number(name, value, int))
        elif name == "num_ctx":
            result.num_ctx = _number(name, value, int)
        elif name == "num_thread":
            result.num_thread = _number(name, value, int)
        elif name == "stop":
            sampling.stop = _stop(value)
        elif name in _IGNORED:
            log.debug("option %s is not used by the embedded engine", name)
        else:
            log.debug("unknown option %s ignored", name)
    predict = sampling.num_predict
    sampling.num_predict = (
        max_predict if predict is None or predict < 0 else min(predict, max_predict)
    )
    sampling.grammar = grammar_for(format)
    return result


def grammar_for(format: str | dict[str, Any] | None) -> str | None:
    """A GBNF grammar for Ollama's ``format``: ``"json"`` (any JSON object) or a JSON schema.

    The schema is checked and bounded first (ollama_gateway.grammar): a keyword the grammar
    cannot enforce, or a schema over the limits, is a 400 that says which and where.
    """
    if format is None or format == "":
        return None
    if format == "json":
        return json_object_gbnf()
    if isinstance(format, dict):
        return schema_to_gbnf(format)
    raise BadRequest(f'format must be "json" or a JSON schema, not {str(format)[:100]!r}')
