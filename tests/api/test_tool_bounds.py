"""Tool definitions and ``tool_choice`` are checked before any work: each bad request is a 400
in its API's error shape and never reaches the backend; good ones reach it as the neutral
request says (``tool_choice``, the named tool, parallel calls)."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_openai_chat import _error
from tests.support.scripted import ScriptedBackend

USER = [{"role": "user", "content": "hi"}]


def tool(name: str = "f", parameters: object = None) -> dict:
    function: dict = {"name": name}
    if parameters is not None:
        function["parameters"] = parameters
    return {"type": "function", "function": function}


BAD = [
    ([tool(f"t{i}") for i in range(129)], None, "too many tools: 129 (the limit is 128)"),
    ([tool("a b")], None, "tools[0].function.name must be 1 to 64 letters"),
    ([tool("x" * 65)], None, "tools[0].function.name must be 1 to 64 letters"),
    ([tool("f"), tool("f")], None, "tools[1]: the name 'f' is used by another tool"),
    ([tool("f", parameters=[1])], None, "tools[0].function.parameters must be a JSON schema"),
    ([{"type": "retrieval"}], None, "tools[0]: only tools of type function are supported"),
    ([tool("f", {"type": "object", "description": "x" * 300_000})], None, "the tools take"),
    ([tool("f")], {"type": "function", "function": {"name": "g"}}, "tool_choice names 'g'"),
    ([tool("f")], "sometimes", 'tool_choice must be "auto", "none", "required"'),
    (None, "required", 'tool_choice "required" needs at least one tool'),
]


@pytest.mark.parametrize(("tools", "choice", "message"), BAD)
def test_bad_tools_are_a_400_in_openai_shape(scripted, tools, choice, message):
    backend = ScriptedBackend()
    body: dict = {"messages": USER}
    if tools is not None:
        body["tools"] = tools
    if choice is not None:
        body["tool_choice"] = choice
    with scripted(backend) as url:
        r = httpx.post(url + "/v1/chat/completions", json=body)
    assert r.status_code == 400
    assert _error(r)["message"].startswith(message)
    assert backend.requests == []


@pytest.mark.parametrize(("tools", "choice", "message"), [b for b in BAD if b[1] is None])
def test_bad_tools_are_a_400_in_ollama_shape(scripted, tools, choice, message):
    backend = ScriptedBackend()
    with scripted(backend) as url:
        r = httpx.post(url + "/api/chat", json={"model": "m", "messages": USER, "tools": tools})
    assert r.status_code == 400
    assert set(r.json()) == {"error"} and r.json()["error"].startswith(message)
    assert backend.requests == []


def test_tool_choice_reaches_the_backend(scripted):
    backend = ScriptedBackend()
    tools = [tool("f"), tool("g")]
    with scripted(backend) as url:
        for choice in ("auto", "required", {"type": "function", "function": {"name": "g"}}):
            body = {"messages": USER, "tools": tools, "tool_choice": choice}
            assert httpx.post(url + "/v1/chat/completions", json=body).status_code == 200
        body = {"messages": USER, "tools": tools, "parallel_tool_calls": True}
        assert httpx.post(url + "/v1/chat/completions", json=body).status_code == 200
        body = {"messages": USER, "tools": tools, "tool_choice": "none"}
        assert httpx.post(url + "/v1/chat/completions", json=body).status_code == 200
        r = httpx.post(url + "/api/chat", json={"model": "m", "messages": USER, "tools": tools})
        assert r.status_code == 200
    seen = [
        (r.tool_choice, r.forced_tool, r.parallel_tool_calls, bool(r.tools))
        for r in backend.requests
    ]
    assert seen == [
        ("auto", None, None, True),
        ("required", None, None, True),
        ("required", "g", None, True),
        ("auto", None, True, True),
        ("auto", None, None, False),  # none: no tools sent
        ("auto", None, None, True),  # Ollama's API: auto
    ]
