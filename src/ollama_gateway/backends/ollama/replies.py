"""Ollama's replies read into chunks: one JSON object, or the lines of a stream.

A streamed line is decoded and checked (an object; ``response`` or ``message.content`` text;
``logprobs`` a list of objects; an ``error`` line raised as the upstream's failure) and keeps its
bytes as the chunk's ``raw``, which Ollama's renderer forwards unchanged. Lines that arrive
together and only add output are joined into one chunk (:func:`batch_chunks`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ollama_gateway.core.types import Chunk, Stats
from ollama_gateway.errors import GatewayError, UpstreamBadResponse, UpstreamFailed

_STAT_FIELDS = Stats.__slots__


def stats_of(data: dict[str, Any]) -> Stats:
    return Stats(**{name: int(data.get(name) or 0) for name in _STAT_FIELDS})


def decode_line(line: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise UpstreamBadResponse("malformed reply from Ollama (a line is not JSON)") from None
    if not isinstance(data, dict):
        raise UpstreamBadResponse("malformed reply from Ollama (a line is not an object)")
    if "error" in data and not data.get("done"):
        raise UpstreamFailed(str(data["error"]))
    return data


def batch_chunks(
    lines: list[bytes],
    to_chunk: Callable[[dict[str, Any], str], Chunk],
    model: str,
    join: bool,
) -> tuple[list[Chunk], GatewayError | None]:
    """The chunks of the lines that arrived together, each carrying its lines as ``raw``.

    With ``join``, consecutive lines that only add output (text, reasoning, logprobs: not the
    last, not a tool call) become one chunk, so a reader that fell behind catches up in one
    step; the lines are kept as they came. A line that fails ends the batch: the chunks before
    it, and the error.
    """
    chunks: list[Chunk] = []
    run = _Run()
    chat = to_chunk is chat_chunk
    for line in lines:
        try:
            data = decode_line(line)
            if join and run.add(data, line, chat, model):
                continue
            chunk = to_chunk(data, model)
        except GatewayError as exc:
            run.close(chunks)
            return chunks, exc
        chunk.raw = line + b"\n"
        run.close(chunks)
        chunks.append(chunk)
    run.close(chunks)
    return chunks, None


class _Run:
    """Lines that only add output, gathered into one chunk (see :func:`batch_chunks`)."""

    __slots__ = ("logprobs", "model", "raw", "texts", "thinking")

    def __init__(self) -> None:
        self.model = ""
        self.texts: list[str] = []
        self.thinking: list[str] = []
        self.raw: list[bytes] = []
        self.logprobs: list[dict[str, Any]] = []

    def _empty(self) -> None:
        self.texts, self.thinking, self.raw, self.logprobs = [], [], [], []

    def add(self, data: dict[str, Any], line: bytes, chat: bool, default: str) -> bool:
        """Take ``data`` (a decoded ``line``) into the run; False when it is not plain output."""
        if data.get("done"):
            return False
        if chat:
            message = data.get("message")
            if not isinstance(message, dict) or "tool_calls" in message:
                return False  # a tool call stays its own chunk; a bad message is to_chunk's
            text = message.get("content", "")
            thinking = message.get("thinking", "")
        else:
            text = data.get("response", "")
            thinking = data.get("thinking", "")
        if text.__class__ is not str or thinking.__class__ is not str:
            return False  # to_chunk says what is wrong (or takes a null as empty)
        model = data.get("model") or default
        raw = self.raw
        if raw and model != self.model:
            return False
        if "logprobs" in data:
            self.logprobs += logprobs_of(data) or ()
        self.model = model
        self.texts.append(text)
        if thinking:
            self.thinking.append(thinking)
        raw.append(line + b"\n")
        return True

    def close(self, chunks: list[Chunk]) -> None:
        """Append the gathered chunk to ``chunks`` (nothing when the run is empty)."""
        if not self.raw:
            return
        chunks.append(
            Chunk(
                text="".join(self.texts),
                thinking="".join(self.thinking),
                model=self.model,
                logprobs=self.logprobs or None,
                raw=b"".join(self.raw),
            )
        )
        self._empty()


def generate_chunk(data: dict[str, Any], model: str) -> Chunk:
    done = bool(data.get("done"))
    response = data.get("response", "")
    if not isinstance(response, str):
        raise UpstreamBadResponse("malformed reply from Ollama (response is not text)")
    return Chunk(
        text=response,
        thinking=data.get("thinking") or "",
        done=done,
        done_reason=data.get("done_reason") if done else None,
        stats=stats_of(data) if done else None,
        context=data.get("context") if done else None,
        model=data.get("model") or model,
        logprobs=logprobs_of(data),
    )


def logprobs_of(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Ollama's ``logprobs`` of a reply line, as they are (a list of objects), or None."""
    found = data.get("logprobs")
    if found is None:
        return None
    if not isinstance(found, list) or not all(isinstance(e, dict) for e in found):
        raise UpstreamBadResponse("malformed reply from Ollama (logprobs is not a list)")
    return found


def chat_chunk(data: dict[str, Any], model: str) -> Chunk:
    done = bool(data.get("done"))
    message = data.get("message") or {}
    if not isinstance(message, dict) or not isinstance(message.get("content", ""), str):
        raise UpstreamBadResponse("malformed reply from Ollama (message is not an object)")
    return Chunk(
        text=message.get("content", ""),
        thinking=message.get("thinking") or "",
        tool_calls=message.get("tool_calls") or None,
        done=done,
        done_reason=data.get("done_reason") if done else None,
        stats=stats_of(data) if done else None,
        model=data.get("model") or model,
        logprobs=logprobs_of(data),
    )
