"""``/v1/completions``, ``/v1/models`` and ``/v1/embeddings`` on the wire."""

from __future__ import annotations

import base64
import struct

import httpx
import pytest

from tests.api.conftest import sse


def test_text_completion_object(gateway, ollama):
    r = httpx.post(
        gateway + "/v1/completions",
        json={"model": "llama2", "prompt": "Say hi", "max_tokens": 7, "stop": ["\n"]},
    )
    body = r.json()
    assert body["id"].startswith("cmpl-") and body["object"] == "text_completion"
    assert body["choices"] == [
        {"text": "Hello, world!", "index": 0, "logprobs": None, "finish_reason": "stop"}
    ]
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert ollama.last("/api/generate").body == {
        "model": "llama2",
        "prompt": "Say hi",
        "options": {"num_predict": 7, "stop": ["\n"]},
        "stream": False,
    }


def test_prompt_as_a_list_of_one_suffix_and_echo(gateway, ollama):
    r = httpx.post(
        gateway + "/v1/completions",
        json={"model": "llama2", "prompt": ["def f("], "suffix": "return x", "echo": True},
    )
    assert r.json()["choices"][0]["text"] == "def f(Hello, world!"
    assert ollama.last("/api/generate").body["suffix"] == "return x"


def test_streamed_completion(gateway):
    r = httpx.post(
        gateway + "/v1/completions",
        json={
            "model": "llama2",
            "prompt": "P: ",
            "stream": True,
            "echo": True,
            "stream_options": {"include_usage": True},
        },
    )
    *chunks, usage, done = sse(r)
    assert done == "[DONE]"
    assert [c["choices"][0]["text"] for c in chunks] == ["P: Hello", ",", " world", "!", ""]
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"
    assert all(c["object"] == "text_completion" and c["usage"] is None for c in chunks)
    assert usage["usage"]["total_tokens"] == 7 and usage["choices"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prompt": ["a", "b"]}, "only one prompt per request is supported"),
        ({"prompt": [1, 2, 3]}, "prompts as token ids are not supported; send text"),
        ({"prompt": "x", "logprobs": 21}, "logprobs must be between 0 and 20"),
        ({"prompt": "x", "best_of": 3}, "only best_of=1 is supported"),
        ({"prompt": "x", "n": 3}, "only n=1 is supported"),
    ],
)
def test_unsupported_completion_fields_are_400(gateway, body, message):
    r = httpx.post(gateway + "/v1/completions", json={"model": "llama2", **body})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == message


def test_models_list_and_get(gateway, ollama):
    ollama.models.append("team/coder:7b")
    try:
        data = httpx.get(gateway + "/v1/models").json()
        assert data["object"] == "list"
        assert data["data"][0] == {
            "id": "deepseek-r1:1.5b",
            "object": "model",
            "created": 1735689600,
            "owned_by": "library",
        }
        r = httpx.get(gateway + "/v1/models/team/coder:7b")
        assert r.json() == {
            "id": "team/coder:7b",
            "object": "model",
            "created": 1735689600,
            "owned_by": "team",
        }
        assert httpx.get(gateway + "/v1/models/llama2").json()["id"] == "llama2:latest"
    finally:
        ollama.models.remove("team/coder:7b")


def test_unknown_model_is_404(gateway):
    r = httpx.get(gateway + "/v1/models/nope:1b")
    assert r.status_code == 404
    assert r.json()["error"] == {
        "message": "The model 'nope:1b' does not exist",
        "type": "not_found_error",
        "param": None,
        "code": "model_not_found",
    }


def test_embeddings_as_floats(gateway, ollama):
    r = httpx.post(
        gateway + "/v1/embeddings",
        json={"model": "llama2", "input": ["a", "b"], "encoding_format": "float"},
    )
    assert r.json() == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.1, 1.1, 2.1]},
            {"object": "embedding", "index": 1, "embedding": [0.2, 1.2, 2.2]},
        ],
        "model": "llama2",
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }
    assert ollama.last("/api/embed").body == {"model": "llama2", "input": ["a", "b"]}


def test_embeddings_as_base64_little_endian_float32(gateway, ollama):
    r = httpx.post(
        gateway + "/v1/embeddings",
        json={"model": "llama2", "input": "a", "encoding_format": "base64", "dimensions": 2},
    )
    encoded = r.json()["data"][0]["embedding"]
    assert struct.unpack("<2f", base64.b64decode(encoded)) == pytest.approx((0.1, 1.1))
    assert ollama.last("/api/embed").body["dimensions"] == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"input": [[1, 2]]}, "inputs as token ids are not supported"),
        ({"input": []}, "input must not be empty"),
        ({"input": "x", "encoding_format": "int8"}, "invalid 'encoding_format'"),
        ({}, "field 'input' is required"),
    ],
)
def test_bad_embedding_requests_are_400(gateway, body, message):
    r = httpx.post(gateway + "/v1/embeddings", json={"model": "llama2", **body})
    assert r.status_code == 400
    assert message in r.json()["error"]["message"]


def test_unknown_v1_route_is_404_in_openai_shape(gateway):
    r = httpx.post(gateway + "/v1/audio/speech", json={})
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "no route POST /v1/audio/speech"
