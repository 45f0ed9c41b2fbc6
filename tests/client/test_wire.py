"""What the client sends and how it reads every kind of answer, on a scripted loopback server.

Each test runs with the sync and the async client (the ``make_api`` fixture), so both are held
to the same behaviour.
"""

from __future__ import annotations

import pytest

from ollama_gateway.client import (
    IN_STREAM,
    ChatResponse,
    GatewayConnectionError,
    GatewayTimeout,
    GenerateChunk,
    GenerateResponse,
    Message,
    ResponseError,
)
from tests.support.fake_ollama import Reply
from tests.support.processes import free_port

KEY = "k" * 32

SEED_ANSWER = {
    "generated_text": "Blue light scatters more.",
    "model": "tiny:latest",
    "elapsed_time": 0.25,
    "response": "Blue light scatters more.",
    "done": True,
    "done_reason": "stop",
    "created_at": "2025-01-01T00:00:00Z",
    "total_duration": 250_000_000,
    "eval_count": 5,
    "context": [1, 2, 3],
    "request_id": "r-1",
}


async def test_seed_generate_sends_no_stream_field_and_reads_seed_fields(standin, make_api):
    standin.queue("POST", "/api/generate", Reply(body=SEED_ANSWER))
    api = make_api(url=standin.url, api_key=KEY)

    answer = await api.call("generate", "Why is the sky blue?")

    assert isinstance(answer, GenerateResponse)
    assert (answer.generated_text, answer.model, answer.elapsed_time) == (
        "Blue light scatters more.",
        "tiny:latest",
        0.25,
    )
    assert (answer.eval_count, answer.context, answer.done_reason) == (5, [1, 2, 3], "stop")
    assert answer.extra == {"request_id": "r-1"}
    assert answer["generated_text"] == answer.generated_text
    assert answer.to_dict() == SEED_ANSWER
    [seen] = standin.requests
    assert seen.body == {"prompt": "Why is the sky blue?"}
    assert seen.headers["Authorization"] == f"Bearer {KEY}"


async def test_generate_sends_options_and_model(standin, make_api):
    standin.queue("POST", "/api/generate", Reply(body=SEED_ANSWER))
    api = make_api(url=standin.url)
    await api.call(
        "generate",
        "hi",
        "tiny",
        system="be brief",
        options={"temperature": 0, "num_predict": 8},
        format="json",
        think=True,
        keep_alive="5m",
        raw=None,
    )
    assert standin.requests[0].body == {
        "prompt": "hi",
        "model": "tiny",
        "system": "be brief",
        "options": {"temperature": 0, "num_predict": 8},
        "format": "json",
        "think": True,
        "keep_alive": "5m",
    }


async def test_an_unknown_option_is_refused_before_sending(standin, make_api):
    api = make_api(url=standin.url)
    with pytest.raises(TypeError, match="temprature"):
        await api.call("generate", "hi", temprature=0)
    assert standin.requests == []


async def test_plain_ollama_streaming_by_default_is_folded_into_one_answer(standin, make_api):
    lines = [
        {"model": "m", "response": "Hel", "done": False},
        {"model": "m", "response": "lo", "done": True, "total_duration": 2_000_000_000},
    ]
    standin.queue("POST", "/api/generate", Reply(body=lines))
    answer = await make_api(url=standin.url).call("generate", "hi")
    assert (answer.response, answer.generated_text, answer.elapsed_time) == ("Hello", "Hello", 2.0)


async def test_streamed_generate_yields_typed_chunks(standin, make_api):
    lines = [
        {"model": "m", "response": "", "thinking": "hmm", "done": False},
        {"model": "m", "response": "Hi", "done": False},
        {"model": "m", "response": "!", "done": True, "done_reason": "stop", "eval_count": 2},
    ]
    standin.queue("POST", "/api/generate", Reply(body=lines))
    chunks = await make_api(url=standin.url).stream("generate", "hi", think=True)
    assert all(type(c) is GenerateChunk for c in chunks)
    assert [(c.thinking, c.response, c.done) for c in chunks] == [
        ("hmm", "", False),
        (None, "Hi", False),
        (None, "!", True),
    ]
    assert chunks[-1].eval_count == 2
    assert standin.requests[0].body == {"prompt": "hi", "think": True, "stream": True}


async def test_an_error_line_inside_a_stream_raises(standin, make_api):
    lines = [{"model": "m", "response": "Hi", "done": False}, {"error": "model crashed"}]
    standin.queue("POST", "/api/generate", Reply(body=lines))
    with pytest.raises(ResponseError) as caught:
        await make_api(url=standin.url).stream("generate", "hi")
    assert (caught.value.status_code, caught.value.message) == (IN_STREAM, "model crashed")


async def test_chat_sends_the_conversation_and_streams_messages(standin, make_api):
    lines = [
        {"model": "m", "message": {"role": "assistant", "content": "4"}, "done": False},
        {"model": "m", "message": {"role": "assistant", "content": "."}, "done": True},
    ]
    standin.queue("POST", "/api/chat", Reply(body=lines))
    messages = [Message(role="system", content="math"), {"role": "user", "content": "2+2?"}]
    chunks = await make_api(url=standin.url).stream("chat", messages, "m", options={"seed": 1})
    assert all(type(c) is ChatResponse for c in chunks)
    assert "".join(c.message.content for c in chunks) == "4."
    assert standin.requests[0].body == {
        "model": "m",
        "messages": [{"role": "system", "content": "math"}, {"role": "user", "content": "2+2?"}],
        "options": {"seed": 1},
        "stream": True,
    }


async def test_chat_without_streaming_says_so_and_reads_tool_calls(standin, make_api):
    call = {"function": {"name": "add", "arguments": {"a": 1, "b": 2}}}
    body = {"model": "m", "message": {"role": "assistant", "content": "", "tool_calls": [call]}}
    standin.queue("POST", "/api/chat", Reply(body={**body, "done": True}))
    answer = await make_api(url=standin.url).call("chat", [{"role": "user", "content": "1+2"}])
    assert answer.message.tool_calls[0].function == call["function"]
    assert standin.requests[0].body["stream"] is False


@pytest.mark.parametrize(
    ("status", "body", "content_type", "message"),
    [
        (
            401,
            {"detail": "Invalid or missing API key", "error": "unauthorized"},
            "",
            "unauthorized",
        ),
        (401, {"detail": "Invalid or missing API key"}, "", "Invalid or missing API key"),
        (404, {"error": "model 'nope' not found"}, "", "model 'nope' not found"),
        (
            422,
            {"detail": [{"loc": ["body", "prompt"], "msg": "Field required"}]},
            "",
            "body.prompt: Field required",
        ),
        (502, b"Bad Gateway", "text/plain", "Bad Gateway"),
        (500, b"", "text/plain", "Internal Server Error"),
        (502, b"<html>\n<h1>502</h1>\n</html>", "text/html", "Bad Gateway"),
    ],
)
async def test_error_answers_carry_status_and_message(
    standin, make_api, status, body, content_type, message
):
    for path in ("/api/generate", "/api/generate"):
        standin.queue("POST", path, Reply(status, body, content_type or "application/json"))
    api = make_api(url=standin.url)
    with pytest.raises(ResponseError) as plain:
        await api.call("generate", "hi")
    with pytest.raises(ResponseError) as streamed:
        await api.stream("generate", "hi")
    for caught in (plain, streamed):
        assert (caught.value.status_code, caught.value.message) == (status, message)
        assert str(caught.value) == f"{message} (status {status})"


async def test_invalid_json_is_a_response_error(standin, make_api):
    standin.queue("GET", "/api/tags", Reply(200, b"<html>proxy login</html>", "text/html"))
    with pytest.raises(ResponseError, match="invalid JSON"):
        await make_api(url=standin.url).call("list")


async def test_a_stream_cut_midway_is_a_connection_error(standin, make_api):
    lines = [{"response": "a", "done": False}, {"response": "b", "done": False}, {"done": True}]
    standin.queue("POST", "/api/generate", Reply(body=lines, cut_after=1))
    with pytest.raises(GatewayConnectionError) as caught:
        await make_api(url=standin.url).stream("generate", "hi")
    assert caught.value.url == f"{standin.url}/api/generate"


async def test_an_unreachable_server_names_its_url(make_api):
    url = f"http://127.0.0.1:{free_port()}"
    api = make_api(url=url, api_key=KEY)
    for call in (api.call("version"), api.stream("generate", "hi")):
        with pytest.raises(GatewayConnectionError) as caught:
            await call
        assert isinstance(caught.value, ConnectionError)
        assert url in str(caught.value)
        assert KEY not in str(caught.value)
        assert caught.value.__suppress_context__


async def test_a_slow_server_times_out(standin, make_api):
    standin.queue("GET", "/api/version", Reply(body={"version": "1"}, delay=1.0))
    with pytest.raises(GatewayTimeout, match="did not answer in time") as caught:
        await make_api(url=standin.url, timeout=0.2).call("version")
    assert isinstance(caught.value, TimeoutError)


async def test_model_management_requests(standin, make_api):
    standin.queue("GET", "/api/tags", Reply(body={"models": [{"name": "a:latest", "size": 3}]}))
    standin.queue("GET", "/api/ps", Reply(body={"models": [{"name": "a:latest", "size_vram": 0}]}))
    standin.queue("POST", "/api/show", Reply(body={"template": "{{ .Prompt }}", "details": {}}))
    standin.queue("DELETE", "/api/delete", Reply(200, b""))
    standin.queue("POST", "/api/copy", Reply(200, b""))
    standin.queue("POST", "/api/embed", Reply(body={"model": "e", "embeddings": [[0.5, 1.0]]}))
    standin.queue("GET", "/api/version", Reply(body={"version": "0.1.0"}))
    api = make_api(url=standin.url)

    assert (await api.call("list")).models[0].size == 3
    assert (await api.call("ps")).models[0].size_vram == 0
    assert (await api.call("show", "a")).template == "{{ .Prompt }}"
    assert (await api.call("delete", "a")).status == "success"
    assert (await api.call("copy", "a", "b")).status == "success"
    assert (await api.call("embed", ["x"], "e", truncate=True)).embeddings == [[0.5, 1.0]]
    assert (await api.call("version")).version == "0.1.0"
    assert [(s.method, s.path, s.body) for s in standin.requests] == [
        ("GET", "/api/tags", None),
        ("GET", "/api/ps", None),
        ("POST", "/api/show", {"model": "a"}),
        ("DELETE", "/api/delete", {"model": "a"}),
        ("POST", "/api/copy", {"source": "a", "destination": "b"}),
        ("POST", "/api/embed", {"input": ["x"], "model": "e", "truncate": True}),
        ("GET", "/api/version", None),
    ]


async def test_pull_streams_progress_by_default(standin, make_api):
    lines = [
        {"status": "pulling manifest"},
        {"status": "pulling abc", "digest": "sha256:abc", "total": 10, "completed": 4},
        {"status": "pulling abc", "digest": "sha256:abc", "total": 10, "completed": 10},
        {"status": "success"},
    ]
    standin.queue("POST", "/api/pull", Reply(body=lines))
    api = make_api(url=standin.url)
    progress = await api.call("pull", "tiny")
    progress = [p async for p in progress] if api.kind == "async" else list(progress)
    assert [(p.status, p.completed) for p in progress] == [
        ("pulling manifest", None),
        ("pulling abc", 4),
        ("pulling abc", 10),
        ("success", None),
    ]
    assert standin.requests[0].body == {"model": "tiny", "stream": True}


async def test_url_and_key_come_from_the_environment(standin, make_api, monkeypatch):
    monkeypatch.setenv("OLLAMA_GATEWAY_URL", standin.url.removeprefix("http://"))
    monkeypatch.setenv("OLLAMA_GATEWAY_API_KEY", KEY)
    standin.queue("GET", "/api/version", Reply(body={"version": "9"}))
    api = make_api()
    assert (await api.call("version")).version == "9"
    assert standin.requests[0].headers["Authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(api.client)


async def test_an_explicit_x_api_key_header_is_kept(standin, make_api):
    standin.queue("GET", "/api/version", Reply(body={"version": "9"}))
    await make_api(url=standin.url, api_key="ignored", headers={"X-API-KEY": KEY}).call("version")
    assert standin.requests[0].headers["X-API-KEY"] == KEY
    assert "Authorization" not in standin.requests[0].headers


def test_objects_round_trip_to_the_json_they_came_from():
    from ollama_gateway.client import ChatResponse, ListResponse

    tags = {
        "models": [
            {"name": "a", "model": "a", "details": {"family": "qwen2", "families": ["qwen2"]}},
            {"name": "b", "model": "b", "future_field": {"x": 1}},
        ]
    }
    parsed = ListResponse.from_dict(tags)
    assert parsed.to_dict() == tags
    assert parsed.models[1].extra == {"future_field": {"x": 1}}
    call = {"function": {"name": "f", "arguments": {}}}
    chat = {"message": {"role": "assistant", "content": "", "tool_calls": [call]}, "done": True}
    assert ChatResponse.from_dict(chat).to_dict() == {**chat, "model": "", "created_at": ""}


async def test_images_are_sent_as_base64(standin, make_api, tmp_path):
    picture = tmp_path / "pixel.gif"
    picture.write_bytes(b"GIF89a")
    standin.queue("POST", "/api/generate", Reply(body=SEED_ANSWER))
    standin.queue("POST", "/api/chat", Reply(body={"message": {"role": "assistant"}}))
    api = make_api(url=standin.url)
    await api.call("generate", "what is this?", images=[b"GIF89a", picture, "R0lGODlh"])
    message = {"role": "user", "content": "and this?", "images": [b"GIF89a"]}
    await api.call("chat", [message])
    assert standin.requests[0].body["images"] == ["R0lGODlh"] * 3
    assert standin.requests[1].body["messages"][0]["images"] == ["R0lGODlh"]
