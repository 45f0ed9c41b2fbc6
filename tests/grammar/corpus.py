"""JSON schemas the converter must handle (each is a case for the sampling and llama.cpp tests)."""

from __future__ import annotations

from typing import Any

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 30},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "email": {"type": "string", "format": "email"},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}

SCHEMAS: dict[str, Any] = {
    "any": {},
    "true": True,
    "string": {"type": "string"},
    "bounded-string": {"type": "string", "minLength": 2, "maxLength": 5},
    "long-string": {"type": "string", "maxLength": 1200},
    "integer": {"type": "integer"},
    "integer-range": {"type": "integer", "minimum": -37, "maximum": 1234},
    "integer-exclusive": {"type": "integer", "exclusiveMinimum": 2.5, "exclusiveMaximum": 10},
    "integer-min-only": {"type": "integer", "minimum": 42},
    "integer-max-only": {"type": "integer", "maximum": -7},
    "number": {"type": "number"},
    "number-range": {"type": "number", "minimum": -1.5, "maximum": 2.25},
    "probability": {"type": "number", "minimum": 0, "maximum": 1},
    "narrow-number": {"type": "number", "minimum": 0.1, "maximum": 0.2},
    "number-exclusive": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    "number-float-bound": {"type": "number", "minimum": 0.30000000000000004},
    "number-draft4": {"type": "number", "minimum": 5, "exclusiveMinimum": True},
    "multiple-of-one": {"type": "number", "multipleOf": 1, "maximum": 9},
    "boolean": {"type": "boolean"},
    "null": {"type": "null"},
    "type-list": {"type": ["string", "null"], "maxLength": 3},
    "enum": {"enum": ["red", "green", "blue", 1, None, True, {"a": [1, 2]}, 're"d\n']},
    "enum-typed": {"type": "string", "enum": ["a", "b", 3]},
    "enum-filtered": {"enum": ["a", "abc", "abcdef"], "maxLength": 3},
    "const": {"const": {"x": "y\u0001\u007f", "n": 1.5}},
    "unicode-enum": {"enum": ["café", "中文", "😀", "\u2028"]},
    "person": PERSON,
    "optional-order": {
        "type": "object",
        "properties": {
            "a": {"type": "boolean"},
            "b": {"type": "integer", "minimum": 0, "maximum": 9},
            "c": {"type": "null"},
            "d": {"type": "string", "maxLength": 2},
        },
        "required": ["c"],
    },
    "all-optional": {
        "type": "object",
        "properties": {"x": {"type": "integer", "maximum": 5}, "y": {"type": "boolean"}},
    },
    "min-properties": {
        "type": "object",
        "properties": {"x": {"type": "integer", "maximum": 5}, "y": {"type": "boolean"}},
        "minProperties": 1,
        "additionalProperties": False,
    },
    "additional-schema": {
        "type": "object",
        "properties": {"id": {"type": "integer", "minimum": 1, "maximum": 99}},
        "required": ["id"],
        "additionalProperties": {"type": "string", "maxLength": 4},
    },
    "additional-true": {
        "type": "object",
        "properties": {"id": {"const": 1}},
        "additionalProperties": True,
    },
    "required-undeclared-schema": {
        "type": "object",
        "required": ["k"],
        "additionalProperties": {"type": "integer", "maximum": 3},
    },
    "generic-object": {"type": "object"},
    "array": {"type": "array", "items": {"type": "integer", "maximum": 99, "minimum": 0}},
    "array-bounds": {"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 4},
    "array-many": {"type": "array", "items": {"const": 0}, "minItems": 3, "maxItems": 1500},
    "tuple": {
        "type": "array",
        "prefixItems": [{"type": "string", "maxLength": 3}, {"type": "integer", "maximum": 9}],
        "items": False,
        "minItems": 1,
    },
    "tuple-open": {
        "type": "array",
        "prefixItems": [{"const": "head"}],
        "items": {"type": "null"},
        "maxItems": 3,
    },
    "tuple-draft7": {
        "type": "array",
        "items": [{"type": "boolean"}, {"type": "null"}],
        "additionalItems": False,
    },
    "unique-one": {
        "type": "array",
        "items": {"type": "integer"},
        "maxItems": 1,
        "uniqueItems": True,
    },
    "any-of": {"anyOf": [{"type": "string", "maxLength": 4}, {"type": "integer", "maximum": 3}]},
    "one-of-types": {"oneOf": [{"type": "string", "maxLength": 4}, {"type": "null"}]},
    "one-of-discriminated": {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "kind": {"const": "cat"},
                    "lives": {"type": "integer", "maximum": 9},
                },
                "required": ["kind", "lives"],
            },
            {
                "type": "object",
                "properties": {"kind": {"const": "dog"}, "good": {"type": "boolean"}},
                "required": ["kind"],
            },
        ]
    },
    "one-of-required": {
        "oneOf": [
            {
                "type": "object",
                "properties": {"a": {"type": "null"}},
                "required": ["a"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"b": {"type": "null"}},
                "required": ["b"],
                "additionalProperties": False,
            },
        ]
    },
    "any-of-siblings": {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "maximum": 5},
            "b": {"type": "integer", "maximum": 5},
        },
        "anyOf": [{"required": ["a"]}, {"required": ["b"]}],
        "additionalProperties": False,
    },
    "all-of": {
        "allOf": [
            {
                "type": "object",
                "properties": {"a": {"type": "string", "maxLength": 3}},
                "required": ["a"],
            },
            {
                "properties": {"b": {"type": "integer", "minimum": 1, "maximum": 2}},
                "required": ["b"],
            },
        ]
    },
    "all-of-closed": {
        "allOf": [
            {
                "type": "object",
                "properties": {"a": {"type": "integer", "maximum": 3}},
                "additionalProperties": False,
            },
            {"properties": {"a": {"minimum": 1}, "b": {"type": "null"}}},
        ]
    },
    "all-of-bounds": {"allOf": [{"type": "integer", "minimum": 3}, {"maximum": 7}, {"minimum": 5}]},
    "refs": {
        "$defs": {
            "point": {
                "type": "object",
                "properties": {"x": {"$ref": "#/$defs/coord"}, "y": {"$ref": "#/$defs/coord"}},
                "required": ["x", "y"],
                "additionalProperties": False,
            },
            "coord": {"type": "integer", "minimum": -9, "maximum": 9},
        },
        "type": "array",
        "items": {"$ref": "#/$defs/point"},
        "maxItems": 3,
    },
    "definitions": {
        "definitions": {"flag": {"type": "boolean", "description": "d"}},
        "properties": {"f": {"$ref": "#/definitions/flag"}},
        "required": ["f"],
    },
    "ref-siblings": {
        "$defs": {"s": {"type": "string", "maxLength": 8}},
        "$ref": "#/$defs/s",
        "minLength": 2,
    },
    "recursive-tree": {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "v": {"type": "integer", "minimum": 0, "maximum": 9},
                    "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2},
                },
                "required": ["v"],
                "additionalProperties": False,
            }
        },
        "$ref": "#/$defs/node",
    },
    "recursive-root": {
        "type": "object",
        "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
        "required": ["next"],
        "additionalProperties": False,
    },
    "pattern-anchored": {"type": "string", "pattern": "^[A-Z]{2,3}-\\d{3}$"},
    "pattern-unanchored": {"type": "string", "pattern": "ab+c"},
    "pattern-alternation": {"type": "string", "pattern": "^(?:yes|no|maybe)$|^\\(x\\)"},
    "pattern-specials": {"type": "string", "pattern": '^["\\\\\\n\\t]{1,3}x\\.y$'},
    "pattern-negated": {"type": "string", "pattern": "^[^a-z]{2}$"},
    "pattern-dot": {"type": "string", "pattern": "^a.c$"},
    "pattern-with-length": {"type": "string", "pattern": "^[0-9]{4}$", "maxLength": 4},
    "date": {"type": "string", "format": "date"},
    "time": {"type": "string", "format": "time"},
    "date-time": {"type": "string", "format": "date-time"},
    "uuid": {"type": "string", "format": "uuid"},
    "ipv4": {"type": "string", "format": "ipv4"},
    "ipv6": {"type": "string", "format": "ipv6"},
    "email": {"type": "string", "format": "email"},
    "hostname": {"type": "string", "format": "hostname"},
    "uri": {"type": "string", "format": "uri"},
    "annotations": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://example.com/x",
        "title": "T",
        "description": "D",
        "$comment": "C",
        "examples": [1],
        "default": 1,
        "type": "integer",
        "maximum": 3,
        "x-vendor": True,
    },
    "inferred-object": {"properties": {"a": {"type": "null"}}, "required": ["a"]},
    "nested": {
        "type": "object",
        "properties": {
            "user": PERSON,
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 3},
            "meta": {
                "type": "object",
                "properties": {"ok": {"type": "boolean"}},
                "required": ["ok"],
                "additionalProperties": False,
            },
        },
        "required": ["user", "tags", "meta"],
        "additionalProperties": False,
    },
    "key-escapes": {
        "type": "object",
        "properties": {
            'quo"te': {"type": "null"},
            "new\nline": {"type": "null"},
            "uni\u00e9": {"type": "null"},
        },
        "required": ['quo"te', "new\nline", "uni\u00e9"],
        "additionalProperties": {"type": "null"},
    },
    "never-optional": {
        "type": "object",
        "properties": {"gone": False, "here": {"type": "null"}},
        "required": ["here"],
    },
    "openai-strict": {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "explanation": {"type": "string", "maxLength": 40},
                        "output": {"type": "string", "maxLength": 20},
                    },
                    "required": ["explanation", "output"],
                    "additionalProperties": False,
                },
                "maxItems": 3,
            },
            "final_answer": {"type": "string", "maxLength": 20},
        },
        "required": ["steps", "final_answer"],
        "additionalProperties": False,
    },
}
