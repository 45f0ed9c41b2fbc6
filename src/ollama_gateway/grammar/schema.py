"""A JSON schema from a request, checked keyword by keyword into nodes (see nodes.py).

Every keyword is enforced, ignored because it constrains nothing (keywords.ANNOTATIONS), or
refused with a 400 that names it and where it is. ``$ref`` targets are checked once each, when
first compiled (recursion is fine); ``allOf`` and ``$ref`` with sibling keywords are merged
(merge.py); ``anyOf`` / ``oneOf`` with sibling keywords get the siblings merged into each
alternative.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from ollama_gateway.grammar import gbnf, keywords, refs
from ollama_gateway.grammar import regex as regexes
from ollama_gateway.grammar.accepts import Undecided, accepts, exclusive
from ollama_gateway.grammar.builder import Grammar
from ollama_gateway.grammar.errors import SchemaError, invalid, over_limit, pointer, unsupported
from ollama_gateway.grammar.formats import FORMATS
from ollama_gateway.grammar.limits import DEFAULT_LIMITS, Limits
from ollama_gateway.grammar.merge import json_key, merge_all
from ollama_gateway.grammar.nodes import (
    ANY,
    JSON_TYPES,
    NEVER,
    ArrayNode,
    ConstNode,
    LiteralTypeNode,
    Node,
    NumberNode,
    ObjectNode,
    Path,
    Property,
    RefNode,
    StringNode,
    UnionNode,
)
from ollama_gateway.grammar.text import json_text

_GROUPS = (
    ("object", keywords.OBJECT),
    ("array", keywords.ARRAY),
    ("string", keywords.STRING),
    ("number", keywords.NUMBER),
)


class Normalizer:
    def __init__(self, root: Any, limits: Limits) -> None:
        self.root = root
        self.limits = limits
        self.budget = [limits.max_nodes]
        self.literal_budget = limits.max_bytes
        self._schemas: dict[str, tuple[Any, Path]] = {}
        self._targets: dict[str, Node] = {}
        self._busy: set[str] = set()

    # -- references ---------------------------------------------------------------------
    def resolve(self, ref: Any, path: Path) -> tuple[str, Any, Path]:
        return refs.resolve(self.root, ref, path)

    def target(self, key: str) -> Node:
        """The checked schema a RefNode points to (checked on first use)."""
        node = self._targets.get(key)
        if node is not None:
            return node
        if key in self._busy:
            raise Undecided(key)
        schema, path = self._schemas[key]
        self._busy.add(key)
        try:
            node = self.node(schema, path, 0)
        finally:
            self._busy.discard(key)
        self._targets[key] = node
        return node

    # -- schemas ------------------------------------------------------------------------
    def node(self, schema: Any, path: Path, depth: int) -> Node:
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise SchemaError(
                f"the JSON schema is too large: more than {self.limits.max_nodes} subschemas"
            )
        if depth > self.limits.max_depth:
            raise SchemaError(
                f"the JSON schema at {pointer(path)} is nested more than "
                f"{self.limits.max_depth} levels deep"
            )
        if isinstance(schema, bool):
            return ANY if schema else NEVER
        if not isinstance(schema, dict):
            raise SchemaError(f"the JSON schema at {pointer(path)} must be an object or a boolean")
        keywords.check_known(schema, path)
        s = keywords.upgrade(keywords.constraints(schema), path)
        if "$ref" in s and len(s) == 1:
            key, target, target_path = self.resolve(s["$ref"], path)
            self._schemas[key] = (target, target_path)
            return RefNode(key, path)
        if "$ref" in s or "allOf" in s:
            members = keywords.schema_list(s, "allOf", path) if "allOf" in s else []
            rest = {k: v for k, v in s.items() if k != "allOf"}
            merged = merge_all([rest, *members], path, self.resolve, self.budget)
            return self.node(merged, path, depth + 1)
        if "anyOf" in s or "oneOf" in s:
            return self.union(s, path, depth)
        if "enum" in s or "const" in s:
            return self.const(s, path, depth)
        return self.typed(s, path, depth)

    def union(self, s: dict[str, Any], path: Path, depth: int) -> Node:
        if "anyOf" in s and "oneOf" in s:
            raise unsupported("oneOf", path, "next to anyOf")
        kw = "anyOf" if "anyOf" in s else "oneOf"
        rest = {k: v for k, v in s.items() if k != kw}
        nodes = []
        for i, alt in enumerate(keywords.schema_list(s, kw, path)):
            sub = merge_all([rest, alt], (*path, kw, i), self.resolve, self.budget) if rest else alt
            node = self.node(sub, (*path, kw, i), depth + 1)
            if node != NEVER:
                nodes.append(node)
        if len(nodes) <= 1:
            return nodes[0] if nodes else NEVER
        if kw == "oneOf":
            try:
                overlap = exclusive(tuple(nodes), self.target)
            except Undecided:
                overlap = (0, 1)
            if overlap is not None:
                raise unsupported(
                    "oneOf",
                    path,
                    f"alternatives {overlap[0]} and {overlap[1]} could both match one value "
                    "(use anyOf, or tell them apart by type or by a required const property)",
                )
        return UnionNode(tuple(nodes), exclusive=kw == "oneOf")

    def const(self, s: dict[str, Any], path: Path, depth: int) -> Node:
        values: list[Any] = []
        if "enum" in s:
            if not isinstance(s["enum"], list):
                raise invalid("enum", path, "must be an array")
            if len(s["enum"]) > self.limits.max_enum:
                raise over_limit("enum", path, f"{len(s['enum'])} values", self.limits.max_enum)
            values = list(s["enum"])
        if "const" in s:
            keys = {json_key(v) for v in values}
            values = [s["const"]] if "enum" not in s or json_key(s["const"]) in keys else []
        unique: dict[str, Any] = {}
        for value in values:
            self._spend(value, "enum" if "enum" in s else "const", path)
            unique.setdefault(json_key(value), value)
        values = list(unique.values())
        rest = {k: v for k, v in s.items() if k not in ("enum", "const")}
        if rest:
            base = self.node(rest, path, depth + 1)
            try:
                values = [v for v in values if accepts(base, v, self.target) is True]
            except Undecided:
                raise unsupported("enum", path, "next to a recursive $ref") from None
        return ConstNode(tuple(values)) if values else NEVER

    def _spend(self, value: Any, keyword: str, path: Path) -> None:
        try:
            self.literal_budget -= len(json_text(value))
        except (ValueError, TypeError, RecursionError):
            raise invalid(keyword, path, "holds a value that is not JSON") from None
        if self.literal_budget < 0:
            raise SchemaError(
                f"the JSON schema is too large: its literal values exceed "
                f"{self.limits.max_bytes} bytes"
            )

    def typed(self, s: dict[str, Any], path: Path, depth: int) -> Node:
        declared = s.get("type")
        if declared is None:
            types = [name for name, group in _GROUPS if group & s.keys()]
            if not types:
                return ANY
            is_open = True
        else:
            types = [declared] if isinstance(declared, str) else declared
            if not isinstance(types, list) or not types:
                raise invalid("type", path, "must be a type name or a list of them")
            for name in types:
                if name not in (*JSON_TYPES, "integer"):
                    raise invalid("type", path, f"{str(name)[:40]!r} is not a JSON schema type")
            if "number" in types:
                types = [t for t in types if t != "integer"]
            is_open = False
        nodes = []
        for name in dict.fromkeys(types):
            node = self._of_type(name, s, path, depth, is_open)
            if node != NEVER:
                nodes.append(node)
        if len(nodes) <= 1:
            return nodes[0] if nodes else NEVER
        return UnionNode(tuple(nodes))

    def _of_type(self, name: str, s: dict[str, Any], path: Path, depth: int, is_open: bool) -> Node:
        if name == "string":
            return self.string(s, path, is_open)
        if name in ("number", "integer"):
            return self.number(s, path, name == "integer", is_open)
        if name == "object":
            return self.object(s, path, depth, is_open)
        if name == "array":
            return self.array(s, path, depth, is_open)
        return LiteralTypeNode(name, is_open)

    # -- strings and numbers ------------------------------------------------------------
    def string(self, s: dict[str, Any], path: Path, is_open: bool) -> Node:
        limit = self.limits.max_repeat
        low = keywords.count(s, "minLength", path, limit) or 0
        high = keywords.count(s, "maxLength", path, limit)
        if high is not None and high < low:
            return NEVER
        pattern = fmt = None
        lengths: tuple[int, float] = (0, float("inf"))
        if "pattern" in s:
            source = s["pattern"]
            if not isinstance(source, str):
                raise invalid("pattern", path, "must be a string")
            if len(source) > self.limits.max_pattern:
                raise over_limit(
                    "pattern", path, f"{len(source)} characters", self.limits.max_pattern
                )
            ast = regexes.parse(source, path, limit)
            parts = regexes.branches(ast, path)
            pattern = (source, ast)
            lengths = (
                min(regexes.min_length(body) for _, body, _ in parts),
                max(regexes.max_length(body) if a and z else float("inf") for a, body, z in parts),
            )
        if "format" in s:
            fmt = s["format"]
            if not isinstance(fmt, str) or fmt not in FORMATS:
                raise unsupported("format", path, f"format {str(fmt)[:40]!r} cannot be enforced")
            if pattern is not None:
                raise unsupported("pattern", path, "next to format")
            lengths = _format_lengths(fmt)
        if (pattern or fmt) and (low > lengths[0] or (high is not None and high < lengths[1])):
            keyword = "minLength" if low > lengths[0] else "maxLength"
            what = "pattern" if pattern else "format"
            raise unsupported(keyword, path, f"next to a {what} that does not already imply it")
        return StringNode(low, high, pattern, fmt, is_open)

    def number(self, s: dict[str, Any], path: Path, integer: bool, is_open: bool) -> Node:
        bounds = {k: keywords.number(s, k, path) for k in sorted(keywords.NUMBER)}
        step = bounds.pop("multipleOf")
        if step is not None:
            if step <= 0:
                raise invalid("multipleOf", path, "must be greater than 0")
            if step != 1:
                raise unsupported("multipleOf", path, "only multipleOf 1 can be enforced")
            integer = True
        low, low_ex = _tighter(bounds["minimum"], bounds["exclusiveMinimum"], max)
        high, high_ex = _tighter(bounds["maximum"], bounds["exclusiveMaximum"], min)
        return NumberNode(integer, low, low_ex, high, high_ex, is_open)

    # -- objects and arrays -------------------------------------------------------------
    def object(self, s: dict[str, Any], path: Path, depth: int, is_open: bool) -> Node:
        for kw in (
            "propertyNames",
            "dependentRequired",
            "dependentSchemas",
            "dependencies",
            "unevaluatedProperties",
        ):
            if kw in s:
                raise unsupported(kw, path)
        if s.get("patternProperties", {}) != {}:
            raise unsupported("patternProperties", path)
        props = s.get("properties", {})
        required = s.get("required", [])
        if not isinstance(props, dict):
            raise invalid("properties", path, "must be an object")
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise invalid("required", path, "must be an array of strings")
        required = list(dict.fromkeys(required))
        names = list(props) + [r for r in required if r not in props]
        if len(names) > self.limits.max_properties:
            raise over_limit("properties", path, len(names), self.limits.max_properties)
        extra_schema = s.get("additionalProperties", True)
        additional = self.node(extra_schema, (*path, "additionalProperties"), depth + 1)
        extra = additional != NEVER and ("additionalProperties" in s or "properties" not in s)
        properties = []
        for name in names:
            self._spend(name, "properties", path)
            if name in props:
                node = self.node(props[name], (*path, "properties", name), depth + 1)
            else:
                node = additional
            if node == NEVER and name in required:
                return NEVER
            properties.append(Property(name, node, name in required))
        node = ObjectNode(tuple(properties), additional, extra, open=is_open)
        return self._object_counts(s, path, node)

    def _object_counts(self, s: dict[str, Any], path: Path, node: ObjectNode) -> Node:
        low = keywords.count(s, "minProperties", path, 1 << 31) or 0
        high = keywords.count(s, "maxProperties", path, 1 << 31)
        least = sum(p.required for p in node.properties)
        most = float("inf") if node.extra else sum(p.node != NEVER for p in node.properties)
        if low > least:
            if low > most:
                return NEVER
            if low > 1:
                raise unsupported(
                    "minProperties", path, f"only 1, or up to the required properties ({least})"
                )
        if high is not None and high < most:
            if high < least:
                return NEVER
            raise unsupported("maxProperties", path, f"less than the properties possible ({most})")
        return ObjectNode(
            node.properties, node.additional, node.extra, max(low, 0), high, node.open
        )

    def array(self, s: dict[str, Any], path: Path, depth: int, is_open: bool) -> Node:
        for kw in ("contains", "unevaluatedItems"):
            if kw in s:
                raise unsupported(kw, path)
        prefix_schemas = s.get("prefixItems", [])
        if not isinstance(prefix_schemas, list):
            raise invalid("prefixItems", path, "must be an array of schemas")
        if len(prefix_schemas) > self.limits.max_properties:
            raise over_limit("prefixItems", path, len(prefix_schemas), self.limits.max_properties)
        prefix = tuple(
            self.node(p, (*path, "prefixItems", i), depth + 1) for i, p in enumerate(prefix_schemas)
        )
        items = self.node(s.get("items", True), (*path, "items"), depth + 1)
        low = keywords.count(s, "minItems", path, self.limits.max_repeat) or 0
        high = keywords.count(s, "maxItems", path, self.limits.max_repeat)
        unique = s.get("uniqueItems", False)
        if not isinstance(unique, bool):
            raise invalid("uniqueItems", path, "must be a boolean")
        most = len(prefix) if items == NEVER else high
        if unique and (most is None or most > 1):
            raise unsupported("uniqueItems", path, "only with at most one item")
        return ArrayNode(prefix, items, low, high, is_open)


def _tighter(
    plain: int | float | None, exclusive: int | float | None, pick: Any
) -> tuple[int | float | None, bool]:
    if exclusive is None:
        return plain, False
    if plain is None:
        return exclusive, True
    a, b = Fraction(plain), Fraction(exclusive)
    if a == b or pick(a, b) == b:
        return exclusive, True
    return plain, False


def _format_lengths(name: str) -> tuple[int, float]:
    g = Grammar(DEFAULT_LIMITS)
    expr = FORMATS[name](g)
    return gbnf.min_chars(expr, g.rules), gbnf.max_chars(expr, g.rules)
