"""What only the fake Ollama can stage, seen through the official clients: reasoning, tool
calls, a failure in the middle of a stream."""

from __future__ import annotations

from collections.abc import Iterator

import ollama
import openai
import pytest

from tests.support.fake_ollama import MIDFAIL
from tests.support.secrets import KEY_A

USER = [{"role": "user", "content": "2+2?"}]
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def ollama_client(proxied) -> ollama.Client:
    return ollama.Client(host=proxied, headers={"Authorization": f"Bearer {KEY_A}"}, timeout=30)


@pytest.fixture
def openai_client(proxied) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxied + "/v1", api_key=KEY_A, max_retries=0, timeout=30)


@pytest.fixture
def midfail(fake_upstream) -> Iterator[str]:
    """A model that fails after two chunks, with Ollama's in-band error."""
    fake_upstream.script("midfail", fail_after=2)
    yield "midfail"
    fake_upstream.reset()


def test_ollama_client_thinking(ollama_client):
    reply = ollama_client.chat(model="thinker", messages=USER, think=True)
    assert (reply.message.thinking, reply.message.content) == ("Let me think.", "Answer.")
    parts = list(ollama_client.generate(model="thinker", prompt="2+2?", think=True, stream=True))
    assert "".join(p.thinking or "" for p in parts) == "Let me think."
    assert "".join(p.response for p in parts) == "Answer."
    plain = ollama_client.generate(model="thinker", prompt="2+2?", think=False)
    assert (plain.thinking, plain.response) == (None, "Answer.")


def test_ollama_client_tool_calls(ollama_client):
    reply = ollama_client.chat(model="tooler", messages=USER, tools=[TOOL])
    (call,) = reply.message.tool_calls
    assert call.function.name == "get_weather" and call.function.arguments == {"city": "Paris"}


def test_ollama_client_mid_stream_error(ollama_client, midfail):
    with pytest.raises(ollama.ResponseError) as info:
        list(ollama_client.chat(model=midfail, messages=USER, stream=True))
    assert info.value.error == MIDFAIL


def test_openai_reasoning_content(openai_client):
    reply = openai_client.chat.completions.create(model="thinker", messages=USER)
    message = reply.choices[0].message
    assert message.content == "Answer."
    assert message.model_extra["reasoning_content"] == "Let me think."
    chunks = list(
        openai_client.chat.completions.create(model="thinker", messages=USER, stream=True)
    )
    deltas = [c.choices[0].delta for c in chunks]
    assert "".join((d.model_extra or {}).get("reasoning_content", "") for d in deltas) == (
        "Let me think."
    )
    assert "".join(d.content or "" for d in deltas) == "Answer."


def test_openai_tool_calls(openai_client):
    reply = openai_client.chat.completions.create(model="tooler", messages=USER, tools=[TOOL])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and call.function.arguments == '{"city":"Paris"}'
    follow = openai_client.chat.completions.create(
        model="llama2",
        messages=[
            *USER,
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "22 C"},
        ],
    )
    assert follow.choices[0].message.content == "Hello, world!"


def test_openai_mid_stream_error(openai_client, midfail):
    stream = openai_client.chat.completions.create(model=midfail, messages=USER, stream=True)
    seen = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content)
    assert info.value.message == MIDFAIL
    assert seen == ["Hello", ","]


def test_openai_json_mode(openai_client, fake_upstream):
    openai_client.chat.completions.create(
        model="llama2", messages=USER, response_format={"type": "json_object"}
    )
    assert fake_upstream.last("/api/chat").body["format"] == "json"
