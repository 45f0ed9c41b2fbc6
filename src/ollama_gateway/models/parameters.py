"""A model's default parameters (the ``params`` layer; ``PARAMETER`` lines of a Modelfile).

Names are Ollama's runner options; each has a type. :func:`check_parameters` validates what
``/api/create`` receives (a JSON object), :func:`parse_parameter` converts a Modelfile's text
value, as Ollama does (``stop`` may repeat and is always a list). Unknown names, wrong types,
non-finite numbers and oversized values are a 400 naming the parameter.
"""

from __future__ import annotations

import math
from typing import Any

from ollama_gateway.errors import BadRequest, clip

INTS = frozenset(
    {
        "num_keep",
        "seed",
        "num_predict",
        "top_k",
        "repeat_last_n",
        "num_ctx",
        "num_batch",
        "num_gpu",
        "main_gpu",
        "num_thread",
        "mirostat",
    }
)
FLOATS = frozenset(
    {
        "top_p",
        "min_p",
        "typical_p",
        "temperature",
        "repeat_penalty",
        "presence_penalty",
        "frequency_penalty",
        "mirostat_tau",
        "mirostat_eta",
        "tfs_z",
    }
)
BOOLS = frozenset(
    {
        "penalize_newline",
        "use_mmap",
        "use_mlock",
        "numa",
        "low_vram",
        "f16_kv",
        "vocab_only",
        "logits_all",
    }
)
LISTS = frozenset({"stop"})
KNOWN = INTS | FLOATS | BOOLS | LISTS

MAX_PARAMETERS = 64
MAX_STOPS = 32
MAX_STOP_CHARS = 512
_INT64 = 2**63


def _int(name: str, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"parameter {name} must be an integer")
    if not -_INT64 <= value < _INT64:
        raise BadRequest(f"parameter {name} is out of range")
    return value


def _float(name: str, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"parameter {name} must be a number")
    if not math.isfinite(value):
        raise BadRequest(f"parameter {name} must be a finite number")
    return value  # stored as sent (JSON 0 stays 0, as in Ollama's params layer)


def _stops(name: str, value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise BadRequest(f"parameter {name} must be a string or a list of strings")
    if len(items) > MAX_STOPS:
        raise BadRequest(f"parameter {name} has {len(items)} values (the limit is {MAX_STOPS})")
    if any(len(s) > MAX_STOP_CHARS for s in items):
        raise BadRequest(f"parameter {name}: a value is longer than {MAX_STOP_CHARS} characters")
    return list(items)


def check_value(name: str, value: Any) -> Any:
    """``value`` as parameter ``name`` holds it; BadRequest when the name or type is wrong."""
    if name not in KNOWN:
        raise BadRequest(f"unknown parameter {clip(name, 64)!r}")
    if name in INTS:
        return _int(name, value)
    if name in FLOATS:
        return _float(name, value)
    if name in BOOLS:
        if not isinstance(value, bool):
            raise BadRequest(f"parameter {name} must be true or false")
        return value
    return _stops(name, value)


def check_parameters(params: dict[str, Any] | None) -> dict[str, Any]:
    """The checked parameters of a create request (``None`` values dropped)."""
    if not params:
        return {}
    if len(params) > MAX_PARAMETERS:
        raise BadRequest(f"too many parameters: {len(params)} (the limit is {MAX_PARAMETERS})")
    return {name: check_value(name, value) for name, value in params.items() if value is not None}


def parse_parameter(name: str, text: str) -> Any:
    """A Modelfile ``PARAMETER name text`` value, converted to the parameter's type."""
    name = name.lower()
    if name not in KNOWN:
        raise BadRequest(f"unknown parameter {clip(name, 64)!r}")
    if name in LISTS:
        return text
    try:
        if name in INTS:
            return check_value(name, int(text))
        if name in FLOATS:
            return check_value(name, float(text))
    except ValueError:
        kind = "an integer" if name in INTS else "a number"
        raise BadRequest(f"parameter {name} must be {kind}, not {clip(text, 64)!r}") from None
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise BadRequest(f"parameter {name} must be true or false, not {clip(text, 64)!r}")
    return lowered == "true"
