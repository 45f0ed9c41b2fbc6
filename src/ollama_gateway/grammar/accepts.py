"""Checks of literal JSON values against checked schemas, with the schema's meaning.

``accepts`` answers True, False, or None when it cannot tell (a ``format`` value outside the
part of the format that is generated). It keeps ``enum`` values that other keywords next to
them allow (only the certain ones), and ``exclusive`` decides whether the alternatives of a
``oneOf`` can never both match a generated value; a ``oneOf`` it cannot prove is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction
from functools import cache
from typing import Any

from ollama_gateway.grammar import gbnf, regex
from ollama_gateway.grammar.builder import Grammar
from ollama_gateway.grammar.formats import FORMATS
from ollama_gateway.grammar.limits import DEFAULT_LIMITS
from ollama_gateway.grammar.merge import json_key
from ollama_gateway.grammar.nodes import (
    JSON_TYPES,
    AnyNode,
    ArrayNode,
    ConstNode,
    LiteralTypeNode,
    Node,
    NumberNode,
    ObjectNode,
    RefNode,
    StringNode,
    UnionNode,
)

Target = Callable[[str], Node]


class Undecided(Exception):
    """A check needed a $ref target that is still being checked (a recursive schema)."""


ALL = frozenset(JSON_TYPES)


@cache
def format_regex(name: str) -> re.Pattern[str]:
    """The generated part of a format, as a Python regular expression."""
    g = Grammar(DEFAULT_LIMITS)
    expr = FORMATS[name](g)
    return re.compile(gbnf.to_regex(expr, g.rules))


@cache
def pattern_regex(source: str, node: regex.Node) -> re.Pattern[str]:
    return re.compile(regex.to_python(node))


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _all(results: list[bool | None]) -> bool | None:
    if False in results:
        return False
    return None if None in results else True


def accepts(node: Node, value: Any, target: Target) -> bool | None:
    if isinstance(node, RefNode):
        return accepts(target(node.key), value, target)
    if isinstance(node, AnyNode):
        return True
    if isinstance(node, ConstNode):
        return json_key(value) in {json_key(v) for v in node.values}
    if isinstance(node, UnionNode):
        results = [accepts(alt, value, target) for alt in node.alts]
        if node.exclusive:
            return None if None in results else results.count(True) == 1
        return True if True in results else None if None in results else False
    check = _CHECKS.get(type(node))
    if check is None:
        return False  # NeverNode
    if json_type(value) != _kind(node):
        return node.open  # type: ignore[union-attr]
    return check(node, value, target)


_KINDS = {StringNode: "string", NumberNode: "number", ObjectNode: "object", ArrayNode: "array"}


def _kind(node: Node) -> str:
    return node.type if isinstance(node, LiteralTypeNode) else _KINDS[type(node)]


def _string(node: StringNode, value: str, target: Target) -> bool | None:
    if len(value) < node.min_length or (
        node.max_length is not None and len(value) > node.max_length
    ):
        return False
    if node.pattern is not None and not pattern_regex(*node.pattern).search(value):
        return False
    if node.format is not None and not format_regex(node.format).fullmatch(value):
        return None
    return True


def _number(node: NumberNode, value: int | float, target: Target) -> bool | None:
    if node.integer and not (isinstance(value, int) or value.is_integer()):
        return False
    v = Fraction(value)
    if node.minimum is not None:
        low = Fraction(node.minimum)
        if v < low or (node.min_exclusive and v == low):
            return False
    if node.maximum is not None:
        high = Fraction(node.maximum)
        if v > high or (node.max_exclusive and v == high):
            return False
    return True


def _literal(node: LiteralTypeNode, value: Any, target: Target) -> bool | None:
    return True


def _object(node: ObjectNode, value: dict[str, Any], target: Target) -> bool | None:
    n = len(value)
    if n < node.min_properties or (node.max_properties is not None and n > node.max_properties):
        return False
    results: list[bool | None] = []
    declared = {p.name for p in node.properties}
    for prop in node.properties:
        if prop.name in value:
            results.append(accepts(prop.node, value[prop.name], target))
        elif prop.required:
            return False
    for key, item in value.items():
        if key not in declared:
            results.append(accepts(node.additional, item, target))
    return _all(results)


def _array(node: ArrayNode, value: list[Any], target: Target) -> bool | None:
    if len(value) < node.min_items or (node.max_items is not None and len(value) > node.max_items):
        return False
    results = [
        accepts(node.prefix[i] if i < len(node.prefix) else node.items, item, target)
        for i, item in enumerate(value)
    ]
    return _all(results)


_CHECKS: dict[type, Callable[..., bool | None]] = {
    StringNode: _string,
    NumberNode: _number,
    LiteralTypeNode: _literal,
    ObjectNode: _object,
    ArrayNode: _array,
}


# -- oneOf ----------------------------------------------------------------------------------


def _types(node: Node, target: Target, generated: bool, seen: frozenset[str]) -> frozenset[str]:
    """The JSON types of the values ``node`` generates (or, not ``generated``, accepts)."""
    if isinstance(node, RefNode):
        if node.key in seen:
            return ALL
        return _types(target(node.key), target, generated, seen | {node.key})
    if isinstance(node, AnyNode):
        return ALL
    if isinstance(node, ConstNode):
        return frozenset(json_type(v) for v in node.values)
    if isinstance(node, UnionNode):
        return frozenset().union(*(_types(a, target, generated, seen) for a in node.alts))
    if not generated and getattr(node, "open", False):
        return ALL
    return frozenset({_kind(node)}) if type(node) in _CHECKS else frozenset()


def _deref(node: Node, target: Target) -> Node:
    seen = set()
    while isinstance(node, RefNode) and node.key not in seen:
        seen.add(node.key)
        node = target(node.key)
    return node


def rejects_all(made: Node, judge: Node, target: Target, depth: int = 0) -> bool:
    """True when no value generated for ``made`` is accepted by ``judge`` (False: unproven)."""
    if depth > 8:
        return False
    made, judge = _deref(made, target), _deref(judge, target)
    if isinstance(made, ConstNode):
        return all(accepts(judge, v, target) is False for v in made.values)
    if isinstance(made, UnionNode):
        return all(rejects_all(alt, judge, target, depth + 1) for alt in made.alts)
    if isinstance(judge, UnionNode):
        return all(rejects_all(made, alt, target, depth + 1) for alt in judge.alts)
    if not _types(made, target, True, frozenset()) & _types(judge, target, False, frozenset()):
        return True
    if isinstance(made, ObjectNode) and isinstance(judge, ObjectNode):
        return _objects_differ(made, judge, target)
    return False


def _objects_differ(made: ObjectNode, judge: ObjectNode, target: Target) -> bool:
    made_names = {p.name for p in made.properties}
    for prop in judge.properties:  # judge requires a key that is never generated
        if prop.required and prop.name not in made_names and not made.extra:
            return True
    judged = {p.name: p.node for p in judge.properties}
    for prop in made.properties:  # a discriminator: a required key with values judge refuses
        value = _deref(prop.node, target)
        if prop.required and isinstance(value, ConstNode):
            other = judged.get(prop.name, judge.additional)
            if all(accepts(other, v, target) is False for v in value.values):
                return True
    return False


def exclusive(alts: tuple[Node, ...], target: Target) -> tuple[int, int] | None:
    """None when no generated value of one alternative matches another, else such a pair."""
    for i, made in enumerate(alts):
        for j, judge in enumerate(alts):
            if i != j and not rejects_all(made, judge, target):
                return i, j
    return None
