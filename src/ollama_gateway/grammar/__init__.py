"""JSON schema -> GBNF (llama.cpp's grammar format), so structured output always parses.

``schema_to_gbnf(schema)`` gives a grammar whose every complete output is JSON that validates
against ``schema``, or raises :class:`SchemaError` (a 400) naming the keyword it cannot enforce
and where it is, or the limit the schema goes over (limits.py). ``json_object_gbnf()`` is any
JSON object (Ollama's ``format: "json"``, OpenAI's ``json_object``). Pure Python: llama.cpp
only sees the text.

Modules, one job each: schema.py checks the schema into nodes (with keywords.py, refs.py,
merge.py for allOf, accepts.py for literal checks), compile.py turns nodes into grammar
expressions (with numbers.py, text.py, formats.py, regex.py for patterns, trie.py, values.py),
builder.py checks and renders the grammar (gbnf.py holds the expressions).
"""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from typing import Any

from ollama_gateway.grammar.builder import Grammar
from ollama_gateway.grammar.errors import SchemaError
from ollama_gateway.grammar.limits import DEFAULT_LIMITS, Limits

__all__ = ["DEFAULT_LIMITS", "Limits", "SchemaError", "json_object_gbnf", "schema_to_gbnf"]

_CACHE_SIZE = 64
_cache: OrderedDict[str, str] = OrderedDict()
_lock = threading.Lock()


def schema_to_gbnf(schema: Any, limits: Limits = DEFAULT_LIMITS) -> str:
    """The grammar for ``schema`` (a parsed JSON schema: a dict or a boolean)."""
    try:
        key = json.dumps(schema, separators=(",", ":"), allow_nan=False) + repr(limits)
    except (TypeError, ValueError, RecursionError):
        raise SchemaError("the JSON schema is not valid JSON") from None
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    grammar = _convert(schema, limits)
    with _lock:
        _cache[key] = grammar
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return grammar


def _convert(schema: Any, limits: Limits) -> str:
    from ollama_gateway.grammar.compile import Compiler
    from ollama_gateway.grammar.schema import Normalizer

    g = Grammar(limits)
    try:
        normalizer = Normalizer(schema, limits)
        root = Compiler(normalizer, g).expr(normalizer.node(schema, (), 0))
        return g.finish(root)
    except RecursionError:
        raise SchemaError("the JSON schema is nested too deeply") from None


@functools.cache
def json_object_gbnf() -> str:
    """Any JSON object."""
    from ollama_gateway.grammar import values

    g = Grammar(DEFAULT_LIMITS)
    return g.finish(values.json_object(g))
