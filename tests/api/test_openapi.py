"""``/openapi.json`` describes the API completely and truly.

Completely: every operation declares its request body, its replies (JSON, NDJSON or SSE) and
its errors in the API family's shape, and the document is valid OpenAPI 3.1. Truly: real replies
of a live gateway (in front of the fake Ollama), successes, streams and errors alike, validate
against the schema the same gateway serves, and every operation under ``/api`` and ``/v1`` is
exercised.
"""

from __future__ import annotations

import httpx
import orjson
import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_spec

from ollama_gateway.app import create_app
from tests.support.fake_ollama import BUSY
from tests.support.live import serve
from tests.support.secrets import KEY_A

USER = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}

# (method, path, body, status): each reply is validated against the operation's declaration
EMPTY_DIGEST = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
CALLS = [
    ("GET", "/", None, 200),
    ("GET", "/info", None, 200),
    ("GET", "/health", None, 200),
    ("GET", "/ready", None, 200),
    ("GET", "/metrics", None, 200),
    ("POST", "/api/generate", {"prompt": "hi"}, 200),
    ("POST", "/api/generate", {"model": "llama2", "prompt": "hi", "stream": True}, 200),
    ("POST", "/api/generate", {"model": "midfail", "prompt": "hi", "stream": True}, 200),
    ("POST", "/api/generate", {"model": "thinker", "prompt": "hi", "think": True}, 200),
    ("POST", "/api/generate", {}, 400),
    ("POST", "/api/generate", {"model": "missing", "prompt": "hi"}, 404),
    ("POST", "/api/generate", {"model": "busy", "prompt": "hi"}, 503),
    ("POST", "/api/generate", {"model": "garbage", "prompt": "hi"}, 502),
    ("POST", "/api/chat", {"model": "llama2", "messages": USER}, 200),
    ("POST", "/api/chat", {"model": "llama2", "messages": USER, "stream": False}, 200),
    ("POST", "/api/chat", {"model": "tooler", "messages": USER, "tools": [TOOL]}, 200),
    ("POST", "/api/chat", {"messages": "hi"}, 400),
    ("GET", "/api/tags", None, 200),
    ("GET", "/api/ps", None, 200),
    ("GET", "/api/version", None, 200),
    ("POST", "/api/show", {"model": "llama2:latest"}, 200),
    ("POST", "/api/show", {"model": "nope"}, 404),
    ("POST", "/api/pull", {"model": "schema-test"}, 200),
    ("POST", "/api/pull", {"model": "schema-test", "stream": False}, 200),
    ("POST", "/api/copy", {"source": "schema-test", "destination": "schema-copy"}, 200),
    ("POST", "/api/create", {"model": "schema-made", "from": "schema-test"}, 200),
    ("POST", "/api/create", {"model": "schema-made", "from": "schema-test", "stream": False}, 200),
    ("POST", "/api/create", {"model": "schema-made"}, 400),
    ("HEAD", f"/api/blobs/sha256:{'0' * 64}", None, 404),
    ("POST", f"/api/blobs/{EMPTY_DIGEST}", None, 201),
    ("POST", f"/api/blobs/{EMPTY_DIGEST}", None, 200),
    ("HEAD", f"/api/blobs/{EMPTY_DIGEST}", None, 200),
    ("POST", f"/api/blobs/sha256:{'0' * 64}", None, 400),
    ("HEAD", "/api/blobs/sha256:nope", None, 400),
    ("DELETE", "/api/delete", {"model": "schema-made"}, 200),
    ("DELETE", "/api/delete", {"model": "schema-copy"}, 200),
    ("DELETE", "/api/delete", {"model": "schema-test"}, 200),
    ("POST", "/api/embed", {"model": "m", "input": ["a", "b"]}, 200),
    ("POST", "/api/embeddings", {"model": "m", "prompt": "a"}, 200),
    ("POST", "/v1/chat/completions", {"model": "llama2", "messages": USER}, 200),
    (
        "POST",
        "/v1/chat/completions",
        {
            "model": "llama2",
            "messages": USER,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        200,
    ),
    ("POST", "/v1/chat/completions", {"model": "thinker", "messages": USER, "stream": True}, 200),
    ("POST", "/v1/chat/completions", {"model": "tooler", "messages": USER, "tools": [TOOL]}, 200),
    ("POST", "/v1/chat/completions", {"model": "llama2", "messages": []}, 400),
    ("POST", "/v1/chat/completions", {"model": "missing", "messages": USER}, 404),
    ("POST", "/v1/completions", {"model": "llama2", "prompt": "hi", "echo": True}, 200),
    ("POST", "/v1/completions", {"model": "llama2", "prompt": "hi", "stream": True}, 200),
    ("GET", "/v1/models", None, 200),
    ("GET", "/v1/models/llama2", None, 200),
    ("GET", "/v1/models/nope", None, 404),
    ("POST", "/v1/embeddings", {"model": "m", "input": "a"}, 200),
    ("POST", "/v1/embeddings", {"model": "m", "input": "a", "encoding_format": "base64"}, 200),
    ("POST", "/v1/embeddings", {"model": "m"}, 400),
]
# without a key, on a keyed gateway: the 401 of each family
UNAUTHORIZED = [
    ("POST", "/api/generate", {"prompt": "hi"}),
    ("GET", "/api/tags", None),
    ("GET", "/v1/models", None),
    ("GET", "/info", None),
]


def _template(spec: dict, method: str, path: str) -> str:
    """The spec's path template that ``path`` matches."""
    if path in spec["paths"]:
        return path
    for template in spec["paths"]:
        if "{" in template and path.startswith(template.split("{")[0]):
            return template
    raise AssertionError(f"{method} {path} is not in the schema")


def _items(reply: httpx.Response, media: str) -> list:
    if media == "application/x-ndjson":
        assert reply.text.endswith("\n")
        return [orjson.loads(line) for line in reply.text.splitlines()]
    if media == "text/event-stream":
        events = [e for e in reply.text.split("\n\n") if e]
        assert events[-1] == "data: [DONE]"
        return [orjson.loads(e.removeprefix("data: ")) for e in events[:-1]]
    if media == "application/json":
        return [reply.json()]
    return [reply.text]


def check_reply(spec: dict, method: str, path: str, reply: httpx.Response) -> str:
    """Validate ``reply`` against what the schema declares for it; returns the template."""
    template = _template(spec, method, path)
    operation = spec["paths"][template][method.lower()]
    declared = operation["responses"].get(str(reply.status_code))
    declared = declared or operation["responses"].get("default")
    assert declared is not None, f"{method} {template}: {reply.status_code} is not declared"
    content = declared.get("content") or {}
    if method == "HEAD":  # the status only: a reply to HEAD has no body
        assert reply.content == b"", f"{method} {template}: a body in a reply to HEAD"
        return template
    if not content:
        assert reply.content == b"", f"{method} {template}: a body where none is declared"
        return template
    media = reply.headers["content-type"].split(";")[0].strip()
    matching = [key for key in content if key.split(";")[0].strip() == media]
    assert matching, f"{method} {template} {reply.status_code}: {media} not in {list(content)}"
    schema = content[matching[0]].get("schema", {})
    validator = OAS31Validator({"allOf": [schema], "components": spec["components"]})
    for item in _items(reply, media):
        errors = [e.message for e in validator.iter_errors(item)]
        assert errors == [], f"{method} {path} {reply.status_code}: {errors} in {item}"
    return template


@pytest.fixture
def keyed(ollama, make_settings):
    settings = make_settings(backend="ollama", ollama_url=ollama.url, api_keys=KEY_A)
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture
def spec(keyed) -> dict:
    reply = httpx.get(keyed + "/openapi.json", headers={"X-API-KEY": KEY_A}, timeout=60)
    assert reply.status_code == 200
    return reply.json()


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_the_schema_is_valid_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1")
    validate_spec(spec)


def test_every_operation_declares_its_body_replies_and_errors(spec):
    operations = list(_operations(spec))
    assert len(operations) >= 24
    for method, path, operation in operations:
        where = f"{method} {path}"
        responses = operation["responses"]
        assert "422" not in responses, where  # validation problems are 400s in the API's shape
        if operation.get("security") != []:  # keyed: 401 and every other status documented
            assert "default" in responses, where
        success = min(s for s in responses if s.startswith("2"))
        ok = responses[success]
        empty = ("/api/delete", "/api/copy", "/api/blobs/{digest}")
        if method == "HEAD" or success == "204" or path in empty:
            assert not ok.get("content", {}).get("application/json", {}).get("schema"), where
        else:
            assert ok["content"], where
            assert all(media.get("schema") for media in ok["content"].values()), where
        api = path.startswith(("/api/", "/v1/"))
        if path == "/api/blobs/{digest}" and method == "POST":  # the upload: raw bytes
            body = operation["requestBody"]["content"]["application/octet-stream"]["schema"]
            assert body == {"type": "string", "format": "binary"} and "400" in responses
        elif "requestBody" in operation or (method in ("POST", "DELETE") and api):
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert body["$ref"].startswith("#/components/schemas/"), where
            assert "400" in responses, where
        if path.startswith(("/api/", "/v1/")):
            family = "OpenAIError" if path.startswith("/v1/") else "OllamaError"
            if path == "/api/generate":
                family = "SeedError"
            for status in ("401", "500", "default"):
                schema = responses[status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": f"#/components/schemas/{family}"}, (where, status)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_streams_are_declared_beside_the_json_reply(spec):
    def content(method, path):
        return spec["paths"][path][method]["responses"]["200"]["content"]

    assert set(content("post", "/api/generate")) == {"application/json", "application/x-ndjson"}
    assert set(content("post", "/api/chat")) == {"application/json", "application/x-ndjson"}
    assert set(content("post", "/api/pull")) == {"application/json", "application/x-ndjson"}
    chat = content("post", "/v1/chat/completions")
    assert chat["text/event-stream"]["schema"] == {
        "$ref": "#/components/schemas/ChatCompletionChunk"
    }
    assert chat["application/json"]["schema"] == {"$ref": "#/components/schemas/ChatCompletion"}


def test_every_reference_resolves(spec):
    text = orjson.dumps(spec).decode()
    names = set(spec["components"]["schemas"])
    prefix = '"$ref":"#/components/schemas/'
    refs = {part.split('"')[0] for part in text.split(prefix)[1:]}
    assert refs and refs <= names, refs - names


def test_the_key_is_declared_and_public_routes_need_none(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-KEY"}
    assert schemes["BearerKey"]["scheme"] == "bearer"
    assert {next(iter(s)) for s in spec["security"]} == set(schemes)
    public = {(m, p) for m, p, op in _operations(spec) if op.get("security") == []}
    assert public == {
        ("GET", "/"),
        ("HEAD", "/"),
        ("GET", "/health"),
        ("HEAD", "/health"),
        ("GET", "/ready"),
        ("HEAD", "/ready"),
    }


def test_real_replies_validate_against_the_schema(spec, keyed, ollama):
    ollama.script("midfail", fail_after=2)
    ollama.script("busy", status=503, error=BUSY)
    ollama.script("garbage", raw=b"<html>not json</html>")
    exercised = set()
    models = list(ollama.models)
    try:
        with httpx.Client(base_url=keyed, headers={"X-API-KEY": KEY_A}, timeout=30) as client:
            for method, path, body, status in CALLS:
                reply = client.request(method, path, json=body)
                assert reply.status_code == status, (method, path, reply.text)
                exercised.add((method, check_reply(spec, method, path, reply)))
    finally:
        ollama.models[:] = models  # the fake Ollama is shared by the whole session
        ollama.blobs.clear()
        for method, path, body in UNAUTHORIZED:
            reply = httpx.request(method, keyed + path, json=body)
            assert reply.status_code == 401
            check_reply(spec, method, path, reply)
    api = {(m, p) for m, p, _ in _operations(spec) if p.startswith(("/api/", "/v1/"))}
    assert api - exercised == set()
