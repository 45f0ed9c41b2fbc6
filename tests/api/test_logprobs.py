"""``logprobs`` / ``top_logprobs`` on the embedded engine, through the official ``ollama`` and
``openai`` clients: at temperature 0 the sampled token is the most likely one, the alternatives
are sorted, the probabilities sum to at most 1, the bytes spell the output, and streamed and
whole replies carry the same numbers."""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import ollama
import openai
import pytest

from tests.client.gateway import KEY, running_embedded_gateway
from tests.support.live import wait_ready

pytestmark = pytest.mark.slow  # real llama.cpp inference

# Greedy, no penalties: the pick is the argmax of the very logits the logprobs come from.
GREEDY = {"temperature": 0, "repeat_penalty": 1, "num_predict": 12, "seed": 1}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[str]:
    from tests.support.gguf_models import write_tiny_llama

    tmp = tmp_path_factory.mktemp("lp")
    model = write_tiny_llama(tmp / "tiny.gguf", n_ctx=512, seed=2)
    with running_embedded_gateway(model, tmp / "store") as url:
        wait_ready(url, headers={"X-API-KEY": KEY})
        yield url


def _check(entries: list[dict], top: int) -> None:
    for entry in entries:
        alternatives = entry["top_logprobs"]
        assert len(alternatives) == top
        values = [a["logprob"] for a in alternatives]
        assert values == sorted(values, reverse=True)
        assert entry["logprob"] <= 0 and all(v <= 0 for v in values)
        assert sum(math.exp(v) for v in values) <= 1 + 1e-9
        # greedy: the sampled token is the most likely one
        assert entry["logprob"] == pytest.approx(values[0], abs=1e-12)
        assert alternatives[0]["token"] == entry["token"]
        assert alternatives[0].get("bytes") == entry.get("bytes")  # the ollama client drops them


def test_ollama_generate_and_chat(gateway):
    client = ollama.Client(host=gateway, headers={"X-API-KEY": KEY}, timeout=60)
    body = {"prompt": "hello world", "stream": False, "options": GREEDY}
    raw = httpx.post(
        f"{gateway}/api/generate",
        json={**body, "logprobs": True, "top_logprobs": 5},
        headers={"X-API-KEY": KEY},
        timeout=60,
    ).json()
    entries = raw["logprobs"]
    # every generated token has one; the end-of-generation token counts but is not output
    assert len(entries) == raw["eval_count"] - (raw["done_reason"] == "stop") > 0
    _check(entries, 5)
    spelled = b"".join(bytes(e["bytes"]) for e in entries)
    assert spelled.decode("utf-8", "replace") == raw["response"]

    # Streamed and whole agree exactly once the prompt is cached the same way for both.
    whole = client.generate("tiny", "hello world", options=GREEDY, logprobs=True, top_logprobs=5)
    streamed = [
        lp
        for part in client.generate(
            "tiny", "hello world", options=GREEDY, logprobs=True, top_logprobs=5, stream=True
        )
        for lp in part.logprobs or ()
    ]
    again = client.generate("tiny", "hello world", options=GREEDY, logprobs=True, top_logprobs=5)
    assert [lp.model_dump() for lp in streamed] == [lp.model_dump() for lp in again.logprobs]
    assert [e.token for e in whole.logprobs] == [e["token"] for e in entries]
    for cold, warm in zip(entries, again.logprobs, strict=True):  # only the cache differs
        assert cold["logprob"] == pytest.approx(warm.logprob, abs=1e-5)

    plain = client.generate("tiny", "hello world", options=GREEDY)
    assert plain.logprobs is None  # not asked: not sent

    chat = client.chat(
        "tiny", [{"role": "user", "content": "hi"}], options=GREEDY, logprobs=True, top_logprobs=3
    )
    _check([lp.model_dump() for lp in chat.logprobs], 3)
    assert len(chat.logprobs) == chat.eval_count - (chat.done_reason == "stop")


def test_openai_chat_and_completions(gateway):
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=KEY, timeout=60)
    ask = {"model": "tiny", "temperature": 0, "max_tokens": 10, "seed": 1}
    ask["extra_body"] = {"repeat_penalty": 1}
    messages = [{"role": "user", "content": "hi"}]
    client.chat.completions.create(messages=messages, **ask)  # the prompt cached, as below
    whole = client.chat.completions.create(messages=messages, logprobs=True, top_logprobs=4, **ask)
    content = whole.choices[0].logprobs.content
    ended = whole.choices[0].finish_reason == "stop"
    assert len(content) == whole.usage.completion_tokens - ended
    _check([c.model_dump() for c in content], 4)
    streamed = [
        item
        for event in client.chat.completions.create(
            messages=messages, logprobs=True, top_logprobs=4, stream=True, **ask
        )
        if event.choices and event.choices[0].logprobs
        for item in event.choices[0].logprobs.content
    ]
    assert [c.model_dump() for c in streamed] == [c.model_dump() for c in content]
    without = client.chat.completions.create(messages=messages, **ask)
    assert without.choices[0].logprobs is None

    text = client.completions.create(prompt="hello", logprobs=3, echo=True, **ask)
    lp = text.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) > 0
    assert lp.text_offset[0] == len("hello")  # after the echoed prompt
    for token, value, top, offset in zip(
        lp.tokens, lp.token_logprobs, lp.top_logprobs, lp.text_offset, strict=True
    ):
        assert value == pytest.approx(max(top.values()), abs=1e-12) and len(top) <= 3
        assert text.choices[0].text[offset : offset + len(token)] == token or "\ufffd" in token
    parts = [
        e.choices[0].logprobs
        for e in client.completions.create(prompt="hello", logprobs=3, stream=True, **ask)
        if e.choices and e.choices[0].logprobs
    ]
    assert [t for p in parts for t in p.tokens] == lp.tokens


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/api/generate", {"prompt": "x", "logprobs": True, "top_logprobs": 21}, "between 0"),
        ("/api/chat", {"messages": [], "logprobs": True, "top_logprobs": -1}, "between 0"),
        (
            "/v1/chat/completions",
            {"model": "tiny", "messages": [{"role": "user", "content": "x"}], "top_logprobs": 3},
            "logprobs must be true",
        ),
        (
            "/v1/chat/completions",
            {
                "model": "tiny",
                "messages": [{"role": "user", "content": "x"}],
                "logprobs": True,
                "top_logprobs": 99,
            },
            "between 0 and 20",
        ),
        ("/v1/completions", {"model": "tiny", "prompt": "x", "logprobs": 21}, "between 0"),
    ],
)
def test_bounds(gateway, path, body, message):
    reply = httpx.post(f"{gateway}{path}", json=body, headers={"X-API-KEY": KEY}, timeout=30)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert message in (error["message"] if isinstance(error, dict) else error)


def test_log_softmax_and_top_k_on_known_logits():
    import numpy as np

    from ollama_gateway.backends.llama_cpp.logprobs import token_logprobs

    logits = np.array([0.0, math.log(3.0), 0.0, math.log(3.0)], dtype=np.float32)
    entry = token_logprobs(logits, 3, 3, lambda t: bytes([65 + t]))
    assert entry["token"] == "D" and entry["bytes"] == [68]
    assert entry["logprob"] == pytest.approx(math.log(3 / 8), rel=1e-6)
    # ties are ordered by token id; three of four asked
    assert [t["token"] for t in entry["top_logprobs"]] == ["B", "D", "A"]
    assert "top_logprobs" not in token_logprobs(logits, 0, 0, lambda t: b"x")
