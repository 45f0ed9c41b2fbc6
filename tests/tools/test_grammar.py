"""Tool-call grammars: what they accept is a call of a given tool with valid arguments, in the
model's format, checked by llama.cpp's own grammar engine on the real model's vocabulary; and
random texts drawn from them parse into calls whose arguments validate (jsonschema)."""

from __future__ import annotations

import hashlib

import jsonschema
import pytest

from ollama_gateway.grammar import SchemaError
from ollama_gateway.tools import ToolCallParser, ToolChoice, tool_grammar, tool_specs
from ollama_gateway.tools.formats import HERMES, JSON_PARAMETERS, MISTRAL
from tests.support.gbnf_sampler import Sampler

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 1, "maxLength": 20},
        "unit": {"enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
SEARCH = {
    "type": "object",
    "properties": {
        "q": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["q"],
}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "search", "parameters": SEARCH}},
    {"type": "function", "function": {"name": "ping"}},  # no parameters: any object
]
SCHEMAS = {"get_weather": WEATHER, "search": SEARCH, "ping": {"type": "object"}}
REQUIRED, AUTO = ToolChoice("required"), ToolChoice()


def grammar(fmt, choice=REQUIRED, parallel=False):
    return tool_grammar(tool_specs(TOOLS), fmt, choice, parallel=parallel)


def hermes(*calls: str) -> str:
    return "\n".join(f"<tool_call>\n{call}\n</tool_call>" for call in calls)


GOOD = '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}'
GOOD_2 = '{"name": "search", "arguments": {"q": "x", "tags": ["a"]}}'
BAD = [
    '{"name": "get_wether", "arguments": {"city": "Paris", "unit": "celsius"}}',  # no such tool
    '{"name": "get_weather", "arguments": {"city": "Paris"}}',  # unit is required
    '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "kelvin"}}',  # enum
    '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius", "x": 1}}',
    '{"name": "get_weather", "arguments": {"city": "", "unit": "celsius"}}',  # minLength
    '{"name": "get_weather", "arguments": {"city": "P", "unit": "celsius", "days": 9}}',
    '{"name": "search", "arguments": {"q": "x", "tags": ["a", "b", "c", "d"]}}',  # maxItems
]


def test_required_hermes_accepts_valid_calls_only(llama):
    text = grammar(HERMES).text
    assert grammar(HERMES).trigger is None
    assert llama.accepts(text, hermes(GOOD))
    assert llama.accepts(text, hermes(GOOD_2))
    assert llama.accepts(text, hermes('{"name": "ping", "arguments": {"any": [1, {"x": null}]}}'))
    for bad in BAD:
        assert not llama.accepts(text, hermes(bad)), bad
    assert not llama.accepts(text, "Sure! " + hermes(GOOD))  # a required call comes first
    assert not llama.accepts(text, hermes(GOOD, GOOD_2))  # one call unless parallel


def test_parallel_calls_only_when_asked(llama):
    assert llama.accepts(grammar(HERMES, parallel=True).text, hermes(GOOD, GOOD_2))
    many = [GOOD] * 5
    assert not llama.accepts(grammar(HERMES, parallel=True).text, hermes(*many))


def test_a_named_tool_is_the_only_one_allowed(llama):
    text = grammar(HERMES, ToolChoice("required", "search")).text
    assert llama.accepts(text, hermes(GOOD_2))
    assert not llama.accepts(text, hermes(GOOD))


def test_auto_waits_for_the_marker_and_constrains_what_follows(llama):
    lazy = grammar(HERMES, AUTO)
    assert lazy.trigger == "<tool_call>"
    assert llama.accepts(lazy.text, f"\n{GOOD}\n</tool_call>")  # what follows the marker
    for bad in BAD:
        assert not llama.accepts(lazy.text, f"\n{bad}\n</tool_call>"), bad


def test_mistral_and_json_formats(llama):
    mistral = grammar(MISTRAL).text
    assert llama.accepts(mistral, f"[TOOL_CALLS][{GOOD}]")
    assert not llama.accepts(mistral, f"[TOOL_CALLS][{BAD[2]}]")
    assert grammar(MISTRAL, AUTO).trigger == "[TOOL_CALLS]"
    assert llama.accepts(grammar(MISTRAL, AUTO).text, f"[{GOOD}]")
    llama3 = grammar(JSON_PARAMETERS).text
    assert llama.accepts(llama3, GOOD.replace('"arguments"', '"parameters"'))
    assert not llama.accepts(llama3, GOOD)  # this template names them "parameters"
    lazy = grammar(JSON_PARAMETERS, AUTO)
    assert lazy.trigger == ""
    assert llama.accepts(lazy.text, " " + GOOD.replace('"arguments"', '"parameters"'))


@pytest.mark.parametrize("fmt", [HERMES, MISTRAL, JSON_PARAMETERS])
def test_every_text_the_grammar_allows_is_a_valid_call(fmt):
    """Texts drawn at random from the grammar's text parse into calls that validate."""
    sampler = Sampler(grammar(fmt, parallel=True).text, seed=7)
    count = 0
    for _ in range(200):
        text = sampler.sample()
        parser = ToolCallParser(fmt, SCHEMAS)
        out, calls = parser.feed(text)
        more, rest = parser.flush()
        assert (out + more).strip() == "", text
        assert calls + rest, text
        for call in calls + rest:
            function = call["function"]
            jsonschema.validate(function["arguments"], SCHEMAS[function["name"]])
            count += 1
    assert count >= 200


def test_a_schema_the_grammar_cannot_enforce_names_the_tool():
    tools = [
        TOOLS[0],
        {
            "type": "function",
            "function": {
                "name": "odd",
                "parameters": {
                    "type": "object",
                    "properties": {"x": {"type": "array", "contains": {}}},
                },
            },
        },
    ]
    with pytest.raises(SchemaError) as err:
        tool_grammar(tool_specs(tools), HERMES, REQUIRED)
    assert err.value.message.startswith("tools[1] (odd) parameters: ")
    assert "contains" in err.value.message and "#/properties/x" in err.value.message
    scalar = [{"type": "function", "function": {"name": "n", "parameters": {"type": "string"}}}]
    with pytest.raises(SchemaError) as err:
        tool_grammar(tool_specs(scalar), HERMES, REQUIRED)
    assert err.value.message == "tools[0] (n): parameters must describe an object"


def test_the_grammar_of_many_tools_is_bounded():
    def tool(i: int) -> dict:
        values = [hashlib.sha256(f"{i}-{j}".encode()).hexdigest()[:24] for j in range(50)]
        schema = {"type": "object", "properties": {"v": {"enum": values}}}
        return {"type": "function", "function": {"name": f"t{i}", "parameters": schema}}

    tools = [tool(i) for i in range(128)]  # within the bounds on definitions
    with pytest.raises(SchemaError) as err:
        tool_grammar(tool_specs(tools), HERMES, REQUIRED)
    assert "too large" in err.value.message
