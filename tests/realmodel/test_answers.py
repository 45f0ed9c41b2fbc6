"""A trained model answers what a trained model knows, through every API of the gateway.

Greedy decoding (temperature 0), so each answer is the model's single most likely one; the
expected words are ones SmolLM2-135M-Instruct gets right.
"""

from __future__ import annotations

import socket

import httpx
import ollama
import openai
import pytest

from tests.support.secrets import KEY_A

MODEL = "smollm2:135m"
GREEDY = {"temperature": 0, "num_predict": 40}
FACTS = [
    ("What is the capital of France?", "Paris"),
    ("What is the capital of Japan?", "Tokyo"),
    ("What is the opposite of hot?", "cold"),
    ("What is the largest ocean on Earth?", "Pacific"),
    ("What is the chemical symbol for water?", "H2O"),
    ("Who wrote Romeo and Juliet?", "Shakespeare"),
]


def _ollama(url: str) -> ollama.Client:
    return ollama.Client(host=url, headers={"Authorization": f"Bearer {KEY_A}"}, timeout=120)


def _openai(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=KEY_A, max_retries=0, timeout=120)


def test_the_seed_call_answers_with_the_real_model(gateway):
    r = httpx.post(
        gateway + "/api/generate",
        json={"prompt": "What is the capital of France?", "options": GREEDY},
        headers={"X-API-KEY": KEY_A},
        timeout=120,
    )
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == MODEL  # the default model of this gateway
    assert "Paris" in body["generated_text"]
    assert body["generated_text"] == body["response"]
    assert isinstance(body["elapsed_time"], float) and body["elapsed_time"] > 0
    assert httpx.post(gateway + "/api/generate", json={"prompt": "x"}).status_code == 401


@pytest.mark.parametrize(("question", "answer"), FACTS)
def test_greedy_chat_answers_what_a_trained_model_knows(gateway, question, answer):
    reply = _ollama(gateway).chat(
        model=MODEL, messages=[{"role": "user", "content": question}], options=GREEDY
    )
    assert answer.lower() in reply.message.content.lower()
    assert reply.done_reason in ("stop", "length")


def test_openai_chat_streamed_and_whole_agree_and_answer(gateway):
    client = _openai(gateway)
    messages = [{"role": "user", "content": "What is the capital of Japan?"}]
    whole = client.chat.completions.create(
        model=MODEL, messages=messages, temperature=0, max_tokens=40
    )
    text = whole.choices[0].message.content
    assert "Tokyo" in text
    parts = client.chat.completions.create(
        model=MODEL, messages=messages, temperature=0, max_tokens=40, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in parts if c.choices) == text
    assert whole.usage.completion_tokens > 0 and whole.usage.prompt_tokens > 0


def test_native_generate_stream_matches_the_whole_reply(gateway):
    """Streamed and whole replies carry the same text, compared in the same prompt-cache state.

    (A prompt that is entirely in the cache is re-evaluated from its last token alone; llama.cpp
    computes a one-token batch with other kernels than a longer one, so a greedy answer can
    differ from the first, uncached, one. llama-server does the same; see the identity test.)
    """
    client = _ollama(gateway)
    prompt = "What is the opposite of hot?"
    first = client.generate(model=MODEL, prompt=prompt, options=GREEDY)
    whole = client.generate(model=MODEL, prompt=prompt, options=GREEDY)  # now fully cached
    parts = client.generate(model=MODEL, prompt=prompt, options=GREEDY, stream=True)
    streamed = "".join(p.response for p in parts)
    assert "cold" in first.response.lower() and "cold" in whole.response.lower()
    assert streamed == whole.response


def test_a_system_prompt_steers_the_model(gateway):
    reply = _ollama(gateway).chat(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Your name is Max."},
            {"role": "user", "content": "What is your name?"},
        ],
        options=GREEDY,
    )
    assert "Max" in reply.message.content


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_packaged_model_is_listed_shown_copied_deleted_and_pulled_offline(gateway):
    client = _ollama(gateway)
    listed = {m.model: m for m in client.list().models}
    assert MODEL in listed
    assert listed[MODEL].details.parameter_size == "135M"
    assert listed[MODEL].details.quantization_level == "Q4_1"
    shown = client.show(MODEL)
    assert "Apache-2.0" in (shown.license or "")
    assert MODEL in [m.model for m in client.ps().models]
    client.copy(MODEL, "smol-copy:latest")
    assert "smol-copy:latest" in [m.model for m in client.list().models]
    client.delete("smol-copy:latest")
    assert "smol-copy:latest" not in [m.model for m in client.list().models]
    models = [m.id for m in _openai(gateway).models.list().data]
    assert MODEL in models
    # pulling it again comes from the installed package: no registry is reachable from here
    progress = [p.status for p in client.pull(MODEL, stream=True)]
    assert progress[0].startswith("importing smollm2:135m from the installed package")
    assert progress[-1] == "success"
