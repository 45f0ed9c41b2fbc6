"""Token for token the output of llama.cpp's own ``llama-server`` (built from the same llama.cpp
sources, on the same GGUF file): chat template, tokenizer, stop handling and greedy sampling
checked together, through ``/v1/chat/completions`` of both.

Both start with an empty prompt cache and get the same requests in the same order (what is
cached changes how the last prompt token is computed, hence greedy output). The gateway applies
Ollama's default sampling options (so ``repeat_penalty`` 1.1 over the last 64 tokens);
``llama-server`` is told the same explicitly.
"""

from __future__ import annotations

import httpx
import pytest

from tests.support.secrets import KEY_A

MODEL = "smollm2:135m"
CHATS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Write a haiku about the sea."}],
    [{"role": "user", "content": "List three fruits, one per line."}],
    [
        {"role": "system", "content": "You are a pirate. Answer like one."},
        {"role": "user", "content": "How are you today?"},
    ],
    [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Nice to meet you, Ada!"},
        {"role": "user", "content": "What is my name?"},
    ],
    [{"role": "user", "content": "Say hello."}],
]


def _complete(url: str, messages: list[dict], max_tokens: int, **extra) -> dict:
    body = {"model": MODEL, "messages": messages, "temperature": 0, "max_tokens": max_tokens}
    r = httpx.post(
        url + "/v1/chat/completions",
        json={**body, **extra},
        headers={"Authorization": f"Bearer {KEY_A}"},
        timeout=300,
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def replies(fresh_gateway, reference) -> list[tuple[dict, dict]]:
    """(ours, theirs) for every chat, asked of both in the same order."""
    return [
        (
            _complete(fresh_gateway, messages, 64),
            _complete(reference, messages, 64, repeat_penalty=1.1, repeat_last_n=64, seed=0),
        )
        for messages in CHATS
    ]


@pytest.mark.parametrize("index", range(len(CHATS)))
def test_same_tokens_as_llama_server(replies, index):
    ours, theirs = replies[index]
    assert ours["choices"][0]["message"]["content"] == theirs["choices"][0]["message"]["content"]
    assert ours["choices"][0]["finish_reason"] == theirs["choices"][0]["finish_reason"]
    assert ours["usage"]["prompt_tokens"] == theirs["usage"]["prompt_tokens"]


def test_completion_tokens_count_the_end_of_generation_token(replies):
    for ours, theirs in replies:
        assert ours["usage"]["completion_tokens"] == theirs["usage"]["completion_tokens"]
