"""Tool calls parsed out of recorded model outputs, whole and split across stream chunks."""

from __future__ import annotations

import pytest

from ollama_gateway.tools import ToolCallParser
from ollama_gateway.tools.formats import HERMES, JSON_PARAMETERS, MISTRAL, ToolFormat

NAMES = {"get_weather", "get_time", "search"}

# (format, the model's output as it came, the text a client sees, the calls: (name, arguments))
RECORDED = [
    (  # SmolLM2-135M with the ChatML tools template, tool_choice required (this repo's tests)
        HERMES,
        '<tool_call>\n{"name": "get_weather", "arguments": {\n    "city": "Paris",\n'
        '    "unit": "celsius"\n  }}\n</tool_call>',
        "",
        [("get_weather", {"city": "Paris", "unit": "celsius"})],
    ),
    (  # Qwen2.5-style: text first, then two calls
        HERMES,
        'Let me check both.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}'
        '\n</tool_call>\n<tool_call>\n{"name": "get_time", "arguments": {"zone": "CET"}}\n'
        "</tool_call>",
        "Let me check both.\n\n",
        [("get_weather", {"city": "Oslo"}), ("get_time", {"zone": "CET"})],
    ),
    (  # a call with no closing tag (the model stopped right after the JSON)
        HERMES,
        '<tool_call>\n{"name": "search", "arguments": {"q": "a </b> \\"c\\""}}',
        "",
        [("search", {"q": 'a </b> "c"'})],
    ),
    (  # Llama 3.1: the reply is the call, arguments under "parameters"
        JSON_PARAMETERS,
        '{"name": "get_weather", "parameters": {"city": "Lima", "days": 3}}',
        "",
        [("get_weather", {"city": "Lima", "days": 3})],
    ),
    (  # Llama 3.1 with its python tag
        JSON_PARAMETERS,
        '<|python_tag|>{"name": "search", "parameters": {"q": "llama"}}',
        "",
        [("search", {"q": "llama"})],
    ),
    (  # Mistral: an array of calls after the marker; arguments as a JSON string also read
        MISTRAL,
        '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Rome"}}, '
        '{"name": "get_time", "arguments": "{\\"zone\\": \\"UTC\\"}"}]',
        "",
        [("get_weather", {"city": "Rome"}), ("get_time", {"zone": "UTC"})],
    ),
    (  # plain text stays text, even with brackets and a lone "<"
        HERMES,
        "Use a < b and [1, 2] {x}; no call here.",
        "Use a < b and [1, 2] {x}; no call here.",
        [],
    ),
    (  # a JSON reply that is not a call is text (json format)
        JSON_PARAMETERS,
        ' {"answer": 42}',
        ' {"answer": 42}',
        [],
    ),
    (  # a call of a tool the request does not have is text, as written
        HERMES,
        'x<tool_call>\n{"name": "rm_rf", "arguments": {}}\n</tool_call>y',
        'x<tool_call>\n{"name": "rm_rf", "arguments": {}}\n</tool_call>y',
        [],
    ),
    (  # broken JSON inside the tags is text
        HERMES,
        '<tool_call>\n{"name": "search", "arguments": {"q": }\n</tool_call>',
        '<tool_call>\n{"name": "search", "arguments": {"q": }\n</tool_call>',
        [],
    ),
    (  # cut off in the middle of a call (length): what was written comes back as text
        MISTRAL,
        'ok [TOOL_CALLS][{"name": "search", "argu',
        'ok [TOOL_CALLS][{"name": "search", "argu',
        [],
    ),
]


def run(fmt: ToolFormat, pieces: list[str]) -> tuple[str, list, list[str]]:
    parser = ToolCallParser(fmt, NAMES)
    text, calls, emitted = [], [], []
    for piece in pieces:
        out, found = parser.feed(piece)
        text.append(out)
        emitted.append(out)
        calls += found
    out, found = parser.flush()
    text.append(out)
    calls += found
    return "".join(text), calls, emitted


def _simple(calls: list) -> list:
    return [(c["function"]["name"], c["function"]["arguments"]) for c in calls]


@pytest.mark.parametrize(("fmt", "output", "text", "calls"), RECORDED)
def test_recorded_outputs_whole(fmt, output, text, calls):
    got_text, got_calls, _ = run(fmt, [output])
    assert (got_text, _simple(got_calls)) == (text, calls)
    assert [c["function"]["index"] for c in got_calls] == list(range(len(calls)))
    assert all(c["id"].startswith("call_") for c in got_calls)
    assert len({c["id"] for c in got_calls}) == len(got_calls)


@pytest.mark.parametrize(("fmt", "output", "text", "calls"), RECORDED)
def test_recorded_outputs_split_anywhere(fmt, output, text, calls):
    """Every cut into two chunks, and one character a chunk, give the same text and calls."""
    for cut in range(1, len(output)):
        got_text, got_calls, _ = run(fmt, [output[:cut], output[cut:]])
        assert (got_text, _simple(got_calls)) == (text, calls), cut
    got_text, got_calls, _ = run(fmt, list(output))
    assert (got_text, _simple(got_calls)) == (text, calls)


def test_text_before_a_call_streams_before_the_call_completes():
    parser = ToolCallParser(HERMES, NAMES)
    assert parser.feed("Checking the weather") == ("Checking the weather", [])
    assert parser.feed(" now.\n<tool") == (" now.\n", [])  # "<tool" may open a call: held
    assert parser.feed('_call>\n{"name": "get_weather", ') == ("", [])
    text, calls = parser.feed('"arguments": {"city": "Paris"}}\n</tool_call>')
    assert text == "" and _simple(calls) == [("get_weather", {"city": "Paris"})]
    assert parser.feed(" Done.") == (" Done.", [])
    assert parser.flush() == ("", [])


def test_a_held_prefix_that_is_no_marker_is_released():
    parser = ToolCallParser(HERMES, NAMES)
    assert parser.feed("a <tool") == ("a ", [])
    assert parser.feed("s>") == ("<tools>", [])
    assert parser.feed("<tool_c") == ("", [])
    assert parser.flush() == ("<tool_c", [])


def test_json_reply_waits_for_its_first_visible_character():
    parser = ToolCallParser(JSON_PARAMETERS, NAMES)
    assert parser.feed("\n ") == ("", [])
    assert parser.feed("Hello") == ("\n Hello", [])
    assert parser.feed(' {"name": "search", "parameters": {}}') == (
        ' {"name": "search", "parameters": {}}',
        [],
    )  # only the start of a reply can be a bare JSON call


def test_without_names_any_call_is_taken():
    parser = ToolCallParser(HERMES, None)
    _, calls = parser.feed('<tool_call>{"name": "other", "arguments": {"a": 1}}</tool_call>')
    assert _simple(calls) == [("other", {"a": 1})]


def test_output_that_starts_inside_a_call_the_prompt_opened():
    parser = ToolCallParser(HERMES, NAMES)
    parser.start_inside("<tool_call>\n")
    assert parser.feed('{"name": "search", "arguments": {"q": "x"}}\n</tool_') == ("", [])
    text, calls = parser.feed("call>")
    assert text == "" and _simple(calls) == [("search", {"q": "x"})]
    broken = ToolCallParser(HERMES, NAMES)
    broken.start_inside("<tool_call>\n")
    assert broken.feed("oops") == ("", [])
    assert broken.flush() == ("<tool_call>\noops", [])  # given back as written, marker and all
