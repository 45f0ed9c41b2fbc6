"""What the converter cannot enforce is a 400 that names the keyword and where it is."""

from __future__ import annotations

import pytest

from ollama_gateway.errors import BadRequest
from ollama_gateway.grammar import schema_to_gbnf

UNSUPPORTED = 'JSON schema keyword "{}" at {} is not supported'

CASES = [
    ({"not": {"type": "string"}}, UNSUPPORTED.format("not", "#")),
    ({"properties": {"a": {"if": {}, "then": {}}}}, UNSUPPORTED.format("if", "#/properties/a")),
    (
        {"type": "object", "patternProperties": {"^x": {}}},
        UNSUPPORTED.format("patternProperties", "#"),
    ),
    (
        {"type": "object", "propertyNames": {"maxLength": 3}},
        UNSUPPORTED.format("propertyNames", "#"),
    ),
    (
        {"type": "object", "dependentRequired": {"a": ["b"]}},
        UNSUPPORTED.format("dependentRequired", "#"),
    ),
    ({"type": "array", "contains": {"type": "integer"}}, UNSUPPORTED.format("contains", "#")),
    (
        {"items": {"type": "array", "items": {}, "uniqueItems": True}},
        UNSUPPORTED.format("uniqueItems", "#/items") + ": only with at most one item",
    ),
    ({"typo": 1}, UNSUPPORTED.format("typo", "#")),
    (
        {"$defs": {"a/b": {"maxLenght": 3}}, "$ref": "#/$defs/a~1b"},
        UNSUPPORTED.format("maxLenght", "#/$defs/a~1b"),
    ),
    (
        {"type": "string", "format": "duration"},
        UNSUPPORTED.format("format", "#") + ": format 'duration' cannot be enforced",
    ),
    (
        {"type": "number", "multipleOf": 0.01},
        UNSUPPORTED.format("multipleOf", "#") + ": only multipleOf 1 can be enforced",
    ),
    (
        {"$ref": "https://example.com/s.json"},
        UNSUPPORTED.format("$ref", "#") + ": only local references (#/...) are supported",
    ),
    (
        {"$ref": "#node"},
        UNSUPPORTED.format("$ref", "#") + ": references to anchors are not supported",
    ),
    (
        {"$ref": "#/$defs/missing"},
        "JSON schema keyword \"$ref\" at #: '#/$defs/missing' does not resolve",
    ),
    (
        {"type": "string", "pattern": "(a)\\1"},
        UNSUPPORTED.format("pattern", "#") + ": backreferences (\\1)",
    ),
    (
        {"type": "string", "pattern": "(?=a)b"},
        UNSUPPORTED.format("pattern", "#") + ": lookaround and other (?...) groups",
    ),
    (
        {"type": "string", "pattern": "\\bword"},
        UNSUPPORTED.format("pattern", "#") + ": word boundaries (\\b)",
    ),
    (
        {"type": "string", "pattern": "\\p{L}"},
        UNSUPPORTED.format("pattern", "#") + ": Unicode property escapes (\\p)",
    ),
    (
        {"type": "string", "pattern": "^a$b"},
        UNSUPPORTED.format("pattern", "#") + ": an anchor inside the pattern",
    ),
    (
        {"type": "string", "pattern": "(a*)+"},
        UNSUPPORTED.format("pattern", "#") + ": a repeated part that can match the empty string",
    ),
    (
        {"type": "string", "pattern": "[a"},
        UNSUPPORTED.format("pattern", "#") + ": unterminated character class",
    ),
    (
        {"type": "string", "pattern": "^[A-Z]+$", "maxLength": 3},
        UNSUPPORTED.format("maxLength", "#") + ": next to a pattern that does not already imply it",
    ),
    (
        {"type": "string", "format": "date", "minLength": 11},
        UNSUPPORTED.format("minLength", "#") + ": next to a format that does not already imply it",
    ),
    (
        {"oneOf": [{"type": "integer"}, {"type": "number"}]},
        UNSUPPORTED.format("oneOf", "#") + ": alternatives 0 and 1 could both match one value "
        "(use anyOf, or tell them apart by type or by a required const property)",
    ),
    (
        {"allOf": [{"type": "string", "pattern": "a"}, {"pattern": "b"}]},
        UNSUPPORTED.format("allOf", "#") + ': two different "pattern" cannot be combined',
    ),
    (
        {"type": "object", "properties": {"a": {}, "b": {}}, "minProperties": 2},
        UNSUPPORTED.format("minProperties", "#") + ": only 1, or up to the required properties (0)",
    ),
    (
        {"type": "object", "properties": {"a": {}, "b": {}}, "maxProperties": 1},
        UNSUPPORTED.format("maxProperties", "#") + ": less than the properties possible (2)",
    ),
    (
        {"type": "integer", "minimum": 1e20},
        'JSON schema keyword "minimum" at #: cannot be enforced: beyond the 15 digits generated',
    ),
    ({"type": "strin"}, "JSON schema keyword \"type\" at #: 'strin' is not a JSON schema type"),
    (
        {"type": "string", "maxLength": "5"},
        'JSON schema keyword "maxLength" at #: must be a non-negative integer',
    ),
    (
        {"type": "array", "items": [1]},
        "the JSON schema at #/prefixItems/0 must be an object or a boolean",
    ),
    ([1, 2], "the JSON schema at # must be an object or a boolean"),
    ({"enum": []}, "the JSON schema matches no value that can be generated"),
    (
        {"type": "integer", "minimum": 5, "maximum": 3},
        "the JSON schema matches no value that can be generated",
    ),
    (
        {"type": "object", "required": ["k"], "additionalProperties": False},
        "the JSON schema matches no value that can be generated",
    ),
    (
        {"properties": {"next": {"$ref": "#"}}, "required": ["next"]},
        "the JSON schema matches no value that can be generated",
    ),
    (
        {"$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "null"}]}}, "$ref": "#/$defs/a"},
        "the JSON schema refers to itself ($ref) without any value in between",
    ),
    ({"type": "number", "minimum": float("nan")}, "the JSON schema is not valid JSON"),
]


@pytest.mark.parametrize(("schema", "message"), CASES)
def test_refused_with_the_keyword_and_where(schema, message):
    with pytest.raises(BadRequest) as err:
        schema_to_gbnf(schema)
    assert err.value.status_code == 400
    assert err.value.message == message


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "minimum": 3, "items": {"not": {}}},  # other types' keywords
        {"type": "integer", "format": "int32"},  # format only constrains strings
        {"type": "array", "minContains": 2},  # without contains it constrains nothing
        {"type": "object", "patternProperties": {}},
        {"type": "array", "uniqueItems": False},
        {"type": "string", "pattern": "^[A-Z]{3}$", "minLength": 3, "maxLength": 3},
        {"nullable": True, "discriminator": {"propertyName": "k"}, "type": "boolean"},
    ],
)
def test_keywords_that_constrain_nothing_here_are_accepted(schema):
    assert "root ::=" in schema_to_gbnf(schema)
