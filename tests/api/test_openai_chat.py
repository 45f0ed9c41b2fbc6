"""``/v1/chat/completions`` on the wire: bodies, SSE framing, errors, reasoning, tools."""

from __future__ import annotations

import httpx
import orjson
import pytest

from ollama_gateway.errors import ModelNotFound, Unsupported
from tests.api.conftest import sse
from tests.support.fake_ollama import MIDFAIL
from tests.support.scripted import ScriptedBackend
from tests.support.secrets import KEY_A, WRONG_KEY

USER = [{"role": "user", "content": "hi"}]


def test_chat_completion_object(gateway):
    r = httpx.post(gateway + "/v1/chat/completions", json={"model": "llama2", "messages": USER})
    assert r.status_code == 200
    body = r.json()
    assert body["id"].startswith("chatcmpl-") and len(body["id"]) > 12
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "llama2"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello, world!", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


def test_streamed_chat_is_sse_ending_with_done(gateway):
    r = httpx.post(
        gateway + "/v1/chat/completions",
        json={"model": "llama2", "messages": USER, "stream": True},
    )
    events = sse(r)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "llama2" for c in chunks)
    assert all("usage" not in c for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas == [
        {"role": "assistant", "content": "Hello"},
        {"content": ","},
        {"content": " world"},
        {"content": "!"},
        {},
    ]
    reasons = [c["choices"][0]["finish_reason"] for c in chunks]
    assert reasons == [None, None, None, None, "stop"]


def test_include_usage_adds_a_final_usage_chunk(gateway):
    r = httpx.post(
        gateway + "/v1/chat/completions",
        json={
            "model": "llama2",
            "messages": USER,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    events = sse(r)
    *chunks, usage, done = events
    assert done == "[DONE]"
    assert all(c["usage"] is None for c in chunks)
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert usage["id"] == chunks[0]["id"]


def test_parameters_map_onto_ollama_options(gateway, ollama):
    r = httpx.post(
        gateway + "/v1/chat/completions",
        json={
            "model": "llama2",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
            ],
            "max_tokens": 99,
            "max_completion_tokens": 50,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": "END",
            "seed": 42,
            "presence_penalty": 0.5,
            "frequency_penalty": -0.5,
            "response_format": {"type": "json_object"},
            "n": 1,
            "user": "someone",
        },
    )
    assert r.status_code == 200
    assert ollama.last("/api/chat").body == {
        "model": "llama2",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "a\nb"},
        ],
        "format": "json",
        "options": {
            "num_predict": 50,
            "temperature": 0.2,
            "top_p": 0.9,
            "seed": 42,
            "presence_penalty": 0.5,
            "frequency_penalty": -0.5,
            "stop": ["END"],
        },
        "stream": False,
    }


def test_json_schema_response_format_becomes_the_format(gateway, ollama):
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    httpx.post(
        gateway + "/v1/chat/completions",
        json={
            "model": "llama2",
            "messages": USER,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": schema, "strict": True},
            },
        },
    )
    assert ollama.last("/api/chat").body["format"] == schema


def test_reasoning_effort_becomes_think(gateway, ollama):
    r = httpx.post(
        gateway + "/v1/chat/completions",
        json={"model": "thinker", "messages": USER, "reasoning_effort": "low"},
    )
    assert ollama.last("/api/chat").body["think"] is True
    assert r.json()["choices"][0]["message"]["reasoning_content"] == "Let me think."
    httpx.post(
        gateway + "/v1/chat/completions",
        json={"model": "thinker", "messages": USER, "reasoning_effort": "none"},
    )
    assert ollama.last("/api/chat").body["think"] is False


def test_reasoning_is_split_out_without_being_asked(gateway, ollama):
    """A thinking model through Ollama: reasoning in ``reasoning_content``, never in content."""
    r = httpx.post(gateway + "/v1/chat/completions", json={"model": "thinker", "messages": USER})
    message = r.json()["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": "Answer.",
        "refusal": None,
        "reasoning_content": "Let me think.",
    }
    assert "think" not in ollama.last("/api/chat").body
    r = httpx.post(
        gateway + "/v1/chat/completions",
        json={"model": "thinker", "messages": USER, "stream": True},
    )
    deltas = [e["choices"][0]["delta"] for e in sse(r)[:-1]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "Let me think."
    assert "".join(d.get("content", "") for d in deltas) == "Answer."
    assert deltas[0]["role"] == "assistant"


def test_reasoning_split_in_the_gateway_streams_as_deltas(scripted):
    pieces = ["<think>", "\nStep", " one.", "</thi", "nk>", "\n\nDone", "."]
    with scripted(ScriptedBackend(replies=[pieces])) as url:
        r = httpx.post(url + "/v1/chat/completions", json={"messages": USER, "stream": True})
    deltas = [e["choices"][0]["delta"] for e in sse(r)[:-1]]
    assert deltas == [
        {"role": "assistant", "content": "", "reasoning_content": "Step"},
        {"reasoning_content": " one."},
        {"content": "Done"},
        {"content": "."},
        {},
    ]


TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def test_tool_calls_round_trip(gateway, ollama):
    r = httpx.post(
        gateway + "/v1/chat/completions",
        json={"model": "tooler", "messages": USER, "tools": [TOOL]},
    )
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["id"].startswith("call-") and call["type"] == "function"
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert ollama.last("/api/chat").body["tools"] == [TOOL]
    # the client sends the call and its result back
    follow = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "22 C"},
    ]
    r = httpx.post(gateway + "/v1/chat/completions", json={"model": "llama2", "messages": follow})
    assert r.status_code == 200
    function = {"name": "get_weather", "arguments": {"city": "Paris"}}
    assert ollama.last("/api/chat").body["messages"][1:] == [  # ids go along (Go ignores them)
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": function, "id": call["id"]}],
        },
        {"role": "tool", "content": "22 C", "tool_name": "get_weather", "tool_call_id": call["id"]},
    ]


def test_streamed_tool_calls(gateway):
    r = httpx.post(
        gateway + "/v1/chat/completions",
        json={"model": "tooler", "messages": USER, "tools": [TOOL], "stream": True},
    )
    chunks = sse(r)[:-1]
    call = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert call["index"] == 0 and call["function"]["name"] == "get_weather"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_choice_none_sends_no_tools(gateway, ollama):
    httpx.post(
        gateway + "/v1/chat/completions",
        json={"model": "tooler", "messages": USER, "tools": [TOOL], "tool_choice": "none"},
    )
    assert "tools" not in ollama.last("/api/chat").body


def test_images_as_data_urls_reach_the_model(gateway, ollama):
    content = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    body = {"model": "llava", "messages": [{"role": "user", "content": content}]}
    assert httpx.post(gateway + "/v1/chat/completions", json=body).status_code == 200
    assert ollama.last("/api/chat").body["messages"][0]["images"] == ["iVBORw0KGgo="]
    r = httpx.post(gateway + "/v1/chat/completions", json={**body, "model": "llama2"})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"


def _error(r: httpx.Response) -> dict:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": USER, "n": 2}, "only n=1 is supported"),
        ({"messages": USER, "top_logprobs": 2}, "logprobs must be true when top_logprobs"),
        ({"messages": USER, "logit_bias": {"1": 5}}, "logit_bias is not supported"),
        ({"messages": []}, "invalid 'messages'"),
        ({}, "field 'messages' is required"),
        ({"messages": [{"role": "function", "content": "x"}]}, "unsupported message role"),
        ({"messages": USER, "temperature": 3}, "invalid 'temperature'"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                    }
                ]
            },
            "only data: URLs are supported",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "content parts of type 'input_audio' are not supported",
        ),
        (
            {"messages": USER, "response_format": {"type": "json_schema", "json_schema": {}}},
            "json_schema.schema must be a JSON schema object",
        ),
    ],
)
def test_bad_requests_are_400_in_openai_shape(gateway, body, message):
    r = httpx.post(gateway + "/v1/chat/completions", json={"model": "llama2", **body})
    assert r.status_code == 400
    error = _error(r)
    assert message in error["message"], error
    assert error["type"] == "invalid_request_error"


def test_malformed_json_is_400_in_openai_shape(gateway):
    r = httpx.post(
        gateway + "/v1/chat/completions",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert _error(r)["message"] == "invalid JSON in request body"


def test_missing_model_is_404_in_openai_shape(gateway):
    for stream in (False, True):
        r = httpx.post(
            gateway + "/v1/chat/completions",
            json={"model": "missing", "messages": USER, "stream": stream},
        )
        assert r.status_code == 404
        error = _error(r)
        assert error["message"] == 'model "missing" not found, try pulling it first'
        assert error["code"] == "model_not_found"


def test_error_after_the_stream_began_is_an_event_then_done(gateway, ollama):
    ollama.script("midfail", fail_after=2)
    r = httpx.post(
        gateway + "/v1/chat/completions",
        json={"model": "midfail", "messages": USER, "stream": True},
    )
    assert r.status_code == 200
    events = sse(r)
    assert events[-1] == "[DONE]"
    assert events[-2] == {
        "error": {"message": MIDFAIL, "type": "server_error", "param": None, "code": None}
    }
    assert [e["choices"][0]["delta"].get("content") for e in events[:-2]] == ["Hello", ","]


def test_unexpected_failure_in_stream_hides_details(scripted):
    backend = ScriptedBackend(replies=[["a", RuntimeError("/secret/x.py")]])
    with scripted(backend) as url:
        r = httpx.post(url + "/v1/chat/completions", json={"messages": USER, "stream": True})
    events = sse(r)
    assert events[-2]["error"]["message"].startswith("internal error (request ")
    assert "/secret" not in r.text


def test_error_status_before_streaming(scripted):
    backend = ScriptedBackend(replies=[[ModelNotFound("tiny")], [Unsupported("no tools here")]])
    with scripted(backend) as url:
        r = httpx.post(url + "/v1/chat/completions", json={"messages": USER, "stream": True})
        assert r.status_code == 404
        r = httpx.post(url + "/v1/chat/completions", json={"messages": USER, "tools": [TOOL]})
        assert (r.status_code, _error(r)["message"]) == (400, "no tools here")


def test_wrong_key_is_401_in_openai_shape(ollama, make_settings):
    from ollama_gateway.app import create_app
    from tests.support.live import serve

    settings = make_settings(backend="ollama", ollama_url=ollama.url, api_keys=[KEY_A])
    with serve(create_app(settings)) as url:
        for headers in ({}, {"Authorization": f"Bearer {WRONG_KEY}"}):
            r = httpx.post(url + "/v1/chat/completions", json={"messages": USER}, headers=headers)
            assert r.status_code == 401
            assert _error(r) == {
                "message": "Invalid or missing API key",
                "type": "authentication_error",
                "param": None,
                "code": "invalid_api_key",
            }
        ok = httpx.get(url + "/v1/models", headers={"Authorization": f"Bearer {KEY_A}"})
        assert ok.status_code == 200


def test_hot_path_chunks_are_valid_json(scripted):
    """Hand-assembled chunk bytes escape text correctly (quotes, newlines, unicode)."""
    tricky = ['"quoted"', "line\nbreak", "tab\t", "\u00e9\u4e2d\U0001f600", "\\", "</script>"]
    with scripted(ScriptedBackend(replies=[tricky])) as url:
        r = httpx.post(url + "/v1/chat/completions", json={"messages": USER, "stream": True})
    chunks = sse(r)[:-1]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "".join(tricky)
    raw_event = r.text.split("\n\n")[1]
    assert orjson.loads(raw_event[len("data: ") :])["choices"][0]["delta"] == {
        "content": "line\nbreak"
    }
