"""Tool calls that are valid by construction, on the real model (SmolLM2-135M-Instruct) given a
tool-capable ChatML template, through the official ``openai`` and ``ollama`` clients.

A 135M model rarely calls a tool on its own (it answers in prose); with ``tool_choice``
``required`` (or one named function) the grammar makes every reply a call of a given tool whose
arguments validate against the tool's schema (``jsonschema``), and the count says so. Ollama's
API has no ``tool_choice``: there the model's template opens the call itself
(``chatml_tools_caller.gotmpl``), which constrains the call the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import ollama
import openai
import pytest

from ollama_gateway.models.store import ModelStore
from tests.support.gguf_models import chatml_caller_template, chatml_tools_template, smollm2_path
from tests.support.realmodel import smollm2_gateway
from tests.support.secrets import KEY_A

TOOLS_MODEL = "smollm2-tools:135m"
CALLER_MODEL = "smollm2-caller:135m"

SCHEMAS = {
    "get_weather": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 1, "maxLength": 40},
            "unit": {"enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
    "convert_currency": {
        "type": "object",
        "properties": {
            "amount": {"type": "number", "minimum": 0, "maximum": 1000000},
            "from": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "to": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
        "required": ["amount", "from", "to"],
        "additionalProperties": False,
    },
    "set_timer": {
        "type": "object",
        "properties": {
            "minutes": {"type": "integer", "minimum": 1, "maximum": 180},
            "label": {"type": "string", "maxLength": 30},
        },
        "required": ["minutes"],
        "additionalProperties": False,
    },
    "search_web": {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 60},
            "max_results": {"type": "integer", "minimum": 1, "maximum": 10},
            "sites": {"type": "array", "items": {"type": "string", "maxLength": 30}, "maxItems": 3},
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    "send_email": {
        "type": "object",
        "properties": {
            "to": {"type": "string", "format": "email"},
            "subject": {"type": "string", "maxLength": 40},
            "urgent": {"type": "boolean"},
        },
        "required": ["to", "subject"],
        "additionalProperties": False,
    },
}
TOOLS = [
    {
        "type": "function",
        "function": {"name": name, "description": name.replace("_", " "), "parameters": schema},
    }
    for name, schema in SCHEMAS.items()
]
ASKS = {
    "get_weather": [
        "Weather in {}?",
        "Is it cold in {} today?",
        "Will it rain in {}?",
        "How hot is {}?",
    ],
    "convert_currency": [
        "Convert 25 dollars to euros.",
        "How many yen is 300 {} money?",
        "Change 40 GBP to USD.",
    ],
    "set_timer": [
        "Set a timer for 12 minutes.",
        "Remind me in an hour to call {}.",
        "Timer: pasta, 9 minutes.",
    ],
    "search_web": [
        "Search the web for news about {}.",
        "Find recipes from {}.",
        "Look up the history of {}.",
    ],
    "send_email": [
        "Email bob@example.com that I am late.",
        "Tell ana@example.org about the {} trip.",
    ],
}
PLACES = ["Paris", "Tokyo", "Lima", "Cairo", "Oslo", "Nairobi", "Quito", "Hanoi", "Perth", "Porto"]


def prompts(n: int) -> list[tuple[str, str]]:
    """``n`` varied (tool, prompt) pairs, cycling through the tools."""
    names = list(ASKS)
    out = []
    for i in range(n):
        name = names[i % len(names)]
        asks = ASKS[name]
        out.append((name, asks[(i // len(names)) % len(asks)].format(PLACES[i % len(PLACES)])))
    return out


# What the official ``ollama`` client sends: its Tool model keeps only type, enum, required,
# properties, items and description of a schema (pattern, maxLength, minimum... are dropped
# before the request leaves the client), so that is what the gateway can enforce there.
SENT_BY_OLLAMA = {
    tool["function"]["name"]: ollama.Tool.model_validate(tool).model_dump(exclude_none=True)[
        "function"
    ]["parameters"]
    for tool in TOOLS
}


def valid(name: str, arguments: dict | str, schemas: dict = SCHEMAS) -> bool:
    """Whether a call of ``name`` with ``arguments`` (object or JSON text) validates."""
    if isinstance(arguments, str):
        arguments = json.loads(arguments)
    jsonschema.validate(arguments, schemas[name], format_checker=jsonschema.FormatChecker())
    return True


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real model under two more names, each with a tool template in its manifest."""
    workdir = Path(tmp_path_factory.mktemp("tools"))
    store = ModelStore(workdir / "models")
    store.import_gguf(smollm2_path(), TOOLS_MODEL, template=chatml_tools_template(), link=True)
    store.import_gguf(smollm2_path(), CALLER_MODEL, template=chatml_caller_template(), link=True)
    with smollm2_gateway(workdir, key=KEY_A, parallel=2) as url:
        yield url


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=KEY_A, max_retries=0, timeout=300)


def native(url: str) -> ollama.Client:
    return ollama.Client(host=url, headers={"Authorization": f"Bearer {KEY_A}"}, timeout=300)


def _openai_call(url: str, i: int, name: str, prompt: str) -> tuple[str, str]:
    """One forced call: ``required`` for even ``i``, the named tool for odd ``i``."""
    choice = "required" if i % 2 == 0 else {"type": "function", "function": {"name": name}}
    reply = sdk(url).chat.completions.create(
        model=TOOLS_MODEL,
        messages=[{"role": "user", "content": prompt}],
        tools=TOOLS,
        tool_choice=choice,
        temperature=0.7,
        seed=i,
        # above the longest call the grammar allows (an email address alone may take ~210
        # characters, each a token when sampled at 0.7), so every call can finish
        max_tokens=512,
    )
    choice_ = reply.choices[0]
    assert choice_.finish_reason == "tool_calls", choice_
    (call,) = choice_.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    if i % 2:
        assert call.function.name == name
    return call.function.name, call.function.arguments


def test_fifty_required_calls_are_all_valid(gateway):
    cases = prompts(50)
    with ThreadPoolExecutor(2) as pool:  # two sequences decode together (--parallel 2)
        calls = list(
            pool.map(lambda c: _openai_call(gateway, *c), [(i, *p) for i, p in enumerate(cases)])
        )
    count = sum(valid(name, arguments) for name, arguments in calls)
    print(f"\nvalid tool calls: {count}/{len(cases)}")
    assert count == len(cases) == 50
    assert len({name for name, _ in calls}) >= 3  # "required" lets the model pick among tools


def test_streamed_calls_match_the_whole_ones(gateway):
    for i, (name, prompt) in enumerate(prompts(3)):
        body = {
            "model": TOOLS_MODEL,
            "messages": [{"role": "user", "content": prompt}],
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": name}},
            "temperature": 0,
            "max_tokens": 200,
        }
        whole = sdk(gateway).chat.completions.create(**body)
        events = list(sdk(gateway).chat.completions.create(**body, stream=True))
        deltas = [e.choices[0].delta for e in events if e.choices]
        calls = [c for d in deltas for c in d.tool_calls or []]
        assert len(calls) == 1 and calls[0].index == 0 and calls[0].id
        assert [e.choices[0].finish_reason for e in events if e.choices][-1] == "tool_calls"
        expected = whole.choices[0].message.tool_calls[0].function
        # both valid calls of the named tool (the two may differ in a last bit of the logits:
        # each request ran in its own slot, with its own prompt cache)
        assert calls[0].function.name == expected.name == name
        assert valid(name, expected.arguments)
        assert valid(name, calls[0].function.arguments), i
        assert "".join(d.content or "" for d in deltas) == ""


def test_ollama_client_calls_when_the_template_opens_the_call(gateway):
    """The keywords the client keeps (types, enums, required) hold in every call."""
    assert "pattern" not in json.dumps(SENT_BY_OLLAMA)  # the client's doing, not ours
    client = native(gateway)
    for i, (_name, prompt) in enumerate(prompts(4)):
        messages = [{"role": "user", "content": prompt}]
        options = {"temperature": 0.7, "seed": i, "num_predict": 200}
        if i % 2:
            parts = list(
                client.chat(CALLER_MODEL, messages, tools=TOOLS, options=options, stream=True)
            )
            calls = [c for p in parts for c in p.message.tool_calls or []]
            assert parts[-1].done
        else:
            reply = client.chat(CALLER_MODEL, messages, tools=TOOLS, options=options)
            calls = reply.message.tool_calls or []
            assert reply.message.content == ""
        assert len(calls) == 1, (prompt, calls)
        assert calls[0].function.name in SCHEMAS
        assert valid(calls[0].function.name, dict(calls[0].function.arguments), SENT_BY_OLLAMA)


def weather(city: str, unit: str) -> str:
    return json.dumps(
        {"city": city, "temperature": 21 if unit == "celsius" else 70, "sky": "clear"}
    )


def test_round_trip_with_the_openai_client(gateway):
    client = sdk(gateway)
    messages: list = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.chat.completions.create(
        model=TOOLS_MODEL,
        messages=messages,
        tools=TOOLS[:1],
        tool_choice="required",
        temperature=0,
        max_tokens=100,
    )
    call = first.choices[0].message.tool_calls[0]
    arguments = json.loads(call.function.arguments)
    assert valid("get_weather", arguments)
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": weather(**arguments)})
    final = client.chat.completions.create(
        model=TOOLS_MODEL, messages=messages, tools=TOOLS[:1], temperature=0, max_tokens=60
    )
    answer = final.choices[0]
    assert answer.finish_reason in ("stop", "length") and not answer.message.tool_calls
    assert answer.message.content.strip()
    print(f"\nround trip (openai): {call.function.arguments} -> {answer.message.content!r}")


def test_round_trip_with_the_ollama_client(gateway):
    client = native(gateway)
    messages: list = [{"role": "user", "content": "What is the weather in Tokyo?"}]
    first = client.chat(
        CALLER_MODEL, messages, tools=TOOLS[:1], options={"temperature": 0, "num_predict": 100}
    )
    (call,) = first.message.tool_calls
    arguments = dict(call.function.arguments)
    assert call.function.name == "get_weather"
    assert valid("get_weather", arguments, SENT_BY_OLLAMA)
    messages.append(first.message)
    messages.append({"role": "tool", "tool_name": "get_weather", "content": weather(**arguments)})
    final = client.chat(
        CALLER_MODEL, messages, tools=TOOLS[:1], options={"temperature": 0, "num_predict": 60}
    )
    assert not final.message.tool_calls and final.message.content.strip()
    print(f"\nround trip (ollama): {arguments} -> {final.message.content!r}")


def test_a_model_without_a_tool_template_still_refuses_tools(gateway):
    with pytest.raises(ollama.ResponseError) as err:
        native(gateway).chat("smollm2:135m", [{"role": "user", "content": "hi"}], tools=TOOLS)
    assert err.value.status_code == 400
    assert err.value.error == "registry.ollama.ai/library/smollm2:135m does not support tools"
    with pytest.raises(openai.BadRequestError) as bad:
        sdk(gateway).chat.completions.create(
            model=TOOLS_MODEL,
            messages=[{"role": "user", "content": "hi"}],
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "x",
                        "parameters": {
                            "type": "object",
                            "properties": {"a": {"type": "array", "contains": {}}},
                        },
                    },
                }
            ],
            tool_choice="required",
        )
    assert bad.value.status_code == 400
    assert "tools[0] (x) parameters" in bad.value.message
