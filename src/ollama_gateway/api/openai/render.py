"""Neutral chunks rendered as OpenAI's replies: whole objects, and SSE streams.

A stream's constant parts (id, created, model) are rendered once into a byte prefix, so each
token costs one ``orjson.dumps`` of its small delta and a few concatenations.
Streams end with ``data: [DONE]``; an error after the stream began is sent as one
``data: {"error": {...}}`` event, then ``[DONE]``.
"""

from __future__ import annotations

import array
import base64
import logging
import sys
import time
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import orjson

from ollama_gateway.api.errors import error_body
from ollama_gateway.core.types import Chunk, Stats
from ollama_gateway.errors import GatewayError

log = logging.getLogger("ollama_gateway.api")

DONE = b"data: [DONE]\n\n"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage(stats: Stats | None) -> dict[str, int]:
    prompt = stats.prompt_eval_count if stats else 0
    completion = stats.eval_count if stats else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def finish_reason(chunk: Chunk, had_tool_calls: bool) -> str:
    if had_tool_calls:
        return "tool_calls"
    return "length" if chunk.done_reason == "length" else "stop"


def tool_calls_json(calls: list[dict[str, Any]], start: int = 0) -> list[dict[str, Any]]:
    """Ollama's tool calls (arguments as an object) in OpenAI's shape (arguments as text)."""
    out = []
    for index, call in enumerate(calls, start):
        function = call.get("function") or {}
        arguments = function.get("arguments", {})
        if not isinstance(arguments, str):
            arguments = orjson.dumps(arguments).decode()
        out.append(
            {
                "index": index,
                "id": call.get("id") or new_id("call"),
                "type": "function",
                "function": {"name": function.get("name", ""), "arguments": arguments},
            }
        )
    return out


def _token(entry: dict[str, Any]) -> dict[str, Any]:
    return {"token": entry["token"], "logprob": entry["logprob"], "bytes": entry.get("bytes")}


def chat_logprobs(entries: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """``choices[].logprobs`` of a chat completion: ``content`` lists each token with its
    ``logprob``, ``bytes`` and ``top_logprobs`` (None when logprobs were not asked for)."""
    if entries is None:
        return None
    content = [
        {**_token(e), "top_logprobs": [_token(t) for t in e.get("top_logprobs", ())]}
        for e in entries
    ]
    return {"content": content, "refusal": None}


def completion_logprobs(
    entries: list[dict[str, Any]] | None, offset: int = 0
) -> dict[str, Any] | None:
    """A text completion's ``logprobs``: ``tokens``, ``token_logprobs``, ``top_logprobs`` (one
    ``{token: logprob}`` per token) and ``text_offset`` (where each token starts in the text,
    counted from ``offset``)."""
    if entries is None:
        return None
    offsets = []
    for entry in entries:
        offsets.append(offset)
        offset += len(entry["token"])
    return {
        "tokens": [e["token"] for e in entries],
        "token_logprobs": [e["logprob"] for e in entries],
        "top_logprobs": [_by_text(e.get("top_logprobs", ())) for e in entries],
        "text_offset": offsets,
    }


def _by_text(alternatives: Any) -> dict[str, float]:
    """``{token: logprob}``, best first; two tokens of one text (two partial UTF-8 bytes)
    keep the better."""
    out: dict[str, float] = {}
    for alternative in alternatives:
        out.setdefault(alternative["token"], alternative["logprob"])
    return out


def error_event(exc: BaseException, request_id: str) -> bytes:
    if isinstance(exc, GatewayError):
        body = error_body("openai", exc.status_code, exc.message)
    else:
        log.error("stream failed (request %s)", request_id, exc_info=exc)
        body = error_body("openai", 500, f"internal error (request {request_id})")
    return b"data: " + body + b"\n\n"


# --- chat ---------------------------------------------------------------------------------


def chat_completion(chunk: Chunk, model: str) -> dict[str, Any]:
    """A whole ``chat.completion`` object from the joined chunk."""
    calls = tool_calls_json(chunk.tool_calls) if chunk.tool_calls else None
    # content and refusal are required (nullable) in OpenAI's spec; nothing here refuses
    message: dict[str, Any] = {"role": "assistant", "content": chunk.text, "refusal": None}
    if calls:
        for call in calls:
            del call["index"]
        message["tool_calls"] = calls
        message["content"] = chunk.text or None
    if chunk.thinking:
        message["reasoning_content"] = chunk.thinking
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": chunk.model or model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": chat_logprobs(chunk.logprobs),
                "finish_reason": finish_reason(chunk, bool(calls)),
            }
        ],
        "usage": usage(chunk.stats),
    }


class _Stream:
    """Shared framing of the two streamed completion kinds."""

    object_name = ""
    id_prefix = ""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.id = new_id(self.id_prefix)
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage
        self.head = (
            b'data: {"id":"'
            + self.id.encode()
            + b'","object":"'
            + self.object_name.encode()
            + b'","created":'
            + str(self.created).encode()
            + b',"model":'
            + orjson.dumps(model)
            + b',"choices":[{"index":0,'
        )
        self.end = b',"usage":null}\n\n' if include_usage else b"}\n\n"
        self.tail = b',"logprobs":null,"finish_reason":null}]' + self.end

    def choice(self, body: bytes, logprobs: Any = None) -> bytes:
        """A chunk whose one choice holds ``body`` (already rendered JSON members)."""
        if logprobs is None:
            return self.head + body + self.tail
        lp = orjson.dumps(logprobs)
        return self.head + body + b',"logprobs":' + lp + b',"finish_reason":null}]' + self.end

    def finish(self, reason: str, body: bytes, logprobs: Any = None) -> bytes:
        end = b',"logprobs":' + orjson.dumps(logprobs) + b',"finish_reason":"' + reason.encode()
        return self.head + body + end + b'"}]' + self.end

    def usage_event(self, stats: Stats | None) -> bytes:
        data = {
            "id": self.id,
            "object": self.object_name,
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage(stats),
        }
        return b"data: " + orjson.dumps(data) + b"\n\n"

    def render(self, chunk: Chunk) -> bytes:
        raise NotImplementedError

    async def events(
        self, first: Chunk, rest: AsyncGenerator[Chunk, None], request_id: str
    ) -> AsyncGenerator[bytes, None]:
        """The whole SSE body; errors after the start go in-band, then ``[DONE]``."""
        async with aclosing(rest):
            try:
                yield self.render(first)
                if not first.done:
                    async for chunk in rest:
                        yield self.render(chunk)
                        if chunk.done:
                            break
            except Exception as exc:
                yield error_event(exc, request_id)
        yield DONE


class ChatStream(_Stream):
    """``chat.completion.chunk`` events: role first, then content/reasoning/tool-call deltas."""

    object_name = "chat.completion.chunk"
    id_prefix = "chatcmpl"

    def __init__(self, model: str, include_usage: bool) -> None:
        super().__init__(model, include_usage)
        self.sent_role = False
        self.tool_calls = 0

    def _delta(self, chunk: Chunk) -> dict[str, Any] | None:
        delta: dict[str, Any] = {}
        if not self.sent_role:
            delta["role"] = "assistant"
            delta["content"] = chunk.text
            self.sent_role = True
        elif chunk.text:
            delta["content"] = chunk.text
        if chunk.thinking:
            delta["reasoning_content"] = chunk.thinking
        if chunk.tool_calls:
            delta["tool_calls"] = tool_calls_json(chunk.tool_calls, self.tool_calls)
            self.tool_calls += len(chunk.tool_calls)
        return delta or None

    def render(self, chunk: Chunk) -> bytes:
        if (
            not chunk.done
            and not chunk.thinking
            and not chunk.tool_calls
            and chunk.logprobs is None
            and self.sent_role
        ):
            # the hot path: one content token
            if not chunk.text:
                return b""
            return self.choice(b'"delta":{"content":' + orjson.dumps(chunk.text) + b"}")
        delta = self._delta(chunk)
        logprobs = chat_logprobs(chunk.logprobs)
        if not chunk.done:
            if delta is None and not chunk.logprobs:
                return b""
            return self.choice(b'"delta":' + orjson.dumps(delta or {}), logprobs)
        out = b""
        if delta or chunk.logprobs:
            out = self.choice(b'"delta":' + orjson.dumps(delta or {}), logprobs)
        out += self.finish(finish_reason(chunk, self.tool_calls > 0), b'"delta":{}')
        if self.include_usage:
            out += self.usage_event(chunk.stats)
        return out


# --- text completions ---------------------------------------------------------------------


def text_completion(chunk: Chunk, model: str, prefix: str = "") -> dict[str, Any]:
    return {
        "id": new_id("cmpl"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": chunk.model or model,
        "choices": [
            {
                "text": prefix + chunk.text,
                "index": 0,
                "logprobs": completion_logprobs(chunk.logprobs, len(prefix)),
                "finish_reason": finish_reason(chunk, False),
            }
        ],
        "usage": usage(chunk.stats),
    }


class CompletionStream(_Stream):
    """``text_completion`` events; ``echo`` puts the prompt before the first token."""

    object_name = "text_completion"
    id_prefix = "cmpl"

    def __init__(self, model: str, include_usage: bool, echo: str = "") -> None:
        super().__init__(model, include_usage)
        self.echo = echo
        self.offset = 0  # characters sent so far (text_offset of the next token)

    def render(self, chunk: Chunk) -> bytes:
        text = chunk.text
        if self.echo:
            text, self.echo = self.echo + text, ""
        logprobs = completion_logprobs(chunk.logprobs, self.offset + len(text) - len(chunk.text))
        self.offset += len(text)
        if not chunk.done:
            return self.choice(b'"text":' + orjson.dumps(text), logprobs)
        out = b""
        if text or chunk.logprobs:
            out = self.choice(b'"text":' + orjson.dumps(text), logprobs)
        out += self.finish(finish_reason(chunk, False), b'"text":""')
        if self.include_usage:
            out += self.usage_event(chunk.stats)
        return out


# --- embeddings ---------------------------------------------------------------------------


def embedding_base64(values: list[float]) -> str:
    """Little-endian float32, base64: what OpenAI sends and its SDK decodes."""
    packed = array.array("f", values)
    if sys.byteorder != "little":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode()


def embeddings_list(
    embeddings: list[list[float]], model: str, prompt_tokens: int, encoding: str
) -> dict[str, Any]:
    encode = embedding_base64 if encoding == "base64" else None
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": encode(e) if encode else e}
            for i, e in enumerate(embeddings)
        ],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
