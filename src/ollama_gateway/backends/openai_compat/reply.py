"""OpenAI-compatible replies as neutral chunks: SSE events while streaming, or one object.

Text comes from ``delta.content`` (chat) or ``text`` (completions); reasoning from
``reasoning_content`` (llama-server, SGLang, older vLLM) or ``reasoning`` (newer vLLM); tool
calls arrive in pieces keyed by ``index`` and are handed on whole, in Ollama's shape (arguments
as an object), once the reply says why it finished. When the client did not ask about thinking
(``think`` is None) reasoning the server split out goes back into the text between
``<think>`` tags, as the model wrote it and as Ollama returns it.

Counts come from ``usage`` (asked for with ``stream_options.include_usage``); durations are
measured here: ``prompt_eval_duration`` is the wait for the first token, ``eval_duration`` the
rest, ``total_duration`` both.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from ollama_gateway.core.types import Chunk, Stats
from ollama_gateway.errors import UpstreamBadResponse, UpstreamFailed

_now = time.perf_counter_ns
DONE_LINE = b"[DONE]"


def event_data(line: bytes) -> bytes | None:
    """The payload of an SSE ``data:`` line; None for other lines (comments, ``event:``)."""
    if not line.startswith(b"data:"):
        return None
    return line[5:].strip()


def decode_event(data: bytes, label: str) -> dict[str, Any]:
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamBadResponse(f"malformed reply from {label} (an event is not JSON)") from None
    if not isinstance(event, dict):
        raise UpstreamBadResponse(f"malformed reply from {label} (an event is not an object)")
    error = event.get("error")
    if error or event.get("object") == "error":
        message = error.get("message") if isinstance(error, dict) else error
        raise UpstreamFailed(str(message or event.get("message") or "the upstream failed"))
    return event


class ReplyReader:
    """Turns one reply's events into chunks; :meth:`finish` gives the final one."""

    __slots__ = (
        "_calls",
        "_first",
        "_in_reasoning",
        "_pieces",
        "_started",
        "finish_reason",
        "model",
        "raw_reasoning",
        "usage",
    )

    def __init__(self, model: str, raw_reasoning: bool, started_ns: int | None = None) -> None:
        self.model = model
        self.raw_reasoning = raw_reasoning
        self._started = started_ns if started_ns is not None else _now()
        self._first: int | None = None
        self._pieces = 0
        self._calls: dict[int, dict[str, Any]] = {}
        self._in_reasoning = False
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None

    def event(self, event: dict[str, Any]) -> Chunk | None:
        """The chunk one streamed event carries (None when it carries no output)."""
        usage = event.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        choices = event.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            return None
        choice = choices[0]
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])
        delta = choice.get("delta")
        if not isinstance(delta, dict):  # /v1/completions
            return _with_logprobs(self._output(_text(choice.get("text")), "", None), choice, self)
        for piece in delta.get("tool_calls") or ():
            self._add_call_piece(piece)
        reasoning = _text(delta.get("reasoning_content") or delta.get("reasoning"))
        calls = self._whole_calls() if self.finish_reason else None
        chunk = self._output(_text(delta.get("content")), reasoning, calls)
        return _with_logprobs(chunk, choice, self)

    def whole(self, reply: Any) -> Chunk:
        """The only chunk of a reply that was not streamed (``done``, with its stats)."""
        if not isinstance(reply, dict) or not isinstance(reply.get("choices"), list):
            raise UpstreamBadResponse("malformed reply from the upstream (no choices)")
        choice = reply["choices"][0] if reply["choices"] else {}
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            text = _text(message.get("content"))
            reasoning = _text(message.get("reasoning_content") or message.get("reasoning"))
            for index, call in enumerate(message.get("tool_calls") or ()):
                self._add_call_piece({**call, "index": index})
        else:
            text, reasoning = _text(choice.get("text")), ""
        self.finish_reason = choice.get("finish_reason") or "stop"
        if isinstance(reply.get("usage"), dict):
            self.usage = reply["usage"]
        chunk = self._output(text, reasoning, self._whole_calls()) or Chunk(model=self.model)
        final = self.finish()
        final.text = chunk.text + final.text
        final.thinking, final.tool_calls = chunk.thinking, chunk.tool_calls
        if isinstance(choice, dict):
            final.logprobs = logprob_entries(choice.get("logprobs"))
        return final

    def finish(self) -> Chunk:
        """The last chunk: done, why, counts and durations (and any tool call not yet sent)."""
        end = _now()
        first = self._first if self._first is not None else end
        usage = self.usage or {}
        stats = Stats(
            prompt_eval_count=_count(usage.get("prompt_tokens")),
            eval_count=_count(usage.get("completion_tokens")) or self._pieces,
            total_duration=end - self._started,
            prompt_eval_duration=first - self._started,
            eval_duration=end - first,
        )
        text = "</think>\n\n" if self._in_reasoning else ""
        self._in_reasoning = False
        return Chunk(
            text=text,
            tool_calls=self._whole_calls(),
            done=True,
            done_reason="length" if self.finish_reason == "length" else "stop",
            stats=stats,
            model=self.model,
        )

    # -- pieces -----------------------------------------------------------------------------
    def _output(
        self, text: str, reasoning: str, calls: list[dict[str, Any]] | None
    ) -> Chunk | None:
        if not text and not reasoning and not calls:
            return None
        if self._first is None:
            self._first = _now()
        self._pieces += 1
        thinking = reasoning
        if self.raw_reasoning:  # the model's own words: <think>reasoning</think>answer
            thinking = ""
            if reasoning:
                text = ("" if self._in_reasoning else "<think>") + reasoning + text
                self._in_reasoning = True
            elif self._in_reasoning and (text or calls):
                text = "</think>\n\n" + text
                self._in_reasoning = False
        return Chunk(text=text, thinking=thinking, tool_calls=calls, model=self.model)

    def _add_call_piece(self, piece: Any) -> None:
        if not isinstance(piece, dict):
            raise UpstreamBadResponse("malformed tool call from the upstream")
        index = piece.get("index", len(self._calls))
        call = self._calls.setdefault(
            index if isinstance(index, int) else len(self._calls),
            {"id": "", "name": "", "arguments": ""},
        )
        if piece.get("id"):
            call["id"] = str(piece["id"])
        function = piece.get("function") or {}
        if function.get("name"):
            call["name"] += str(function["name"]) if not call["name"] else ""
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            call["arguments"] += arguments
        elif isinstance(arguments, dict):
            call["arguments"] = orjson.dumps(arguments).decode()

    def _whole_calls(self) -> list[dict[str, Any]] | None:
        if not self._calls:
            return None
        calls = [self._calls[i] for i in sorted(self._calls)]
        self._calls = {}
        out = []
        for call in calls:
            whole: dict[str, Any] = {
                "function": {"name": call["name"], "arguments": _arguments(call)}
            }
            if call["id"]:
                whole["id"] = call["id"]
            out.append(whole)
        return out


def logprob_entries(found: Any) -> list[dict[str, Any]] | None:
    """A choice's ``logprobs`` (chat's ``content`` list, or the completions' parallel lists)
    as the neutral entries ``{"token", "logprob", "bytes", "top_logprobs"}``; None if absent."""
    if not isinstance(found, dict):
        return None
    if isinstance(found.get("content"), list):
        return [_entry(e) for e in found["content"] if isinstance(e, dict)]
    tokens, values = found.get("tokens"), found.get("token_logprobs")
    if not isinstance(tokens, list) or not isinstance(values, list):
        return None
    tops = found.get("top_logprobs") or [None] * len(tokens)
    out = []
    for token, value, top in zip(tokens, values, tops, strict=False):
        entry = _entry({"token": token, "logprob": value})
        if isinstance(top, dict):
            entry["top_logprobs"] = [_entry({"token": t, "logprob": v}) for t, v in top.items()]
        out.append(entry)
    return out


def _entry(data: dict[str, Any]) -> dict[str, Any]:
    token = _text(data.get("token"))
    raw = data.get("bytes")
    value = data.get("logprob")
    out: dict[str, Any] = {
        "token": token,
        "logprob": float(value) if isinstance(value, int | float) else 0.0,
        "bytes": raw if isinstance(raw, list) else list(token.encode()),
    }
    if isinstance(data.get("top_logprobs"), list):
        out["top_logprobs"] = [_entry(t) for t in data["top_logprobs"] if isinstance(t, dict)]
    return out


def _with_logprobs(chunk: Chunk | None, choice: dict[str, Any], reply: Any) -> Chunk | None:
    entries = logprob_entries(choice.get("logprobs"))
    if entries:
        chunk = chunk or Chunk(model=reply.model)
        chunk.logprobs = entries
    return chunk


def _arguments(call: dict[str, Any]) -> Any:
    text = call["arguments"] or "{}"
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text  # the model wrote something that is not JSON: handed on as it is


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
