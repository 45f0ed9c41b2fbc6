"""Which JSON schema keywords exist, which are ignored, and how their values are checked."""

from __future__ import annotations

import math
from typing import Any

from ollama_gateway.grammar.errors import invalid, over_limit, unsupported
from ollama_gateway.grammar.nodes import Path

ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "examples",
        "example",
        "default",
        "$schema",
        "$id",
        "$comment",
        "$anchor",
        "$dynamicAnchor",
        "$recursiveAnchor",
        "$vocabulary",
        "deprecated",
        "readOnly",
        "writeOnly",
        "contentMediaType",
        "contentEncoding",
        "contentSchema",
        "discriminator",
        "nullable",
        "$defs",
        "definitions",
    }
)
"""Ignored: they describe values without constraining them (``nullable`` is OpenAPI's and only
ever widens; ``discriminator`` only names the property ``oneOf`` already decides on)."""

STRING = frozenset({"minLength", "maxLength", "pattern", "format"})
NUMBER = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
OBJECT = frozenset(
    {
        "properties",
        "required",
        "additionalProperties",
        "patternProperties",
        "propertyNames",
        "minProperties",
        "maxProperties",
        "dependentRequired",
        "dependentSchemas",
        "dependencies",
        "unevaluatedProperties",
    }
)
ARRAY = frozenset(
    {
        "items",
        "prefixItems",
        "additionalItems",
        "minItems",
        "maxItems",
        "uniqueItems",
        "contains",
        "minContains",
        "maxContains",
        "unevaluatedItems",
    }
)
GENERAL = frozenset({"type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref"})
REFUSED = frozenset({"not", "if", "then", "else", "$dynamicRef", "$recursiveRef"})
BY_TYPE = {"string": STRING, "number": NUMBER, "integer": NUMBER, "object": OBJECT, "array": ARRAY}
KNOWN = ANNOTATIONS | STRING | NUMBER | OBJECT | ARRAY | GENERAL | REFUSED


def check_known(schema: dict[str, Any], path: Path) -> None:
    for key in schema:
        if not isinstance(key, str):
            raise invalid(str(key), path, "keywords are strings")
        if key in REFUSED or (key not in KNOWN and not key.startswith("x-")):
            raise unsupported(key[:100], path)


def constraints(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without annotations and vendor (``x-``) keywords."""
    return {k: v for k, v in schema.items() if k not in ANNOTATIONS and not k.startswith("x-")}


def upgrade(schema: dict[str, Any], path: Path) -> dict[str, Any]:
    """Older drafts' spellings in today's: boolean exclusiveMinimum/Maximum, array ``items``."""
    out = dict(schema)
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = out.get(bound)
        if isinstance(flag, bool):
            del out[bound]
            if flag:
                if plain not in out:
                    raise invalid(bound, path, f"true needs {plain}")
                out[bound] = out.pop(plain)
    if isinstance(out.get("items"), list):
        if "prefixItems" in out:
            raise invalid("items", path, "an array of schemas next to prefixItems")
        out["prefixItems"] = out.pop("items")
        if "additionalItems" in out:
            out["items"] = out.pop("additionalItems")
    elif "additionalItems" in out:
        del out["additionalItems"]  # only applies next to an array of items
    return out


def count(schema: dict[str, Any], key: str, path: Path, limit: int) -> int | None:
    """A non-negative integer keyword (minLength...), within ``limit``."""
    if key not in schema:
        return None
    value = schema[key]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid(key, path, "must be a non-negative integer")
    if value > limit:
        raise over_limit(key, path, value, limit)
    return value


def number(schema: dict[str, Any], key: str, path: Path) -> int | float | None:
    if key not in schema:
        return None
    value = schema[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(key, path, "must be a finite number")
    return value


def schema_list(schema: dict[str, Any], key: str, path: Path) -> list[Any]:
    value = schema[key]
    if not isinstance(value, list) or not value:
        raise invalid(key, path, "must be a non-empty array of schemas")
    for i, item in enumerate(value):
        if not isinstance(item, dict | bool):
            raise invalid(key, (*path, key, i), "must be a schema (an object or a boolean)")
    return value
