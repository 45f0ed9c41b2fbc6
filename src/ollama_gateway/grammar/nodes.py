"""A JSON schema after checking: one node per thing the output can be.

Nodes say what is generated; where that is less than the schema allows (no additional
properties unless asked for, an object where ``type`` is absent but ``properties`` is there),
they also keep what the schema accepts, so that checks of literal values against them
(``enum`` next to other keywords, ``oneOf`` exclusivity) follow the schema, not the grammar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from ollama_gateway.grammar.regex import Node as Regex

Path = tuple[str | int, ...]
Node = Union[
    "AnyNode",
    "NeverNode",
    "ConstNode",
    "UnionNode",
    "StringNode",
    "NumberNode",
    "LiteralTypeNode",
    "ObjectNode",
    "ArrayNode",
    "RefNode",
]
JSON_TYPES = ("object", "array", "string", "number", "boolean", "null")


@dataclass(frozen=True, slots=True)
class AnyNode:
    pass


@dataclass(frozen=True, slots=True)
class NeverNode:
    pass


ANY = AnyNode()
NEVER = NeverNode()


@dataclass(frozen=True, slots=True)
class ConstNode:
    """One of a finite list of JSON values (``enum`` / ``const``)."""

    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class UnionNode:
    """``anyOf`` (or ``oneOf`` when ``exclusive``), or several ``type``s."""

    alts: tuple[Node, ...]
    exclusive: bool = False


@dataclass(frozen=True, slots=True)
class StringNode:
    min_length: int = 0
    max_length: int | None = None
    pattern: tuple[str, Regex] | None = None
    format: str | None = None
    open: bool = False  # no "type": values of other types are valid too


@dataclass(frozen=True, slots=True)
class NumberNode:
    integer: bool = False
    minimum: int | float | None = None
    min_exclusive: bool = False
    maximum: int | float | None = None
    max_exclusive: bool = False
    open: bool = False


@dataclass(frozen=True, slots=True)
class LiteralTypeNode:
    """``boolean`` or ``null``."""

    type: str
    open: bool = False


@dataclass(frozen=True, slots=True)
class Property:
    name: str
    node: Node
    required: bool


@dataclass(frozen=True, slots=True)
class ObjectNode:
    properties: tuple[Property, ...] = ()
    additional: Node = ANY  # what the schema accepts for other keys
    extra: bool = True  # whether other keys are generated (with ``additional``)
    min_properties: int = 0
    max_properties: int | None = None
    open: bool = False

    @property
    def generic(self) -> bool:
        return not self.properties and self.extra and self.additional == ANY


@dataclass(frozen=True, slots=True)
class ArrayNode:
    prefix: tuple[Node, ...] = ()
    items: Node = ANY  # NEVER: no items past the prefix
    min_items: int = 0
    max_items: int | None = None
    open: bool = False


@dataclass(frozen=True, slots=True)
class RefNode:
    key: str  # the JSON pointer it resolves to
    path: Path = field(default=(), compare=False)
