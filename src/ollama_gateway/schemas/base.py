"""What every request body has in common, whichever API it belongs to.

- Unknown fields are ignored (Ollama's Go decoder and OpenAI's API both ignore them).
- An explicit ``null`` is the same as leaving the field out: OpenAI's spec marks almost every
  optional field nullable, and Ollama's decoder leaves a field at its default on ``null``. A
  required field sent as ``null`` is therefore "required", not "wrong type".
- A body is JSON whatever the ``Content-Type`` says (``curl -d`` sends
  ``application/x-www-form-urlencoded``, as in Ollama's own examples): the framework hands such a
  body over as bytes and it is decoded here, with the same parser (orjson) as JSON bodies.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError


def _without_nulls(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


def _allows_null(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_allows_null(option) for option in schema.get("anyOf", ()))


_META = ("title", "description", "default", "examples")


def _optional_fields_accept_null(schema: dict[str, Any], cls: type) -> None:
    """The JSON schema says what validation does: every optional field also accepts ``null``."""
    required = set(schema.get("required", ()))
    properties = schema.get("properties", {})
    for name, prop in properties.items():
        if name in required or _allows_null(prop):
            continue
        meta = {key: prop[key] for key in _META if key in prop}
        core = {key: value for key, value in prop.items() if key not in _META}
        properties[name] = {"anyOf": [core, {"type": "null"}], **meta}


class WireBody(BaseModel):
    """Base of every request body model and of the objects nested in one."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_optional_fields_accept_null)

    @model_validator(mode="before")
    @classmethod
    def _wire_input(cls, data: Any) -> Any:
        if isinstance(data, bytes | bytearray):
            try:
                data = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise PydanticCustomError("json_invalid", "invalid JSON") from None
        if isinstance(data, dict) and None in data.values():
            return _without_nulls(data)
        return data
