"""``/api/generate`` and ``/api/chat`` as Ollama's clients see them, through a live gateway."""

from __future__ import annotations

import httpx
import pytest

from ollama_gateway.core.types import Chunk
from ollama_gateway.errors import ModelNotFound, ServerBusy, Unsupported
from tests.api.conftest import ndjson
from tests.support.fake_ollama import BUSY, MIDFAIL, NO_IMAGES
from tests.support.scripted import ScriptedBackend

FINAL_FIELDS = {
    "model",
    "created_at",
    "response",
    "done",
    "done_reason",
    "context",
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
}


def test_generate_stream_is_ndjson_with_ollama_fields(gateway):
    r = httpx.post(
        gateway + "/api/generate", json={"model": "llama2", "prompt": "hi", "stream": True}
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-ndjson"
    lines = ndjson(r)
    for line in lines[:-1]:
        assert set(line) == {"model", "created_at", "response", "done"}
        assert line["done"] is False and line["model"] == "llama2"
        assert line["created_at"].endswith("Z")
    assert set(lines[-1]) == FINAL_FIELDS
    assert lines[-1]["context"] == [1, 2, 3]
    assert lines[-1]["total_duration"] == 1000


def test_generate_without_stream_keeps_the_seed_fields(gateway):
    r = httpx.post(gateway + "/api/generate", json={"model": "llama2", "prompt": "hi"})
    body = r.json()
    assert set(body) == FINAL_FIELDS | {"generated_text", "elapsed_time"}
    assert body["response"] == body["generated_text"] == "Hello, world!"


def test_generate_stream_false_is_one_object(gateway):
    r = httpx.post(
        gateway + "/api/generate", json={"model": "llama2", "prompt": "hi", "stream": False}
    )
    assert r.json()["response"] == "Hello, world!"
    assert r.json()["done"] is True


def test_chat_final_chunk_and_message_shape(gateway):
    r = httpx.post(
        gateway + "/api/chat",
        json={"model": "llama2", "messages": [{"role": "user", "content": "hi"}]},
    )
    lines = ndjson(r)
    assert [line["message"] for line in lines[:2]] == [
        {"role": "assistant", "content": "Hello"},
        {"role": "assistant", "content": ","},
    ]
    final = lines[-1]
    assert final["done"] is True and final["message"] == {"role": "assistant", "content": ""}
    assert final["done_reason"] == "stop" and final["eval_count"] == 4
    assert "context" not in final


@pytest.mark.parametrize("path", ["/api/generate", "/api/chat"])
@pytest.mark.parametrize(
    ("model", "status", "message"),
    [
        ("missing", 404, 'model "missing" not found, try pulling it first'),
        ("busy", 503, BUSY),
    ],
)
def test_upstream_errors_keep_ollama_status_and_text(gateway, ollama, path, model, status, message):
    ollama.script("busy", status=503, error=BUSY)
    body = {"model": model, "prompt": "x", "messages": [{"role": "user", "content": "x"}]}
    for stream in (True, False):
        r = httpx.post(gateway + path, json={**body, "stream": stream})
        assert r.status_code == status
        assert r.json()["error"] == message


@pytest.mark.parametrize("path", ["/api/generate", "/api/chat"])
def test_error_after_streaming_began_is_one_in_band_line(gateway, ollama, path):
    ollama.script("midfail", fail_after=2)
    body = {
        "model": "midfail",
        "prompt": "x",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
    }
    r = httpx.post(gateway + path, json=body)
    assert r.status_code == 200
    lines = ndjson(r)
    assert len(lines) == 3
    assert lines[-1] == {"error": MIDFAIL}
    assert all(line["done"] is False for line in lines[:-1])


def test_upstream_dropping_mid_stream_is_an_in_band_error(gateway, ollama):
    ollama.script("drop", drop_after=2)
    r = httpx.post(gateway + "/api/chat", json={"model": "drop", "messages": []})
    lines = ndjson(r)
    assert set(lines[-1]) == {"error"}
    assert "closed the connection" in lines[-1]["error"]


@pytest.mark.parametrize("path", ["/api/generate", "/api/chat"])
def test_images_for_a_model_without_vision_is_400(gateway, ollama, path):
    image = "iVBORw0KGgo="
    body = {
        "model": "llama2",
        "prompt": "what is this",
        "images": [image],
        "messages": [{"role": "user", "content": "what is this", "images": [image]}],
        "stream": False,
    }
    r = httpx.post(gateway + path, json=body)
    assert r.status_code == 400
    assert r.json()["error"] == NO_IMAGES
    ok = httpx.post(gateway + path, json={**body, "model": "llava"})
    assert ok.status_code == 200
    sent = ollama.last(path).body
    assert (sent.get("images") or sent["messages"][0]["images"]) == [image]


def test_images_refused_by_the_backend_are_400(scripted):
    backend = ScriptedBackend(replies=[[Unsupported("this model does not take images")]])
    with scripted(backend) as url:
        r = httpx.post(url + "/api/generate", json={"prompt": "x", "images": ["aGk="]})
    assert r.status_code == 400
    assert r.json()["error"] == "this model does not take images"


def test_tools_pass_through_to_ollama_and_calls_come_back(gateway, ollama):
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    body = {
        "model": "tooler",
        "messages": [{"role": "user", "content": "weather in Paris?"}],
        "tools": [tool],
    }
    r = httpx.post(gateway + "/api/chat", json={**body, "stream": False})
    assert r.json()["message"]["tool_calls"] == [
        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    ]
    assert ollama.last("/api/chat").body["tools"] == [tool]
    lines = ndjson(httpx.post(gateway + "/api/chat", json=body))
    assert lines[0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    # the tool result goes back with its name
    follow = {
        "model": "llama2",
        "messages": [
            *body["messages"],
            {"role": "assistant", "content": "", "tool_calls": lines[0]["message"]["tool_calls"]},
            {"role": "tool", "content": "22 degrees", "tool_name": "get_weather"},
        ],
        "stream": False,
    }
    assert httpx.post(gateway + "/api/chat", json=follow).status_code == 200
    assert ollama.last("/api/chat").body["messages"][2:] == follow["messages"][2:]


def test_tools_refused_by_the_backend_are_400(scripted):
    refusal = Unsupported("tools are not supported by this model")
    with scripted(ScriptedBackend(replies=[[refusal]])) as url:
        r = httpx.post(
            url + "/api/chat",
            json={
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "f"}}],
            },
        )
    assert (r.status_code, r.json()) == (400, {"error": "tools are not supported by this model"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": [{"role": "wizard", "content": "x"}]}, "role must be one of"),
        ({"messages": [{"content": "x"}]}, "field 'messages.0.role' is required"),
        ({"messages": "hi"}, "invalid 'messages'"),
        ({"messages": [], "format": "yaml"}, 'format must be "json" or a JSON schema'),
        ({"messages": [], "keep_alive": "soon"}, "invalid duration"),
        ({"messages": [], "logprobs": True, "top_logprobs": 21}, "top_logprobs must be between"),
    ],
)
def test_bad_chat_bodies_are_400(gateway, body, message):
    r = httpx.post(gateway + "/api/chat", json={"model": "llama2", **body})
    assert r.status_code == 400
    assert set(r.json()) == {"error"}
    assert message in r.json()["error"]


def test_generate_errors_carry_error_and_detail(gateway):
    body = {"model": "llama2", "logprobs": True, "top_logprobs": 99}
    r = httpx.post(gateway + "/api/generate", json=body)
    assert r.status_code == 400
    assert r.json() == {"error": "top_logprobs must be between 0 and 20"} | {
        "detail": "top_logprobs must be between 0 and 20"
    }


@pytest.mark.parametrize(
    ("exc", "status"), [(ModelNotFound("m"), 404), (ServerBusy(), 503), (RuntimeError("x"), 500)]
)
def test_backend_errors_map_to_ollama_status_codes(scripted, exc, status):
    with scripted(ScriptedBackend(replies=[[exc], [exc]])) as url:
        r = httpx.post(url + "/api/chat", json={"messages": [], "stream": True})
        assert r.status_code == status
        r = httpx.post(url + "/api/generate", json={"prompt": "x", "stream": True})
        assert r.status_code == status
    if status == 503:
        assert r.headers["retry-after"] == "1"


def test_load_and_unload_pass_through_to_ollama(gateway, ollama):
    httpx.post(gateway + "/api/generate", json={"model": "llama2"})
    assert ollama.last("/api/generate").body == {"model": "llama2", "prompt": "", "stream": False}
    httpx.post(gateway + "/api/chat", json={"model": "llama2", "messages": [], "keep_alive": 0})
    assert ollama.last("/api/chat").body == {
        "model": "llama2",
        "messages": [],
        "stream": True,
        "keep_alive": 0.0,
    }


def test_done_reason_load_and_unload_are_rendered(scripted):
    backend = ScriptedBackend(replies=[[Chunk(done=True, done_reason="load")]])
    with scripted(backend) as url:
        r = httpx.post(url + "/api/generate", json={"model": "tiny", "stream": True})
    lines = ndjson(r)
    assert len(lines) == 1 and lines[0]["done_reason"] == "load" and lines[0]["response"] == ""


# --- reasoning -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/generate", "/api/chat"])
def test_think_through_ollama(gateway, ollama, path):
    """Ollama splits the reasoning itself; the gateway passes ``think`` and the fields on."""
    base = {
        "model": "thinker",
        "prompt": "x",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
    }

    def run(**extra) -> tuple[str, str]:
        lines = ndjson(httpx.post(gateway + path, json={**base, **extra}))
        if path == "/api/chat":
            parts = [line["message"] for line in lines]
            return "".join(p.get("thinking", "") for p in parts), "".join(
                p["content"] for p in parts
            )
        return "".join(x.get("thinking", "") for x in lines), "".join(x["response"] for x in lines)

    assert run(think=True) == ("Let me think.", "Answer.")
    assert ollama.last(path).body["think"] is True
    assert run(think=False) == ("", "Answer.")
    assert run() == ("", "<think>Let me think.</think>\n\nAnswer.")
    assert "think" not in ollama.last(path).body


RAW = ["<th", "ink>\n", "Let me", " think.\n</", "think>", "\n\n", "Ans", "wer."]


@pytest.mark.parametrize("path", ["/api/generate", "/api/chat"])
def test_gateway_splits_reasoning_for_backends_that_do_not(scripted, path):
    body = {"prompt": "x", "messages": [{"role": "user", "content": "x"}]}
    key = "response" if path == "/api/generate" else "message"

    def text(line, name):
        return line.get(name, "") if key == "response" else line["message"].get(name, "")

    backend = ScriptedBackend(replies=[list(RAW), list(RAW), list(RAW), list(RAW)])
    with scripted(backend) as url:
        lines = ndjson(httpx.post(url + path, json={**body, "think": True, "stream": True}))
        thinking = "".join(text(line, "thinking") for line in lines)
        content = "".join(
            text(line, "response" if key == "response" else "content") for line in lines
        )
        assert (thinking, content) == ("Let me think.", "Answer.")
        assert all(not (text(line, "thinking") and line["done"]) for line in lines)
        whole = httpx.post(url + path, json={**body, "think": True, "stream": False}).json()
        if key == "response":
            assert (whole["thinking"], whole["response"]) == ("Let me think.", "Answer.")
        else:
            assert whole["message"]["thinking"] == "Let me think."
            assert whole["message"]["content"] == "Answer."
        dropped = httpx.post(url + path, json={**body, "think": False, "stream": False}).json()
        assert "thinking" not in (dropped if key == "response" else dropped["message"])
        raw = httpx.post(url + path, json={**body, "stream": False}).json()
        raw_text = raw["response"] if key == "response" else raw["message"]["content"]
        assert raw_text == "".join(RAW)


def test_reasoning_opened_by_the_chat_template(scripted):
    """DeepSeek-R1's template ends the prompt with ``<think>``: output starts inside it."""
    backend = ScriptedBackend(
        replies=[["Hmm", ", two.", "</th", "ink>\n\nTwo."]], starts_in_thinking=True
    )
    with scripted(backend) as url:
        r = httpx.post(
            url + "/api/chat",
            json={"messages": [{"role": "user", "content": "1+1?"}], "think": True},
        )
    lines = ndjson(r)
    assert "".join(line["message"].get("thinking", "") for line in lines) == "Hmm, two."
    assert "".join(line["message"]["content"] for line in lines) == "Two."


def test_tags_left_by_an_upstream_that_ignores_think_are_split(scripted):
    """An Ollama older than ``think`` returns the raw tags: the gateway still splits them."""
    backend = ScriptedBackend(replies=[list(RAW), list(RAW)], splits_thinking=True)
    with scripted(backend) as url:
        on = httpx.post(url + "/api/generate", json={"prompt": "x", "think": True, "stream": False})
        off = httpx.post(
            url + "/api/generate", json={"prompt": "x", "think": False, "stream": False}
        )
    assert (on.json()["thinking"], on.json()["response"]) == ("Let me think.", "Answer.")
    assert "thinking" not in off.json() and off.json()["response"] == "Answer."
