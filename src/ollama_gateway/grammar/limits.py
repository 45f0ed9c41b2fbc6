"""Bounds on a JSON schema and on the grammar made from it.

A schema comes from a request, so everything it can make us build is bounded before llama.cpp
sees it: llama.cpp's grammar parser recurses on nesting and expands ``x{m,n}`` into ``n - m``
rules (and silently drops an upper bound over 2000), and it parses the grammar on the decode
thread that every stream shares. The defaults keep the slowest grammar they allow to a few tens
of milliseconds of parsing (``bench/grammar.py`` measures it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = 32
    """Nesting of subschemas (properties in items in properties...)."""
    max_nodes: int = 4000
    """Subschemas visited, counting each $ref target and allOf merge once more."""
    max_properties: int = 256
    """Properties of one object (declared and required)."""
    max_enum: int = 1024
    """Values of one enum."""
    max_repeat: int = 10_000
    """minLength / maxLength / minItems / maxItems, and the counts in a pattern."""
    max_pattern: int = 1000
    """Characters in one pattern."""
    max_rules: int = 20_000
    """Rules llama.cpp's parser creates for the grammar (each optional repeated copy is one)."""
    max_elements: int = 400_000
    """Elements llama.cpp stores for the grammar (characters, references, ranges)."""
    max_bytes: int = 64 * 1024
    """Size of the grammar text, and of the literal values (enum, const, property names)."""


DEFAULT_LIMITS = Limits()
