"""``think`` with real inference, on a model whose chat template opens the reasoning (as
DeepSeek-R1's does), directly and through the gateway's Ollama upstream path.

The random model never writes ``</think>``: with thinking on, its whole output is reasoning.
"""

from __future__ import annotations

import ollama
import openai
import pytest

from tests.support.secrets import KEY_A

pytestmark = pytest.mark.slow  # real llama.cpp inference

GREEDY = {"temperature": 0, "seed": 1, "num_predict": 10}
MODEL = "thinky:latest"
MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]


def _ollama(url: str) -> ollama.Client:
    client = ollama.Client(host=url, headers={"Authorization": f"Bearer {KEY_A}"}, timeout=60)
    if MODEL not in [m.model for m in client.list().models]:
        assert client.pull(MODEL).status == "success"
    return client


@pytest.fixture(params=["embedded", "upstream"])
def url(request) -> str:
    return request.getfixturevalue(request.param)


def test_think_on_off_and_absent(url):
    client = _ollama(url)
    on = client.chat(model=MODEL, messages=MESSAGES, think=True, options=GREEDY).message
    raw = client.chat(model=MODEL, messages=MESSAGES, options=GREEDY).message
    off = client.chat(model=MODEL, messages=MESSAGES, think=False, options=GREEDY).message
    assert on.thinking and on.content == ""
    assert raw.thinking is None and raw.content.startswith("<think>")
    assert raw.content.removeprefix("<think>").lstrip() == on.thinking
    assert off.thinking is None and off.content and "<think>" not in off.content
    streamed = list(
        client.chat(model=MODEL, messages=MESSAGES, think=True, options=GREEDY, stream=True)
    )
    assert "".join(p.message.thinking or "" for p in streamed) == on.thinking
    assert "".join(p.message.content for p in streamed) == ""


def test_both_paths_give_the_same_reasoning(embedded, upstream):
    direct = _ollama(embedded).chat(model=MODEL, messages=MESSAGES, think=True, options=GREEDY)
    proxied = _ollama(upstream).chat(model=MODEL, messages=MESSAGES, think=True, options=GREEDY)
    assert direct.message.thinking == proxied.message.thinking


def test_openai_reasoning_content(url):
    expected = _ollama(url).chat(model=MODEL, messages=MESSAGES, think=True, options=GREEDY)
    client = openai.OpenAI(base_url=url + "/v1", api_key=KEY_A, max_retries=0, timeout=60)
    reply = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, temperature=0, seed=1, max_tokens=10
    )
    message = reply.choices[0].message
    assert message.model_extra["reasoning_content"] == expected.message.thinking
    assert not message.content
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, temperature=0, seed=1, max_tokens=10, stream=True
        )
    )
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content", "") for c in chunks
    )
    assert reasoning == expected.message.thinking
