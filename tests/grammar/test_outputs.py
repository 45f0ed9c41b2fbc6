"""Every grammar compiles in llama.cpp, and everything it allows is JSON valid for its schema.

Random texts are drawn from each grammar's text (tests/support/gbnf_sampler.py, which reads the
GBNF independently of the converter), validated with ``jsonschema``, and some are also fed to
llama.cpp token by token on SmolLM2's vocabulary, which must accept them and then allow the end.
"""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from ollama_gateway.grammar import json_object_gbnf, schema_to_gbnf
from tests.grammar.corpus import SCHEMAS
from tests.support.gbnf_sampler import Sampler

DRAFT7 = {"tuple-draft7"}
STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def validator(name: str, schema):
    cls = jsonschema.Draft7Validator if name in DRAFT7 else jsonschema.Draft202012Validator
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_every_generated_text_is_valid_json_for_the_schema(name, llama):
    schema = SCHEMAS[name]
    grammar = schema_to_gbnf(schema)
    assert llama.compiles(grammar)
    check = validator(name, schema)
    sampler = Sampler(grammar, seed=len(name))
    for i in range(150):
        text = sampler.sample()
        value = json.loads(text)
        errors = [e.message for e in check.iter_errors(value)]
        assert not errors, (text, errors)
        for literal in STRING_LITERAL.findall(text):  # never a raw control character inside
            assert not re.search(r"[\x00-\x1f\x7f]", literal), text
        if i < 4:
            assert llama.accepts(grammar, text), text


def test_format_json_is_any_object(llama):
    grammar = json_object_gbnf()
    assert llama.compiles(grammar)
    sampler = Sampler(grammar, seed=3)
    for _ in range(100):
        assert isinstance(json.loads(sampler.sample()), dict)
    assert llama.accepts(grammar, '{"a": [1, -2.5, "x\\u00e9", null, true, {}]}')
    assert not llama.accepts(grammar, "[1]")


def test_strings_never_take_raw_control_characters(llama):
    grammar = schema_to_gbnf({"type": "string"})
    assert llama.accepts(grammar, '"tab\\there \\u0000 \\n"')
    assert llama.accepts(grammar, '"é中😀"')
    for bad in ('"a\tb"', '"a\nb"', '"a\x7fb"', '"a\x00b"', '"\\ud800"', '"\\x"'):
        assert not llama.accepts(grammar, bad), bad


def test_properties_keep_their_declared_order():
    schema = SCHEMAS["optional-order"]
    sampler = Sampler(schema_to_gbnf(schema), seed=5)
    order = list(schema["properties"])
    seen = set()
    for _ in range(200):
        keys = list(json.loads(sampler.sample()))
        assert keys == sorted(keys, key=order.index)
        assert "c" in keys
        seen.add(tuple(keys))
    assert ("a", "b", "c", "d") in seen and ("c",) in seen  # optional ones come and go


def test_lengths_and_counts_are_exact(llama):
    grammar = schema_to_gbnf({"type": "string", "minLength": 2, "maxLength": 3})
    assert [llama.accepts(grammar, json.dumps("x" * n)) for n in range(5)] == [
        False,
        False,
        True,
        True,
        False,
    ]
    assert llama.accepts(grammar, '"\\n\\u00e9"')  # an escape is one character
    grammar = schema_to_gbnf({"type": "array", "items": {"type": "null"}, "maxItems": 1501})
    assert llama.accepts(grammar, json.dumps([None] * 1501))
    assert not llama.accepts(grammar, json.dumps([None] * 1502))
    grammar = schema_to_gbnf({"type": "string", "minLength": 1000, "maxLength": 10_000})
    assert llama.accepts(grammar, json.dumps("ab" * 5000))
    assert not llama.accepts(grammar, json.dumps("ab" * 5000 + "c"))
    assert not llama.accepts(grammar, json.dumps("a" * 999))


@pytest.mark.parametrize(
    ("schema", "good", "bad"),
    [
        (
            {"type": "integer", "minimum": -37, "maximum": 1234},
            ["-37", "0", "1234", "99"],
            ["-38", "1235", "01", "-0", "1.0", "1e3"],
        ),
        (
            {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            ["0.5", "0.000001"],
            ["0", "1", "0.0", "1.0", "-0.1"],
        ),
        (
            {"type": "number", "minimum": 0.1, "maximum": 0.2},
            ["0.1", "0.15", "0.2"],
            ["0.09", "0.21", "0.2000001"],
        ),
        (
            {"type": "string", "pattern": "^[A-Z]{2,3}-\\d{3}$"},
            ['"AB-123"', '"ABC-000"'],
            ['"A-123"', '"ab-123"', '"AB-1234"'],
        ),
        ({"type": "string", "pattern": "ab+c"}, ['"abc"', '"xxabbbcyy"'], ['"ac"', '"abx"']),
        (
            {"type": "string", "format": "date"},
            ['"2024-02-29"', '"0001-12-31"'],
            ['"2023-02-29"', '"1900-02-29"', '"2024-04-31"', '"0000-01-01"', '"2024-13-01"'],
        ),
        ({"enum": ["a", "ab", 1]}, ['"a"', '"ab"', "1"], ['"b"', '"abc"', "2", "1.0"]),
    ],
)
def test_the_grammar_allows_exactly_what_it_should(llama, schema, good, bad):
    grammar = schema_to_gbnf(schema)
    for text in good:
        assert llama.accepts(grammar, text), text
    for text in bad:
        assert not llama.accepts(grammar, text), text
