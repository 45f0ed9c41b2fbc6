"""What other people's clients found (issue 11 §5.4-§5.7), each checked with that kind of client.

- §5.4 ``GET /`` is Ollama's plain ``Ollama is running``, byte for byte (tools detect Ollama by
  comparing it), with no key; the service info moved to ``/info``.
- §5.5 an explicit ``null`` is the same as an absent field: every optional field of every body
  (and of the objects in it), taken from the served schema, sent as ``null``; and the official
  ``openai`` SDK passing ``None`` for its optional parameters.
- §5.6 ``chat.completion`` messages carry ``refusal: null``; every field that OpenAI's spec
  requires is present in chat completions, their chunks and text completions.
- §5.7 an unknown ``/v1`` route is OpenAI's invalid-URL error, with a null ``code``.
"""

from __future__ import annotations

import socket
from typing import Any

import httpx
import openai
import orjson
import pytest

from ollama_gateway.app import create_app
from tests.api.conftest import sse
from tests.support.live import serve
from tests.support.secrets import KEY_A

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
def keyed(ollama, make_settings):
    settings = make_settings(backend="ollama", ollama_url=ollama.url, api_keys=KEY_A)
    with serve(create_app(settings)) as url:
        yield url


def _raw(url: str, method: str) -> bytes:
    """The whole reply to ``METHOD /`` as bytes, read off the socket."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"{method} / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


# --- §5.4 ---------------------------------------------------------------------------------


def test_root_is_ollamas_plain_text_without_a_key(keyed):
    head, _, body = _raw(keyed, "GET").partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"content-type: text/plain; charset=utf-8" in [line.lower() for line in lines]
    assert b"content-length: 17" in [line.lower() for line in lines]
    assert body == b"Ollama is running"
    # how Ollama clients detect a server: the text, compared exactly
    assert httpx.get(keyed + "/").text == "Ollama is running"


def test_head_root_has_the_headers_and_no_body(keyed):
    head, _, body = _raw(keyed, "HEAD").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"content-length: 17" in head.lower()
    assert body == b""


def test_service_info_moved_to_info_behind_the_key(keyed):
    assert httpx.get(keyed + "/info").status_code == 401
    info = httpx.get(keyed + "/info", headers={"X-API-KEY": KEY_A}).json()
    assert info["name"] == "ollama-gateway" and info["backend"] == "ollama"
    assert httpx.get(keyed + "/api/version", headers={"X-API-KEY": KEY_A}).json() == {
        "version": "0.12.0"
    }


# --- §5.5 ---------------------------------------------------------------------------------

# A valid body per route; each variant sets one optional field (or a field of an object in
# the body) to null, and must be answered like the base body.
BASES: dict[str, tuple[str, dict[str, Any]]] = {
    "/api/generate": ("POST", {"model": "llama2", "prompt": "hi", "stream": False}),
    "/api/chat": ("POST", {"model": "llama2", "messages": USER, "stream": False}),
    "/api/show": ("POST", {"model": "llama2:latest", "name": "llama2:latest"}),
    "/api/pull": ("POST", {"model": "null-test", "name": "null-test", "stream": False}),
    "/api/copy": ("POST", {"source": "llama2:latest", "destination": "null-copy"}),
    "/api/delete": ("DELETE", {"model": "null-copy", "name": "null-copy"}),
    "/api/embed": ("POST", {"model": "m", "input": "a", "options": {}}),
    "/api/embeddings": ("POST", {"model": "m", "prompt": "a", "options": {}}),
    "/v1/chat/completions": (
        "POST",
        {
            "model": "llama2",
            "messages": USER,
            "stream_options": {"include_usage": False},
            "response_format": {"type": "text"},
        },
    ),
    "/v1/completions": ("POST", {"model": "llama2", "prompt": "hi"}),
    "/v1/embeddings": ("POST", {"model": "m", "input": "a"}),
}


def _resolve(spec: dict, schema: dict) -> dict | None:
    """The object schema ``schema`` stands for (through $ref and anyOf), or None."""
    for option in [schema, *schema.get("anyOf", [])]:
        if "$ref" in option:
            return spec["components"]["schemas"][option["$ref"].rsplit("/", 1)[1]]
        if option.get("type") == "array" and "$ref" in option.get("items", {}):
            return _resolve(spec, option["items"])
    return None


def _optional(schema: dict) -> list[str]:
    required = set(schema.get("required", ()))
    return [name for name in schema.get("properties", {}) if name not in required]


def null_variants(spec: dict, body_schema: dict, base: dict) -> list[tuple[str, dict]]:
    """(label, body) for every optional field, and every optional field of a nested object
    that the base body has, set to null."""
    out = [(name, {**base, name: None}) for name in _optional(body_schema)]
    for name, prop in body_schema["properties"].items():
        nested = _resolve(spec, prop)
        if nested is None or name not in base:
            continue
        is_list = isinstance(base[name], list)
        inner = base[name][0] if is_list else base[name]
        for field in _optional(nested):
            value = {**inner, field: None}
            out.append((f"{name}.{field}", {**base, name: [value] if is_list else value}))
    return out


@pytest.mark.parametrize("path", sorted(BASES))
def test_null_is_absent_in_every_optional_field(gateway, ollama, path):
    spec = httpx.get(gateway + "/openapi.json", timeout=60).json()
    method, base = BASES[path]
    operation = spec["paths"][path][method.lower()]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body_schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    variants = null_variants(spec, body_schema, base)
    assert variants or not _optional(body_schema)
    models = list(ollama.models)
    try:
        with httpx.Client(base_url=gateway, timeout=30) as client:
            for label, body in [("base", base), *variants]:
                if path == "/api/delete":  # each delete needs its model
                    copy = {"source": "llama2:latest", "destination": "null-copy"}
                    client.post("/api/copy", json=copy)
                reply = client.request(method, path, json=body)
                assert reply.status_code == 200, (path, label, reply.text)
    finally:
        ollama.models[:] = models  # the fake Ollama is shared by the whole session


def test_ollama_fields_its_decoder_ignores_when_null(gateway, ollama):
    r = httpx.post(
        gateway + "/api/generate",
        json={"model": "llama2", "prompt": "hi", "raw": None, "stream": None, "images": None},
    )
    assert r.status_code == 200 and r.json()["response"] == "Hello, world!"
    r = httpx.post(gateway + "/api/embed", json={"model": "m", "input": "a", "truncate": None})
    assert r.status_code == 200
    assert ollama.last("/api/embed").body.get("truncate", True) is True  # Ollama's default


def test_openai_sdk_with_none_for_its_optional_parameters(gateway, ollama):
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="unused", max_retries=0)
    text = client.completions.create(
        model="llama2",
        prompt="hi",
        echo=None,
        stream=None,
        stop=None,
        temperature=None,
        max_tokens=None,
        suffix=None,
        seed=None,
    )
    assert text.choices[0].text == "Hello, world!"
    chat = client.chat.completions.create(
        model="llama2",
        messages=USER,
        stream=None,
        stop=None,
        temperature=None,
        top_p=None,
        max_tokens=None,
        n=None,
        presence_penalty=None,
        logprobs=None,
    )
    assert chat.choices[0].message.content == "Hello, world!"
    sent = ollama.last("/api/chat").body
    assert "options" not in sent or sent["options"] == {}


# --- §5.6 ---------------------------------------------------------------------------------

# Required by OpenAI's published spec (CreateChatCompletionResponse,
# CreateChatCompletionStreamResponse, CreateCompletionResponse and their choices/messages).
REQUIRED = {
    "chat.completion": ({"id", "object", "created", "model", "choices"}),
    "chat.completion.choice": {"finish_reason", "index", "message", "logprobs"},
    "chat.completion.message": {"role", "content", "refusal"},
    "chat.completion.chunk": {"id", "object", "created", "model", "choices"},
    "chat.completion.chunk.choice": {"delta", "finish_reason", "index"},
    "text_completion": {"id", "object", "created", "model", "choices"},
    "text_completion.choice": {"finish_reason", "index", "logprobs", "text"},
}


def _check_required(obj: dict) -> None:
    kind = obj["object"]
    assert REQUIRED[kind] <= set(obj), (kind, obj)
    for choice in obj["choices"]:
        assert REQUIRED[f"{kind}.choice"] <= set(choice), (kind, choice)
        if kind == "chat.completion":
            assert REQUIRED["chat.completion.message"] <= set(choice["message"])


@pytest.mark.parametrize("model", ["llama2", "tooler", "thinker"])
def test_every_required_field_is_present(gateway, model):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    body = {"model": model, "messages": USER, "tools": tools}
    _check_required(httpx.post(gateway + "/v1/chat/completions", json=body).json())
    streamed = httpx.post(gateway + "/v1/chat/completions", json={**body, "stream": True})
    for event in sse(streamed)[:-1]:
        _check_required(event)
    body = {"model": model, "prompt": "hi"}
    _check_required(httpx.post(gateway + "/v1/completions", json=body).json())
    streamed = httpx.post(gateway + "/v1/completions", json={**body, "stream": True})
    for event in sse(streamed)[:-1]:
        _check_required(event)


def test_openai_sdk_sees_refusal_in_the_message(gateway):
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="unused", max_retries=0)
    message = client.chat.completions.create(model="llama2", messages=USER).choices[0].message
    assert "refusal" in message.model_fields_set  # sent, not defaulted by the SDK
    assert message.refusal is None


# --- §5.7 ---------------------------------------------------------------------------------


def test_unknown_v1_route_is_an_invalid_url_with_a_null_code(gateway):
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        client.audio.speech.create(model="tts-1", voice="alloy", input="hi")
    assert info.value.code is None
    assert info.value.type == "invalid_request_error"
    r = httpx.get(gateway + "/v1/no/such/thing")
    assert r.status_code == 404
    assert orjson.loads(r.content) == {
        "error": {
            "message": "no route GET /v1/no/such/thing",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    # a missing model keeps its code
    assert httpx.get(gateway + "/v1/models/nope").json()["error"]["code"] == "model_not_found"
