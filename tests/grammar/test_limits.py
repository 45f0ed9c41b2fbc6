"""Every size a schema can make us build is bounded, with a 400 that names the limit."""

from __future__ import annotations

import pytest

from ollama_gateway.errors import BadRequest
from ollama_gateway.grammar import Limits, schema_to_gbnf


def _refused(schema, limits: Limits | None = None) -> str:
    with pytest.raises(BadRequest) as err:
        schema_to_gbnf(schema) if limits is None else schema_to_gbnf(schema, limits)
    return err.value.message


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            {"type": "string", "maxLength": 50000},
            'JSON schema keyword "maxLength" at #: 50000 is over the limit of 10000',
        ),
        (
            {"type": "array", "maxItems": 50000},
            'JSON schema keyword "maxItems" at #: 50000 is over the limit of 10000',
        ),
        (
            {"properties": {"a": {"type": "string", "minLength": 10001}}},
            'JSON schema keyword "minLength" at #/properties/a: 10001 is over the limit of 10000',
        ),
        (
            {"type": "array", "minItems": 10**20},
            'JSON schema keyword "minItems" at #: 100000000000000000000 is over the limit of 10000',
        ),
        (
            {"type": "string", "pattern": "^a{20000}$"},
            'JSON schema keyword "pattern" at #: the count 20000 is over the limit of 10000',
        ),
        (
            {"type": "string", "pattern": "a" * 1001},
            'JSON schema keyword "pattern" at #: 1001 characters is over the limit of 1000',
        ),
        (
            {"enum": list(range(1025))},
            'JSON schema keyword "enum" at #: 1025 values is over the limit of 1024',
        ),
        (
            {"properties": {f"p{i}": {} for i in range(257)}},
            'JSON schema keyword "properties" at #: 257 is over the limit of 256',
        ),
        (
            {"enum": ["x" * 30_000] * 3},
            "the JSON schema is too large: its literal values exceed 65536 bytes",
        ),
    ],
)
def test_over_a_limit(schema, message):
    assert _refused(schema) == message


def test_nesting_is_bounded():
    schema: dict = {"type": "null"}
    for _ in range(40):
        schema = {"type": "array", "items": schema}
    assert _refused(schema).startswith("the JSON schema at #/items/items/")
    assert _refused(schema).endswith("is nested more than 32 levels deep")
    deep = [1]
    for _ in range(100_000):
        deep = [deep]
    assert _refused({"const": deep}) == "the JSON schema is not valid JSON"


def test_subschemas_are_bounded_even_through_refs():
    # Each level refers to the one below twice: 2**40 paths, but each target is checked once.
    defs = {
        f"d{i}": {"type": "array", "prefixItems": [{"$ref": f"#/$defs/d{i + 1}"}] * 2}
        for i in range(40)
    }
    defs["d40"] = {"type": "null"}
    assert "root ::=" in schema_to_gbnf({"$defs": defs, "$ref": "#/$defs/d0"})
    # allOf inlines its members: that is counted.
    merged = {
        f"m{i}": {"allOf": [{"$ref": f"#/$defs/m{i + 1}"}, {"$ref": f"#/$defs/m{i + 1}"}]}
        for i in range(30)
    }
    merged["m30"] = {"type": "integer"}
    assert _refused({"$defs": merged, "$ref": "#/$defs/m0"}) == (
        'JSON schema keyword "allOf" at #/$defs/m0 is not supported: it expands to too many schemas'
    )


def test_the_grammar_size_is_bounded(llama):
    # Each distinct count up to 500 expands to that many rules in llama.cpp's parser.
    lengths = {f"s{i}": {"type": "string", "maxLength": 450 + i} for i in range(45)}
    message = _refused({"type": "object", "properties": lengths})
    assert message.startswith("the JSON schema is too large: its grammar needs ")
    assert message.endswith(" rules (limit 20000)")
    fewer = {f"s{i}": {"type": "string", "maxLength": 450 + i} for i in range(35)}
    assert llama.compiles(schema_to_gbnf({"type": "object", "properties": fewer}))
    assert _refused({"type": "integer"}, Limits(max_bytes=100)).startswith(
        "the JSON schema is too large: its grammar has "
    )


def test_the_largest_counts_allowed_compile(llama):
    for schema in (
        {"type": "string", "minLength": 10000, "maxLength": 10000},
        {"type": "array", "maxItems": 10000},
        {"type": "string", "pattern": "^(ab){1,10000}$"},
        {"enum": [f"value-{i}" for i in range(1024)]},
    ):
        assert llama.compiles(schema_to_gbnf(schema))


def test_limits_can_be_tightened():
    assert _refused({"type": "string", "maxLength": 11}, Limits(max_repeat=10)) == (
        'JSON schema keyword "maxLength" at #: 11 is over the limit of 10'
    )
