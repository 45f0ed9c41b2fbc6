"""The official ``openai`` Python SDK against a live gateway, through our auth."""

from __future__ import annotations

import openai
import pytest

from tests.support.secrets import KEY_A, WRONG_KEY


def client(target, key: str = KEY_A) -> openai.OpenAI:
    return openai.OpenAI(base_url=target.url + "/v1", api_key=key, max_retries=0, timeout=60)


USER = [{"role": "user", "content": "Say hi"}]


def test_chat_completion(target):
    reply = client(target).chat.completions.create(model=target.model, messages=USER, max_tokens=8)
    choice = reply.choices[0]
    assert choice.finish_reason in ("stop", "length")
    assert choice.message.role == "assistant" and choice.message.content
    assert reply.usage.completion_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    if target.expected_text:
        assert choice.message.content == target.expected_text


def test_streamed_chat_with_usage(target):
    stream = client(target).chat.completions.create(
        model=target.model,
        messages=USER,
        max_completion_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    finals = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finals in (["stop"], ["length"])
    if target.expected_text:
        assert text == target.expected_text


def test_text_completion(target):
    reply = client(target).completions.create(model=target.model, prompt="Once", max_tokens=8)
    assert reply.choices[0].text
    streamed = client(target).completions.create(
        model=target.model, prompt="Once", max_tokens=8, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed)


def test_models_list_and_retrieve(target):
    c = client(target)
    ids = [m.id for m in c.models.list()]
    assert target.model in ids
    assert c.models.retrieve(target.model).id == target.model


def test_embeddings_default_base64_and_float(target):
    c = client(target)
    default = c.embeddings.create(model=target.model, input=["one", "two"])  # SDK asks base64
    floats = c.embeddings.create(model=target.model, input=["one", "two"], encoding_format="float")
    assert len(default.data) == 2
    assert default.data[1].index == 1
    assert default.data[0].embedding == pytest.approx(floats.data[0].embedding, rel=1e-6)


def test_missing_model_is_not_found_error(target):
    c = client(target)
    with pytest.raises(openai.NotFoundError) as info:
        c.chat.completions.create(model=target.missing, messages=USER)
    assert info.value.body["message"] == f'model "{target.missing}" not found, try pulling it first'
    with pytest.raises(openai.NotFoundError):
        c.models.retrieve("no-such-model:9b")


def test_wrong_key_is_authentication_error(target):
    with pytest.raises(openai.AuthenticationError) as info:
        client(target, WRONG_KEY).models.list()
    assert info.value.body["message"] == "Invalid or missing API key"


def test_unsupported_parameter_is_bad_request(target):
    with pytest.raises(openai.BadRequestError) as info:
        client(target).chat.completions.create(model=target.model, messages=USER, n=2)
    assert info.value.body["message"] == "only n=1 is supported"
