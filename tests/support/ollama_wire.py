"""Ollama's wire format as the fake Ollama (``tests/support/fake_ollama.py``) writes it: its
messages, the chunks of a generation, exact queued replies, NDJSON streams."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

TOKENS = ["Hello", ",", " world", "!"]
THINKER_TOKENS = ["<think>", "Let me", " think.", "</think>", "\n\n", "Answer", "."]
MIDFAIL = "model runner has unexpectedly stopped"
NO_IMAGES = "this model is missing data required for image input"
BUSY = "server busy, please try again.  maximum pending requests exceeded"
NOT_FOUND = 'model "{model}" not found, try pulling it first'

SHOW = {
    "modelfile": "FROM x",
    "parameters": "",
    "template": "{{ .Prompt }}",
    "details": {"family": "qwen2"},
    "model_info": {"general.architecture": "qwen2"},
    "capabilities": ["completion"],
    "modified_at": "2025-01-01T00:00:00Z",
}


@dataclass
class Reply:
    """One exact answer (see :meth:`FakeOllama.queue`): a body that is bytes, a JSON object, or a
    list sent as NDJSON lines (``cut_after``: the connection closes after that many lines)."""

    status: int = 200
    body: bytes | dict[str, Any] | list[dict[str, Any]] = b""
    content_type: str = "application/json"
    cut_after: int | None = None
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float = 0.0  # time.perf_counter() on arrival


def chunk(chat: bool, model: str, text: str, done: bool, thinking: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"model": model, "created_at": "2025-01-01T00:00:00.000000Z"}
    if chat:
        out["message"] = {"role": "assistant", "content": text}
        if thinking:
            out["message"]["thinking"] = thinking
    else:
        out["response"] = text
        if thinking:
            out["thinking"] = thinking
    out["done"] = done
    if done:
        out.update(
            done_reason="stop",
            total_duration=1000,
            load_duration=10,
            prompt_eval_count=3,
            prompt_eval_duration=100,
            eval_count=4,
            eval_duration=800,
        )
        if not chat:
            out["context"] = [1, 2, 3]
    return out


def embeddings(model: str, body: dict) -> dict[str, Any]:
    inputs = body.get("input")
    inputs = [inputs] if isinstance(inputs, str) else inputs
    size = body.get("dimensions") or 3
    return {
        "model": model,
        "embeddings": [[0.1 * (i + 1) + j for j in range(size)] for i in range(len(inputs))],
        "total_duration": 5000,
        "load_duration": 100,
        "prompt_eval_count": len(inputs),
    }


async def send_exact(request: web.Request, reply: Reply) -> web.StreamResponse:
    """Send a queued :class:`Reply` as it stands."""
    if reply.delay:
        await asyncio.sleep(reply.delay)
    if not isinstance(reply.body, list):
        data = reply.body if isinstance(reply.body, bytes) else orjson.dumps(reply.body)
        return web.Response(
            body=data, status=reply.status, headers={"Content-Type": reply.content_type}
        )
    response = web.StreamResponse(
        status=reply.status, headers={"Content-Type": "application/x-ndjson"}
    )
    await response.prepare(request)
    for index, item in enumerate(reply.body):
        if reply.cut_after is not None and index >= reply.cut_after:
            request.transport.close()  # no terminating chunk: the client sees a broken stream
            return response
        await response.write(line(item))
    await response.write_eof()
    return response


async def send_ndjson(request: web.Request, events: list[dict[str, Any]]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    for event in events:
        await response.write(line(event))
    await response.write_eof()
    return response


def line(item: dict[str, Any]) -> bytes:
    return orjson.dumps(item) + b"\n"


def logprob(token: str, body: dict) -> dict[str, Any]:
    """Ollama's logprob entry for a scripted token: -0.5, and top_logprobs alternatives."""
    entry: dict[str, Any] = {"token": token, "logprob": -0.5, "bytes": list(token.encode())}
    top = body.get("top_logprobs") or 0
    if top:
        entry["top_logprobs"] = [
            {"token": token, "logprob": -0.5, "bytes": list(token.encode())},
            *({"token": f"alt{i}", "logprob": -1.0 - i} for i in range(top - 1)),
        ]
    return entry


def last_user_text(body: dict) -> str:
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    return str(users[-1].get("content") or "") if users else str(body.get("prompt") or "")


def has_images(body: dict) -> bool:
    if body.get("images"):
        return True
    messages = body.get("messages") or []
    return any(isinstance(m, dict) and m.get("images") for m in messages)


def tool_call(tool: dict) -> dict[str, Any]:
    name = (tool.get("function") or {}).get("name", "")
    return {"function": {"name": name, "arguments": {"city": "Paris"}}}


def json_reply(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def model_entry(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "size": 1117322768,
        "digest": "a" * 64,
        "modified_at": "2025-01-01T00:00:00Z",
        "details": {"family": "qwen2"},
    }
