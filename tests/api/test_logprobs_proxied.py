"""``logprobs`` passed through to an Ollama upstream (the fake Ollama) and back out in both APIs'
shapes, streamed and not; and the OpenAI-compatible upstream's two shapes read back."""

from __future__ import annotations

import httpx
import openai
import orjson

from ollama_gateway.backends.openai_compat.reply import logprob_entries

USER = [{"role": "user", "content": "hi"}]


def test_ollama_api_asks_the_upstream_and_returns_its_logprobs(gateway, ollama):
    body = {"model": "llama2", "prompt": "hi", "logprobs": True, "top_logprobs": 2}
    whole = httpx.post(f"{gateway}/api/generate", json={**body, "stream": False}).json()
    assert ollama.last("/api/generate").body["logprobs"] is True
    assert ollama.last("/api/generate").body["top_logprobs"] == 2
    tokens = [e["token"] for e in whole["logprobs"]]
    assert "".join(tokens) == whole["response"] == "Hello, world!"
    assert whole["logprobs"][0]["top_logprobs"][1] == {"token": "alt0", "logprob": -1.0}
    lines = httpx.post(f"{gateway}/api/chat", json={**body, "messages": USER}).text.splitlines()
    streamed = [e for line in lines for e in orjson.loads(line).get("logprobs", ())]
    assert [e["token"] for e in streamed] == tokens
    plain = httpx.post(f"{gateway}/api/generate", json={"model": "llama2", "prompt": "hi"})
    assert "logprobs" not in plain.json() and "logprobs" not in ollama.last("/api/generate").body


def test_openai_api_renders_upstream_logprobs(gateway, ollama):
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key="none")
    chat = client.chat.completions.create(
        model="llama2", messages=USER, logprobs=True, top_logprobs=2
    )
    content = chat.choices[0].logprobs.content
    assert [c.token for c in content] == ["Hello", ",", " world", "!"]
    assert content[0].top_logprobs[1].token == "alt0" and content[0].bytes == list(b"Hello")
    events = client.chat.completions.create(
        model="llama2", messages=USER, logprobs=True, top_logprobs=2, stream=True
    )
    streamed = [
        c.token
        for e in events
        if e.choices and e.choices[0].logprobs
        for c in e.choices[0].logprobs.content
    ]
    assert streamed == ["Hello", ",", " world", "!"]
    text = client.completions.create(model="llama2", prompt="hi", logprobs=2)
    lp = text.choices[0].logprobs
    assert lp.tokens == ["Hello", ",", " world", "!"] and lp.text_offset == [0, 5, 6, 12]
    assert lp.top_logprobs[0] == {"Hello": -0.5, "alt0": -1.0}
    assert ollama.last("/api/generate").body["top_logprobs"] == 2


def test_openai_compatible_upstream_shapes_are_read():
    chat = {
        "content": [
            {
                "token": "Hi",
                "logprob": -0.1,
                "bytes": [72, 105],
                "top_logprobs": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105]}],
            }
        ]
    }
    assert logprob_entries(chat) == [
        {
            "token": "Hi",
            "logprob": -0.1,
            "bytes": [72, 105],
            "top_logprobs": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105]}],
        }
    ]
    legacy = {"tokens": ["a", "b"], "token_logprobs": [-1, -2], "top_logprobs": [{"a": -1}, None]}
    assert logprob_entries(legacy) == [
        {
            "token": "a",
            "logprob": -1.0,
            "bytes": [97],
            "top_logprobs": [{"token": "a", "logprob": -1.0, "bytes": [97]}],
        },
        {"token": "b", "logprob": -2.0, "bytes": [98]},
    ]
    assert logprob_entries(None) is None and logprob_entries({"content": None}) is None
