"""Go values for the template executor: how they print, test true, and marshal to JSON.

Data is plain Python: dicts (Go maps: a missing key is the zero value, printed ``<no value>``),
lists, strings, numbers, booleans and ``None`` (nil), plus :class:`GoJSON` for the values that
Ollama's Go types print as JSON (tools, tool calls and their arguments) and :class:`GoStruct` for
Ollama's ``api.Message``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ollama_gateway.models.gotemplate.nodes import TemplateError

# Go struct field order of Ollama's tool types; JSON of other keys keeps their order
_STRUCT_ORDER = {
    k: i
    for i, k in enumerate(
        [
            "index", "id", "type", "name", "$defs", "items", "required", "properties",
            "description", "enum", "parameters", "function", "arguments",
        ]
    )
}  # fmt: skip
_CHILD_MODE = {"properties": "map_of_struct", "arguments": "any", "items": "any", "$defs": "any"}


def _go_scalar_json(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        value = int(value)
    text = json.dumps(value, ensure_ascii=False)
    # Go's json.Marshal escapes these for safe embedding in HTML
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _child_mode(mode: str, key: Any) -> str:
    """How the value under ``key`` marshals: a Go struct (field order) or a map (sorted keys)."""
    if mode == "map_of_struct":
        return "struct"
    if mode == "any":
        return "any"
    return _CHILD_MODE.get(key, "struct")


def go_json(value: Any, mode: str = "struct") -> str:
    """JSON as Go's ``json.Marshal`` writes Ollama's values (compact, HTML-escaped, Go order)."""
    if isinstance(value, GoJSON):
        value, mode = value.value, value.mode
    elif isinstance(value, GoStruct):
        value = value.value
    if isinstance(value, dict):
        if mode == "struct":
            keys = sorted(value, key=lambda k: (_STRUCT_ORDER.get(k, len(_STRUCT_ORDER)),))
        else:
            keys = sorted(value)
        parts = [
            f"{_go_scalar_json(str(k))}:{go_json(value[k], _child_mode(mode, k))}" for k in keys
        ]
        return "{" + ",".join(parts) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(v, mode) for v in value) + "]"
    return _go_scalar_json(value)


def _go_field_key(data: dict[str, Any], name: str) -> Any:
    if name in data:
        return name
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    for key in (snake, name[:1].lower() + name[1:], name.lower()):
        if key in data:
            return key
    return None


class GoJSON:
    """A JSON value from Ollama's Go types: fields by Go name, prints as Go's JSON.

    ``mode`` says how Go marshals it: ``struct`` (Ollama's tool types: fixed field order),
    ``map_of_struct`` (``properties``) or ``any`` (maps: keys sorted, e.g. tool call arguments).
    """

    __slots__ = ("mode", "value")

    def __init__(self, value: Any, mode: str = "struct") -> None:
        self.value = value
        self.mode = mode

    def field(self, name: str) -> Any:
        if not isinstance(self.value, dict):
            kind = type(self.value).__name__
            raise TemplateError(f"can't evaluate field {name} in a JSON {kind}")
        key = _go_field_key(self.value, name)
        if key is None:
            return None
        return wrap_json(self.value[key], _child_mode(self.mode, key))

    def items(self) -> list[tuple[Any, Any]]:
        """(key, element) pairs as ``range`` visits them (map keys sorted)."""
        if isinstance(self.value, dict):
            return [
                (k, wrap_json(self.value[k], _child_mode(self.mode, k))) for k in sorted(self.value)
            ]
        if isinstance(self.value, list):
            return [(i, wrap_json(v, self.mode)) for i, v in enumerate(self.value)]
        return []

    def __len__(self) -> int:
        return len(self.value) if isinstance(self.value, dict | list | str) else 0

    def __bool__(self) -> bool:
        return bool(self.value)

    def __str__(self) -> str:
        if isinstance(self.value, str):
            return self.value
        return go_json(self.value, self.mode)

    def __eq__(self, other: object) -> bool:
        return self.value == (other.value if isinstance(other, GoJSON) else other)

    # unhashable, as Python spells it; typeshed types __hash__ as a method
    __hash__ = None  # type: ignore[assignment]


def wrap_json(value: Any, mode: str = "struct") -> Any:
    """Dicts and lists become :class:`GoJSON`; scalars stay as they are."""
    return GoJSON(value, mode) if isinstance(value, dict | list) else value


class GoStruct:
    """A Go struct: named fields, always true, unknown fields are the zero value (None)."""

    __slots__ = ("fields", "value")

    def __init__(self, fields: dict[str, Any], value: Any = None) -> None:
        self.fields = fields
        self.value = value if value is not None else fields

    def field(self, name: str) -> Any:
        return self.fields.get(name)

    def __str__(self) -> str:
        return "{" + " ".join(go_print(v) for v in self.fields.values()) + "}"


def truth(value: Any) -> bool:
    """Go's notion of a true value: non-zero, non-empty, non-nil; structs are always true."""
    if value is None:
        return False
    if isinstance(value, GoStruct):
        return True
    return bool(value)


def _format_float(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = exp[0] if exp[0] in "+-" else "+"
        text = f"{mantissa}e{sign}{exp.lstrip('+-').zfill(2)}"
    return text


def go_print(value: Any) -> str:
    """How ``{{ value }}`` prints (fmt's %v)."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, GoJSON | GoStruct):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_print(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_print(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def unwrap(value: Any) -> Any:
    if isinstance(value, GoJSON):
        return value.value
    return value
