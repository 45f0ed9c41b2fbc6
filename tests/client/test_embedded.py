"""The client against the gateway's embedded engine: real inference on a generated tiny model."""

from __future__ import annotations

import pytest

from ollama_gateway.client import Client, ResponseError
from tests.client.gateway import KEY

pytestmark = pytest.mark.slow  # real llama.cpp inference

GREEDY = {"temperature": 0, "num_predict": 8, "seed": 1}


def test_the_seed_call_runs_real_inference(engine_gateway, tiny_model):
    with Client(engine_gateway, api_key=KEY, timeout=60) as client:
        answer = client.generate("hello world", options=GREEDY)
    assert answer.generated_text == answer.response != ""
    assert answer.model == "tiny:latest"  # the file's short name, never its path
    assert answer.eval_count == 8 and answer.done_reason == "length"
    assert answer.elapsed_time is not None and answer.elapsed_time > 0


async def test_streamed_and_whole_agree_sync_and_async(engine_gateway, make_api):
    api = make_api(url=engine_gateway, api_key=KEY, timeout=60)
    whole = await api.call("generate", "hello world", options=GREEDY)
    chunks = await api.stream("generate", "hello world", options=GREEDY)
    assert "".join(c.response for c in chunks) == whole.response
    assert chunks[-1].done and chunks[-1].eval_count == 8


async def test_streamed_chat(engine_gateway, make_api):
    api = make_api(url=engine_gateway, api_key=KEY, timeout=60)
    messages = [{"role": "user", "content": "hi"}]
    whole = await api.call("chat", messages, options=GREEDY)
    chunks = await api.stream("chat", messages, options=GREEDY)
    assert "".join(c.message.content for c in chunks) == whole.message.content
    assert whole.message.role == "assistant" and whole.eval_count == 8


def test_a_prompt_over_the_context_is_a_400(engine_gateway):
    with (
        Client(engine_gateway, api_key=KEY, timeout=60) as client,
        pytest.raises(ResponseError) as caught,
    ):
        client.generate("hello " * 2000)
    assert caught.value.status_code == 400
    assert "512" in caught.value.message
