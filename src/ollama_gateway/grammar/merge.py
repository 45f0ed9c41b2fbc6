"""``allOf`` (and ``$ref`` with sibling keywords): the member schemas merged into one.

The merge is exact or refused: bounds take the tighter value, ``type`` and ``enum`` intersect,
``required`` unites, and each property's schema is the ``allOf`` of what every member says about
that key (its ``properties`` entry, else its ``additionalProperties``), so a member's
``additionalProperties: false`` still sees only its own properties, as JSON Schema says. Two
different ``pattern``s, ``format``s or ``multipleOf``s, or more than one ``anyOf``/``oneOf``, are
refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ollama_gateway.grammar import keywords
from ollama_gateway.grammar.errors import invalid, unsupported
from ollama_gateway.grammar.nodes import Path

Schema = dict[str, Any] | bool
Resolve = Callable[[Any, Path], tuple[str, Any, Path]]

_LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_OBJECT = ("properties", "additionalProperties", "required")
_ARRAY = ("prefixItems", "items")


def merge_all(members: list[Schema], path: Path, resolve: Resolve, budget: list[int]) -> Schema:
    flat: list[Schema] = []
    for member in members:
        flat.extend(_flatten(member, path, resolve, budget, frozenset()))
    result: Schema = True
    for member in flat:
        result = _merge(result, member, path)
        if result is False:
            return False
    return result


def _flatten(
    schema: Schema, path: Path, resolve: Resolve, budget: list[int], seen: frozenset[str]
) -> list[Schema]:
    """``schema`` as a list of members without top-level ``$ref`` or ``allOf``."""
    budget[0] -= 1
    if budget[0] < 0:
        raise unsupported("allOf", path, "it expands to too many schemas")
    if isinstance(schema, bool):
        return [schema]
    keywords.check_known(schema, path)
    schema = keywords.upgrade(keywords.constraints(schema), path)
    out: list[Schema] = []
    if "$ref" in schema:
        key, target, _ = resolve(schema.pop("$ref"), path)
        if key in seen:
            raise unsupported("$ref", path, "a reference to itself inside allOf")
        out.extend(_flatten(target, path, resolve, budget, seen | {key}))
    if "allOf" in schema:
        for member in keywords.schema_list(schema, "allOf", path):
            out.extend(_flatten(member, path, resolve, budget, seen))
        del schema["allOf"]
    out.append(schema)
    return out


def both(a: Schema, b: Schema) -> Schema:
    """The schema of a value that must satisfy ``a`` and ``b`` (merged later, lazily)."""
    if a is True or a == {}:
        return b
    if b is True or b == {} or a == b:
        return a
    if a is False or b is False:
        return False
    return {"allOf": [a, b]}


def _merge(a: Schema, b: Schema, path: Path) -> Schema:
    if a is False or b is False:
        return False
    if a is True:
        return dict(b) if isinstance(b, dict) else b
    if b is True:
        return a
    out = dict(a)
    for key, value in b.items():
        if key in _OBJECT or key in _ARRAY:
            continue
        if key not in out or out[key] == value:
            out[key] = value
        elif key in _LOWER or key in _UPPER:
            if not (_is_number(out[key]) and _is_number(value)):
                raise invalid(key, path, "must be a number")
            out[key] = max(out[key], value) if key in _LOWER else min(out[key], value)
        elif key == "uniqueItems":
            out[key] = bool(out[key]) or bool(value)
        elif key == "type":
            out[key] = _types(out[key], value, path)
        elif key in ("enum", "const"):
            continue
        else:
            raise unsupported("allOf", path, f'two different "{key}" cannot be combined')
    if ("enum" in b or "const" in b) and ("enum" in a or "const" in a):
        out.pop("const", None)
        out["enum"] = _common_values(a, b)
    if any(key in b for key in _OBJECT):
        out.update(_objects(a, b))
    if any(key in b for key in _ARRAY):
        out.update(_arrays(a, b))
    if "anyOf" in out and "oneOf" in out:
        raise unsupported("allOf", path, "anyOf and oneOf cannot be combined")
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _types(a: Any, b: Any, path: Path) -> list[str]:
    sa = {a} if isinstance(a, str) else set(a) if isinstance(a, list) else None
    sb = {b} if isinstance(b, str) else set(b) if isinstance(b, list) else None
    if sa is None or sb is None:
        raise unsupported("allOf", path, "type must be a string or a list of strings")
    common = sa & sb
    if ("integer" in sa and "number" in sb) or ("number" in sa and "integer" in sb):
        common.add("integer")
    return sorted(common)


def _values(schema: dict[str, Any]) -> list[Any]:
    if "const" in schema:
        return [schema["const"]]
    return list(schema["enum"]) if isinstance(schema.get("enum"), list) else []


def _common_values(a: dict[str, Any], b: dict[str, Any]) -> list[Any]:
    mine = {json_key(v) for v in _values(b)}
    return [v for v in _values(a) if json_key(v) in mine]


def json_key(value: Any) -> str:
    """JSON equality: 1 == 1.0, but true != 1."""
    if isinstance(value, str):
        return "s" + value

    def norm(v: Any) -> Any:
        if isinstance(v, bool) or v is None:
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        return v

    return json.dumps(norm(value), sort_keys=True)


def _objects(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pa, pb = a.get("properties", {}), b.get("properties", {})
    if not isinstance(pa, dict) or not isinstance(pb, dict):
        return {"properties": pa if not isinstance(pa, dict) else pb}  # refused later
    extra_a, extra_b = a.get("additionalProperties", True), b.get("additionalProperties", True)
    if "properties" in a or "properties" in b:
        names = list(pa) + [n for n in pb if n not in pa]
        out["properties"] = {n: both(pa.get(n, extra_a), pb.get(n, extra_b)) for n in names}
    if "additionalProperties" in a or "additionalProperties" in b:
        out["additionalProperties"] = both(extra_a, extra_b)
    if "required" in a or "required" in b:
        ra, rb = a.get("required", []), b.get("required", [])
        if isinstance(ra, list) and isinstance(rb, list):
            out["required"] = ra + [r for r in rb if r not in ra]
        else:
            out["required"] = ra if not isinstance(ra, list) else rb  # refused later
    return out


def _arrays(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pa, pb = a.get("prefixItems", []), b.get("prefixItems", [])
    if not isinstance(pa, list) or not isinstance(pb, list):
        return {"prefixItems": pa if not isinstance(pa, list) else pb}  # refused later
    items_a, items_b = a.get("items", True), b.get("items", True)
    if pa or pb:
        out["prefixItems"] = [
            both(pa[i] if i < len(pa) else items_a, pb[i] if i < len(pb) else items_b)
            for i in range(max(len(pa), len(pb)))
        ]
    if "items" in a or "items" in b:
        out["items"] = both(items_a, items_b)
    return out
