"""Ollama's generation ``options`` (and ``format``) mapped onto the engine's sampling options.

Precedence: the request's options over the model's parameters layer (the Ollama ``params``
blob, e.g. ``{"stop": [...], "temperature": 0.6}``) over Ollama's defaults. Known options of the
wrong type are a 400; options the engine has no use for are ignored (logged at debug level).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ollama_gateway.backends.llama_cpp.sampling import SamplingOptions
from ollama_gateway.errors import BadRequest
from ollama_gateway.grammar import json_object_gbnf, schema_to_gbnf

log = logging.getLogger(__name__)

_FLOATS = (
    "temperature",
    "top_p",
    "min_p",
    "typical_p",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
)
_INTS = ("top_k", "repeat_last_n", "seed", "num_predict", "num_ctx", "num_thread")
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
    if kind is int:
        if isinstance(value, float):
            if not value.is_integer():
                raise BadRequest(f"option {name} must be an integer")
            value = int(value)
        return value
    return float(value)


def _stop(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list | tuple) and all(isinstance(s, str) for s in value):
        return tuple(s for s in value if s)
    raise BadRequest("option stop must be a string or a list of strings")


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
        elif name in ("top_k", "repeat_last_n"):
            setattr(sampling, name, _number(name, value, int))
        elif name == "seed":
            sampling.seed = _number(name, value, int)
        elif name == "num_predict":
            sampling.num_predict = _number(name, value, int)
        elif name == "num_ctx":
            result.num_ctx = max(1, _number(name, value, int))
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
