"""Modelfiles and a model's default parameters (the ``params`` layer).

:func:`parse_modelfile` reads Ollama's Modelfile format: ``FROM``, ``TEMPLATE``, ``SYSTEM``,
``PARAMETER name value``, ``MESSAGE role content``, ``LICENSE`` (and ``ADAPTER``, refused), one
instruction per line, case-insensitive, ``#`` comments; a value is the rest of the line, a
``"quoted"`` string, or a ``\"\"\"``-quoted block over several lines.

Parameter names are Ollama's runner options; each has a type. :func:`check_parameters`
validates what ``/api/create`` receives (a JSON object), :func:`parse_parameter` converts a
Modelfile's text value, as Ollama does (``stop`` may repeat and is always a list). Unknown names,
wrong types, non-finite numbers and oversized values are a 400 naming the parameter.

Nothing here needs the server's dependencies: the command line uses it with the base install.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
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


# --- Modelfiles ----------------------------------------------------------------------------
MAX_MODELFILE_CHARS = 1 << 20
INSTRUCTIONS = ("from", "template", "system", "parameter", "message", "license", "adapter")
ROLES = ("system", "user", "assistant", "tool")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ModelfileError(BadRequest):
    """A Modelfile that cannot be read; the message names the line."""


@dataclass(slots=True)
class Modelfile:
    """A parsed Modelfile, in the fields of ``/api/create``."""

    from_: str = ""
    template: str | None = None
    system: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, str]] = field(default_factory=list)
    license: list[str] = field(default_factory=list)


def _value(text: str, pos: int, line: int) -> tuple[str, int]:
    """The value starting at ``pos``: a triple-quoted block, a quoted string or the line."""
    if text.startswith('"""', pos):
        end = text.find('"""', pos + 3)
        if end < 0:
            raise ModelfileError(f'line {line}: unterminated """ block')
        return text[pos + 3 : end], end + 3
    newline = text.find("\n", pos)
    end = len(text) if newline < 0 else newline
    rest = text[pos:end].strip()
    if rest.startswith('"'):
        if len(rest) < 2 or not rest.endswith('"'):
            raise ModelfileError(f"line {line}: unterminated quoted string")
        rest = rest[1:-1].replace('\\"', '"')
    return rest, end


def _word(text: str, pos: int, line: int, what: str) -> tuple[str, int]:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    found = _WORD.match(text, pos)
    if found is None:
        raise ModelfileError(f"line {line}: expected {what}")
    pos = found.end()
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return found.group(), pos


def parse_modelfile(text: str) -> Modelfile:
    """Parse a Modelfile; ModelfileError (a BadRequest) names the first bad line."""
    if len(text) > MAX_MODELFILE_CHARS:
        raise ModelfileError(f"the Modelfile is larger than {MAX_MODELFILE_CHARS} characters")
    out = Modelfile()
    pos = 0
    while pos < len(text):
        line = text.count("\n", 0, pos) + 1
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            break
        if text[pos] == "#":
            newline = text.find("\n", pos)
            pos = len(text) if newline < 0 else newline
            continue
        line = text.count("\n", 0, pos) + 1
        command, pos = _word(text, pos, line, "an instruction")
        command = command.lower()
        if command not in INSTRUCTIONS:
            raise ModelfileError(
                f"line {line}: unknown instruction {clip(command, 32)!r}; "
                f"expected one of {', '.join(i.upper() for i in INSTRUCTIONS)}"
            )
        name = ""
        if command in ("parameter", "message"):
            name, pos = _word(text, pos, line, "a name" if command == "parameter" else "a role")
        value, pos = _value(text, pos, line)
        _apply(out, command, name, value, line)
    if not out.from_:
        raise ModelfileError("no FROM line: a Modelfile names the model or file it starts from")
    return out


def _apply(out: Modelfile, command: str, name: str, value: str, line: int) -> None:
    if command == "from":
        out.from_ = value
    elif command == "template":
        out.template = value
    elif command == "system":
        out.system = value
    elif command == "license":
        out.license.append(value)
    elif command == "adapter":
        raise ModelfileError(f"line {line}: ADAPTER is not supported by this server")
    elif command == "message":
        if name.lower() not in ROLES:
            raise ModelfileError(f"line {line}: MESSAGE role must be one of {', '.join(ROLES)}")
        out.messages.append({"role": name.lower(), "content": value})
    else:
        try:
            converted = parse_parameter(name, value)
        except BadRequest as exc:
            raise ModelfileError(f"line {line}: {exc.message}") from None
        key = name.lower()
        if key in LISTS:
            out.parameters.setdefault(key, []).append(converted)
            check_value(key, out.parameters[key])
        else:
            out.parameters[key] = converted
