"""The client against the real gateway, in front of the fake Ollama (sync and async alike)."""

from __future__ import annotations

import pytest

from ollama_gateway.client import (
    ChatResponse,
    Client,
    GatewayConnectionError,
    GenerateChunk,
    GenerateResponse,
    ResponseError,
)
from tests.client.gateway import BAD_KEY, KEY


async def test_the_seed_call_in_one_line(gateway, ollama, monkeypatch):
    monkeypatch.setenv("OLLAMA_GATEWAY_URL", gateway)
    monkeypatch.setenv("OLLAMA_GATEWAY_API_KEY", KEY)
    with Client() as client:
        answer = client.generate("Why is the sky blue?")
    assert isinstance(answer, GenerateResponse)
    assert answer.generated_text == answer.response == "Hello, world!"
    assert answer.model == "deepseek-r1:1.5b"
    assert answer.elapsed_time is not None and 0 <= answer.elapsed_time < 60
    assert answer.done is True and answer.eval_count == 4
    assert ollama.last("/api/generate").body == {
        "model": "deepseek-r1:1.5b",
        "prompt": "Why is the sky blue?",
        "stream": False,
    }


async def test_streamed_generate(gateway, make_api):
    chunks = await make_api(url=gateway, api_key=KEY).stream("generate", "hi", "llama2")
    assert all(type(c) is GenerateChunk for c in chunks)
    assert [c.response for c in chunks] == ["Hello", ",", " world", "!", ""]
    assert [c.done for c in chunks] == [False] * 4 + [True]
    assert chunks[-1].done_reason == "stop"
    assert {c.model for c in chunks} == {"llama2"}


async def test_streamed_chat(gateway, ollama, make_api):
    messages = [{"role": "system", "content": "be kind"}, {"role": "user", "content": "hi"}]
    api = make_api(url=gateway, api_key=KEY)
    chunks = await api.stream("chat", messages, "llama2")
    assert all(type(c) is ChatResponse for c in chunks)
    assert "".join(c.message.content for c in chunks) == "Hello, world!"
    assert chunks[-1].done and chunks[-1].eval_count == 4
    assert ollama.last("/api/chat").body["messages"] == messages

    whole = await api.call("chat", messages, "llama2")
    assert (whole.message.role, whole.message.content, whole.done) == (
        "assistant",
        "Hello, world!",
        True,
    )


async def test_generation_options_reach_the_model(gateway, ollama, make_api):
    api = make_api(url=gateway, api_key=KEY)
    await api.stream("generate", "hi", "llama2", think=True, options={"temperature": 0}, system="s")
    sent = ollama.last("/api/generate").body
    assert (sent["think"], sent["options"]["temperature"], sent["system"]) == (True, 0, "s")


@pytest.mark.parametrize("key", [BAD_KEY, ""])
async def test_a_wrong_or_missing_key_is_a_401(gateway, make_api, key):
    api = make_api(url=gateway, api_key=key)
    for call in (
        api.call("generate", "hi"),
        api.stream("chat", [{"role": "user", "content": "x"}]),
    ):
        with pytest.raises(ResponseError) as caught:
            await call
        assert caught.value.status_code == 401
        assert caught.value.message == "Invalid or missing API key"
        if key:
            assert key not in str(caught.value)


async def test_a_missing_model_is_a_404(gateway, make_api):
    api = make_api(url=gateway, api_key=KEY)
    for call in (api.call("generate", "hi", "missing"), api.stream("generate", "hi", "missing")):
        with pytest.raises(ResponseError) as caught:
            await call
        assert caught.value.status_code == 404
        assert caught.value.message == 'model "missing" not found, try pulling it first'


async def test_a_stopped_gateway_is_a_connection_error_naming_its_url(ollama, make_api):
    from tests.client.gateway import running_gateway

    with running_gateway(ollama.url) as url:
        pass  # started and stopped: the port is now closed
    api = make_api(url=url, api_key=KEY)
    with pytest.raises(GatewayConnectionError) as caught:
        await api.call("generate", "hi")
    assert str(caught.value).startswith(f"cannot connect to the gateway at {url}/api/generate")


async def test_leaving_a_stream_early_closes_it_upstream(gateway, ollama, make_api):
    """``break`` out of an endless stream: the connection closes and the gateway stops Ollama."""
    ollama.script("trickle", trickle=0.3)  # streams until the client leaves
    import asyncio
    import time

    api = make_api(url=gateway, api_key=KEY)
    if api.kind == "sync":
        stream = api.client.generate("hi", "trickle", stream=True)
        first = next(stream)
        stream.close()
    else:
        stream = await api.client.generate("hi", "trickle", stream=True)
        first = await stream.__anext__()
        await stream.aclose()
    assert first.response == "x"
    deadline = time.monotonic() + 10
    while ollama.streams_open and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert ollama.streams_open == 0
    assert (await api.call("generate", "again", "llama2")).generated_text == "Hello, world!"
