"""Real inference through the official clients: the embedded engine, and the same engine behind
the gateway's Ollama upstream path, must give identical greedy output."""

from __future__ import annotations

import time

import ollama
import openai
import pytest

from tests.support.secrets import KEY_A

pytestmark = pytest.mark.slow  # real llama.cpp inference

GREEDY = {"temperature": 0, "seed": 1, "num_predict": 12}
MODEL = "tiny:latest"


def _ollama(url: str) -> ollama.Client:
    return ollama.Client(host=url, headers={"Authorization": f"Bearer {KEY_A}"}, timeout=60)


def _openai(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=KEY_A, max_retries=0, timeout=60)


def test_proxy_path_gives_the_engines_own_output(embedded, upstream):
    direct = _ollama(embedded).generate(model=MODEL, prompt="The sky is", options=GREEDY)
    proxied = _ollama(upstream).generate(model=MODEL, prompt="The sky is", options=GREEDY)
    assert direct.response and direct.response == proxied.response
    assert direct.eval_count == proxied.eval_count == 12
    streamed = "".join(
        p.response
        for p in _ollama(upstream).generate(
            model=MODEL, prompt="The sky is", options=GREEDY, stream=True
        )
    )
    assert streamed == direct.response


def test_openai_and_ollama_apis_agree_on_the_same_request(embedded, upstream):
    messages = [{"role": "user", "content": "Hello there"}]
    native = _ollama(embedded).chat(model=MODEL, messages=messages, options=GREEDY)
    for url in (embedded, upstream):
        reply = _openai(url).chat.completions.create(
            model=MODEL, messages=messages, temperature=0, seed=1, max_tokens=12
        )
        assert reply.choices[0].message.content == native.message.content
        assert reply.usage.completion_tokens == native.eval_count


def test_pull_comes_from_the_registry(embedded, registry):
    before = len(registry.requests)
    assert _ollama(embedded).pull("e2e-pulled:1b").status == "success"
    assert any("/e2e-pulled/manifests/1b" in r.path for r in registry.requests[before:])
    _ollama(embedded).delete("e2e-pulled:1b")


@pytest.mark.parametrize("mode", ["embedded", "upstream"])
def test_images_and_tools_are_400_for_a_text_model(request, mode):
    client = _ollama(request.getfixturevalue(mode))
    with pytest.raises(ollama.ResponseError) as info:
        client.generate(model=MODEL, prompt="what is this", images=[b"\x89PNG fake"])
    assert info.value.status_code == 400 and "images" in info.value.error
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model=MODEL, messages=[{"role": "user", "content": "x"}], tools=[tool])
    assert info.value.status_code == 400 and "tools" in info.value.error


def test_load_and_unload(embedded):
    client = _ollama(embedded)
    assert client.generate(model=MODEL).done_reason == "load"
    assert MODEL in [m.model for m in client.ps().models]
    assert client.generate(model=MODEL, keep_alive=0).done_reason == "unload"
    deadline = time.monotonic() + 10
    while MODEL in [m.model for m in client.ps().models]:
        assert time.monotonic() < deadline, "the model stayed loaded after keep_alive=0"
        time.sleep(0.05)


@pytest.mark.parametrize("mode", ["embedded", "upstream"])
def test_seed_contract_with_real_inference(request, mode):
    import httpx

    url = request.getfixturevalue(mode)
    r = httpx.post(
        url + "/api/generate",
        json={"prompt": "Once upon a time", "options": {"num_predict": 6}},
        headers={"X-API-KEY": KEY_A},
        timeout=60,
    )
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == MODEL  # the default model
    assert body["generated_text"] == body["response"] and body["generated_text"]
    assert 0 < body["elapsed_time"] < 60
    assert httpx.post(url + "/api/generate", json={"prompt": "x"}, timeout=10).status_code == 401
