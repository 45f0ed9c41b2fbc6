"""Ollama's reply shapes for generations: ``/api/generate`` and ``/api/chat`` objects and lines."""

from __future__ import annotations

from typing import Any

import orjson

from ollama_gateway.core.times import rfc3339_now
from ollama_gateway.core.types import Chunk


def _final_fields(out: dict[str, Any], chunk: Chunk) -> dict[str, Any]:
    out["done_reason"] = chunk.done_reason or "stop"
    stats = chunk.stats
    if stats is not None:
        out["total_duration"] = stats.total_duration
        out["load_duration"] = stats.load_duration
        out["prompt_eval_count"] = stats.prompt_eval_count
        out["prompt_eval_duration"] = stats.prompt_eval_duration
        out["eval_count"] = stats.eval_count
        out["eval_duration"] = stats.eval_duration
    return out


def generate_json(chunk: Chunk, model: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": chunk.model or model,
        "created_at": rfc3339_now(),
        "response": chunk.text,
    }
    if chunk.thinking:
        out["thinking"] = chunk.thinking
    out["done"] = chunk.done
    if chunk.done:
        _final_fields(out, chunk)
        if chunk.context is not None:
            out["context"] = chunk.context
    if chunk.logprobs:
        out["logprobs"] = chunk.logprobs
    return out


def chat_json(chunk: Chunk, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": chunk.text}
    if chunk.thinking:
        message["thinking"] = chunk.thinking
    if chunk.tool_calls:
        message["tool_calls"] = chunk.tool_calls
    out: dict[str, Any] = {
        "model": chunk.model or model,
        "created_at": rfc3339_now(),
        "message": message,
        "done": chunk.done,
    }
    if chunk.done:
        _final_fields(out, chunk)
    if chunk.logprobs:
        out["logprobs"] = chunk.logprobs
    return out


def ndjson_line(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data) + b"\n"


class Lines:
    """Renders one stream's chunks as NDJSON lines: an upstream Ollama's own lines as they came,
    a plain token by a fast path, anything else in full."""

    __slots__ = ("chat", "model", "prefix")

    def __init__(self, model: str, chat: bool) -> None:
        self.model = model
        self.chat = chat
        self.prefix = b'{"model":' + orjson.dumps(model) + b',"created_at":"'

    def __call__(self, chunk: Chunk) -> bytes:
        if chunk.raw is not None:  # Ollama's own lines, nothing changed: forwarded as they are
            return chunk.raw
        if (
            chunk.done
            or chunk.thinking
            or chunk.tool_calls
            or chunk.logprobs
            or chunk.model not in ("", self.model)
        ):
            render = chat_json if self.chat else generate_json
            return ndjson_line(render(chunk, self.model))
        text = orjson.dumps(chunk.text)
        if self.chat:
            body = b'","message":{"role":"assistant","content":' + text + b'},"done":false}\n'
        else:
            body = b'","response":' + text + b',"done":false}\n'
        return self.prefix + rfc3339_now().encode() + body


def error_line(message: str) -> bytes:
    return ndjson_line({"error": message})
