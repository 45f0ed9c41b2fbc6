"""The OpenAI-compatible backend against the fake OpenAI server: what it sends, what it reads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from ollama_gateway.backends.openai_compat import OpenAIBackend
from ollama_gateway.core.types import EmbedRequest, GenerationRequest, Message
from ollama_gateway.errors import (
    BadRequest,
    GatewayError,
    ModelNotFound,
    ServiceUnavailable,
    Unsupported,
    UpstreamBadResponse,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ollama_gateway.settings import Settings
from tests.support.fake_openai import VLLM_MODEL, FakeOpenAI, Script


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server: FakeOpenAI) -> FakeOpenAI:
    server.requests.clear()
    server.script = Script()
    server.api_key = None
    return server


@pytest.fixture
async def backend(fake: FakeOpenAI) -> AsyncIterator[OpenAIBackend]:
    settings = Settings(_env_file=None, first_token_timeout=1.0, request_timeout=5.0)
    upstream = OpenAIBackend(settings, fake.url, headers={"Authorization": "Bearer k-123"})
    await upstream.start()
    yield upstream
    await upstream.close()


def chat(**fields) -> GenerationRequest:
    fields.setdefault("messages", [Message(role="user", content="Hi")])
    fields.setdefault("model", VLLM_MODEL)
    return GenerationRequest(kind="chat", **fields)


async def collect(source) -> list:
    return [chunk async for chunk in source]


async def test_a_streamed_chat_becomes_chunks_with_counts_from_usage(backend, fake):
    chunks = await collect(backend.chat(chat()))
    assert "".join(c.text for c in chunks) == "Hello, world!"
    assert [c.done for c in chunks] == [False] * 4 + [True]
    final = chunks[-1]
    assert final.done_reason == "stop" and final.model == VLLM_MODEL
    assert (final.stats.prompt_eval_count, final.stats.eval_count) == (7, 4)
    stats = final.stats
    assert stats.total_duration == stats.prompt_eval_duration + stats.eval_duration > 0
    seen = fake.last("/v1/chat/completions")
    assert seen.body["stream"] is True and seen.body["stream_options"] == {"include_usage": True}
    assert seen.body["messages"] == [{"role": "user", "content": "Hi"}]
    assert seen.headers["Authorization"] == "Bearer k-123"


async def test_options_format_and_think_are_mapped(backend, fake):
    options = {
        "num_predict": 12,
        "temperature": 0.0,
        "top_p": 0.9,
        "top_k": 20,
        "min_p": 0.05,
        "seed": 42,
        "stop": ["\n\n"],
        "presence_penalty": 0.5,
        "frequency_penalty": 0.25,
        "repeat_penalty": 1.1,
        "num_ctx": 8192,  # the server's business: not sent
        "num_gpu": 1,
    }
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    await collect(backend.chat(chat(options=options, format=schema, think=False)))
    body = fake.last("/v1/chat/completions").body
    assert body["max_tokens"] == 12 and body["temperature"] == 0.0 and body["top_p"] == 0.9
    assert body["top_k"] == 20 and body["min_p"] == 0.05 and body["seed"] == 42
    assert body["stop"] == ["\n\n"] and body["repetition_penalty"] == 1.1
    assert body["presence_penalty"] == 0.5 and body["frequency_penalty"] == 0.25
    assert "num_ctx" not in body and "num_gpu" not in body and "num_predict" not in body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema},
    }
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    await collect(backend.chat(chat(format="json")))
    body = fake.last("/v1/chat/completions").body
    assert body["response_format"] == {"type": "json_object"}
    assert "chat_template_kwargs" not in body  # not asked: not sent


async def test_generate_is_a_chat_unless_raw_or_suffix(backend, fake):
    await collect(
        backend.generate(GenerationRequest(model=VLLM_MODEL, prompt="Why?", system="Be brief"))
    )
    assert fake.last("/v1/chat/completions").body["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Why?"},
    ]
    chunks = await collect(
        backend.generate(GenerationRequest(model=VLLM_MODEL, prompt="def f(", raw=True))
    )
    assert "".join(c.text for c in chunks) == "Hello, world!"
    body = fake.last("/v1/completions").body
    assert body["prompt"] == "def f(" and "messages" not in body
    with pytest.raises(Unsupported, match="template"):
        await collect(
            backend.generate(
                GenerationRequest(model=VLLM_MODEL, prompt="x", template="{{ .Prompt }}")
            )
        )


async def test_reasoning_is_thinking_when_asked_and_tagged_text_when_not(backend, fake):
    fake.script = Script(reasoning=["Let me", " think."], content=["Answer", "."])
    asked = await collect(backend.chat(chat(think=True)))
    assert "".join(c.thinking for c in asked) == "Let me think."
    assert "".join(c.text for c in asked) == "Answer."
    raw = await collect(backend.chat(chat()))
    assert "".join(c.text for c in raw) == "<think>Let me think.</think>\n\nAnswer."
    assert not any(c.thinking for c in raw)


async def test_tool_calls_both_ways(backend, fake):
    fake.script = Script(
        content=[], tool_calls=[{"name": "weather", "arguments": {"city": "Paris"}}]
    )
    tools = [
        {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    ]
    history = [
        Message(role="user", content="Weather?"),
        Message(
            role="assistant",
            content="",
            tool_calls=[{"function": {"name": "weather", "arguments": {"city": "Rome"}}}],
        ),
        Message(role="tool", content="sunny", tool_name="weather"),
    ]
    chunks = await collect(backend.chat(chat(messages=history, tools=tools)))
    calls = [call for c in chunks for call in c.tool_calls or ()]
    assert calls == [
        {"id": "call_0", "function": {"name": "weather", "arguments": {"city": "Paris"}}}
    ]
    sent = fake.last("/v1/chat/completions").body
    assert sent["tools"] == tools
    assistant, tool = sent["messages"][1], sent["messages"][2]
    assert assistant["tool_calls"][0]["function"] == {
        "name": "weather",
        "arguments": '{"city":"Rome"}',
    }
    assert tool == {
        "role": "tool",
        "content": "sunny",
        "tool_call_id": assistant["tool_calls"][0]["id"],
    }
    whole = await collect(backend.chat(chat(messages=history, tools=tools, stream=False)))
    assert whole[0].done and whole[0].tool_calls == calls
    assert "tool_choice" not in sent and "parallel_tool_calls" not in sent  # not asked


async def test_tool_choice_and_call_ids_reach_the_upstream(backend, fake):
    tools = [{"type": "function", "function": {"name": "weather"}}]
    history = [
        Message(role="user", content="Weather?"),
        Message(role="assistant", tool_calls=[{"id": "c7", "function": {"name": "weather"}}]),
        Message(role="tool", content="sunny", tool_name="weather", tool_call_id="c7"),
    ]
    for extra, expected in [
        ({"tool_choice": "required"}, {"tool_choice": "required"}),
        (
            {"tool_choice": "required", "forced_tool": "weather", "parallel_tool_calls": False},
            {
                "tool_choice": {"type": "function", "function": {"name": "weather"}},
                "parallel_tool_calls": False,
            },
        ),
    ]:
        await collect(backend.chat(chat(messages=history, tools=tools, **extra)))
        sent = fake.last("/v1/chat/completions").body
        assert {k: sent[k] for k in expected} == expected
        assert sent["messages"][1]["tool_calls"][0]["id"] == "c7"
        assert sent["messages"][2]["tool_call_id"] == "c7"


async def test_images_go_as_data_urls(backend, fake):
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    await collect(
        backend.chat(chat(messages=[Message(role="user", content="What?", images=[png])]))
    )
    (message,) = fake.last("/v1/chat/completions").body["messages"]
    assert message["content"] == [
        {"type": "text", "text": "What?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
    ]


async def test_not_streamed(backend, fake):
    (chunk,) = await collect(backend.chat(chat(stream=False)))
    assert chunk.done and chunk.text == "Hello, world!" and chunk.stats.eval_count == 4
    fake.script = Script(finish_reason="length", usage=None)
    (chunk,) = await collect(backend.chat(chat(stream=False)))
    assert chunk.done_reason == "length" and chunk.stats.eval_count == 1  # counted here


async def test_errors_keep_their_meaning(backend, fake):
    with pytest.raises(ModelNotFound):
        await collect(backend.chat(chat(model="nope")))
    for status, error in ((400, BadRequest), (503, ServiceUnavailable), (502, UpstreamServerError)):
        fake.script = Script(status=status, error=f"status {status}")
        with pytest.raises(error, match=f"status {status}"):
            await collect(backend.chat(chat()))
    fake.script = Script(midstream_error="out of memory")
    source = backend.chat(chat())
    assert (await source.__anext__()).text == "Hello"
    with pytest.raises(GatewayError, match="out of memory"):
        await source.__anext__()
    fake.script = Script(drop_after=2)
    with pytest.raises(UpstreamBadResponse, match="mid-stream"):
        await collect(backend.chat(chat()))
    fake.script = Script(hang=True)
    with pytest.raises(UpstreamTimeout):
        await collect(backend.chat(chat()))


async def test_an_unreachable_server():
    settings = Settings(_env_file=None, connect_timeout=1.0)
    upstream = OpenAIBackend(settings, "http://127.0.0.1:9")
    await upstream.start()
    with pytest.raises(UpstreamUnavailable):
        await collect(upstream.chat(chat()))
    assert (await upstream.check_ready())[0] is False
    await upstream.close()


async def test_embeddings_models_and_what_it_cannot_do(backend, fake):
    result = await backend.embed(EmbedRequest(model=VLLM_MODEL, inputs=["a", "b"], dimensions=2))
    assert result.embeddings == [[0.0, 1.0], [0.5, 1.5]]  # in input order
    assert result.prompt_eval_count == 4
    assert fake.last("/v1/embeddings").body == {
        "model": VLLM_MODEL,
        "input": ["a", "b"],
        "dimensions": 2,
    }
    (model,) = await backend.list_models()
    assert model.name == VLLM_MODEL and model.modified_at == "2025-01-01T00:00:00Z"
    assert [m.name for m in await backend.running()] == [VLLM_MODEL]
    assert (await backend.show(VLLM_MODEL))["capabilities"] == ["completion"]
    with pytest.raises(ModelNotFound):
        await backend.show("other")
    with pytest.raises(Unsupported, match="cannot pull"):
        await collect(backend.pull(VLLM_MODEL))
    with pytest.raises(Unsupported, match="cannot delete"):
        await backend.delete(VLLM_MODEL)
    assert await backend.check_ready() == (True, "")
