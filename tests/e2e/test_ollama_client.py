"""The official ``ollama`` Python client against a live gateway, through our auth."""

from __future__ import annotations

import ollama
import pytest

from tests.support.secrets import KEY_A, WRONG_KEY


def client(target, key: str = KEY_A) -> ollama.Client:
    return ollama.Client(host=target.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def test_generate(target):
    reply = client(target).generate(model=target.model, prompt="Say hi", options={"num_predict": 8})
    assert reply.done is True and reply.done_reason in ("stop", "length")
    assert isinstance(reply.response, str) and reply.response
    assert reply.eval_count and reply.eval_count > 0
    assert reply.context
    if target.expected_text:
        assert reply.response == target.expected_text


def test_generate_streaming(target):
    parts = list(
        client(target).generate(
            model=target.model, prompt="Say hi", stream=True, options={"num_predict": 8}
        )
    )
    assert len(parts) >= 2
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    text = "".join(p.response for p in parts)
    assert text
    if target.expected_text:
        assert text == target.expected_text


def test_chat_and_streaming_chat(target):
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hi"},
    ]
    c = client(target)
    reply = c.chat(model=target.model, messages=messages, options={"num_predict": 8})
    assert reply.message.role == "assistant" and reply.message.content
    parts = list(
        c.chat(model=target.model, messages=messages, stream=True, options={"num_predict": 8})
    )
    assert parts[-1].done and parts[-1].eval_count
    if target.expected_text:
        assert reply.message.content == target.expected_text
        assert "".join(p.message.content for p in parts) == target.expected_text


def test_list_show_ps(target):
    c = client(target)
    names = [m.model for m in c.list().models]
    assert target.model in names
    shown = c.show(target.model)
    assert shown.modelinfo is not None
    assert isinstance(c.ps().models, list)


def test_embed_and_legacy_embeddings(target):
    c = client(target)
    result = c.embed(model=target.model, input=["one", "two"])
    assert len(result.embeddings) == 2
    assert len(result.embeddings[0]) == len(result.embeddings[1]) > 0
    legacy = c.embeddings(model=target.model, prompt="one")
    assert len(legacy.embedding) == len(result.embeddings[0])


def test_copy_then_delete(target):
    c = client(target)
    assert c.copy(target.model, "e2e-copy:latest").status == "success"
    assert "e2e-copy:latest" in [m.model for m in c.list().models]
    assert c.delete("e2e-copy:latest").status == "success"
    assert "e2e-copy:latest" not in [m.model for m in c.list().models]


def test_pull_streamed_and_not(target):
    c = client(target)
    events = list(c.pull("e2e-pulled:1b", stream=True))
    assert events[-1].status == "success"
    assert c.pull("e2e-pulled:1b").status == "success"
    c.delete("e2e-pulled:1b")


def test_missing_model_is_a_response_error_with_our_message(target):
    c = client(target)
    missing = target.missing
    for call in (
        lambda: c.generate(model=missing, prompt="x"),
        lambda: list(c.chat(model=missing, messages=[], stream=True)),
        lambda: c.show(missing),
    ):
        with pytest.raises(ollama.ResponseError) as info:
            call()
        assert info.value.status_code == 404
        assert info.value.error == f'model "{missing}" not found, try pulling it first'


def test_wrong_key_is_a_response_error_401(target):
    with pytest.raises(ollama.ResponseError) as info:
        client(target, WRONG_KEY).list()
    assert info.value.status_code == 401
    assert info.value.error == "Invalid or missing API key"
