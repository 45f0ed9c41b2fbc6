"""A neutral :class:`GenerationRequest` as the body an OpenAI-compatible server expects.

- ``chat`` requests, and ``generate`` requests (Ollama's ``/api/generate``, the seed call) that
  the server's chat template should wrap, go to ``/v1/chat/completions``: the prompt becomes one
  user message after the optional system message, as Ollama's template would place them.
- ``generate`` requests with ``raw`` or a ``suffix`` go to ``/v1/completions`` unchanged.
- Options: ``num_predict`` -> ``max_tokens``; ``temperature``, ``top_p``, ``seed``, ``stop``,
  ``presence_penalty``, ``frequency_penalty`` keep their names; ``top_k``, ``min_p`` and
  ``typical_p`` are sent as the extra fields vLLM, SGLang and llama-server accept;
  ``repeat_penalty`` -> ``repetition_penalty``. Options only Ollama knows (``num_ctx``,
  ``num_gpu``, ...) configure the server, not a request, and are not sent.
- ``format``: ``"json"`` -> ``response_format: json_object``; a schema -> ``json_schema``.
- ``think`` -> ``chat_template_kwargs.enable_thinking`` (only when the client asked).
- Tools are sent as given (Ollama's tool definitions are OpenAI's); tool calls in the history get
  ids and their arguments as JSON text, and tool results the id of the call they answer.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from ollama_gateway.core.types import GenerationRequest, Message
from ollama_gateway.errors import Unsupported

SAME_NAME = (
    "temperature",
    "top_p",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "top_k",
    "min_p",
    "typical_p",
)
RENAMED = {"num_predict": "max_tokens", "repeat_penalty": "repetition_penalty"}

_IMAGE_TYPES = (
    (b"\x89PNG", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"RIFF", "image/webp"),
)


def uses_completions(request: GenerationRequest) -> bool:
    """Whether the request goes to ``/v1/completions`` (raw text) rather than chat."""
    return request.kind == "generate" and (request.raw or request.suffix is not None)


def sampling(options: dict[str, Any]) -> dict[str, Any]:
    """Ollama's options under the names OpenAI-compatible servers read."""
    out = {name: options[name] for name in SAME_NAME if options.get(name) is not None}
    for ours, theirs in RENAMED.items():
        if options.get(ours) is not None:
            out[theirs] = options[ours]
    return out


def response_format(fmt: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if fmt is None:
        return None
    if fmt == "json":
        return {"type": "json_object"}
    if isinstance(fmt, dict):
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": fmt}}
    raise Unsupported(f"format {fmt!r} is not supported")


def chat_body(request: GenerationRequest, model: str) -> dict[str, Any]:
    """The ``/v1/chat/completions`` body."""
    if request.template is not None:
        raise Unsupported("a template cannot be applied by an OpenAI-compatible upstream")
    if request.kind == "generate":
        messages = [Message(role="user", content=request.prompt, images=request.images)]
        if request.system:
            messages.insert(0, Message(role="system", content=request.system))
    else:
        messages = request.messages
    body: dict[str, Any] = {"model": model, "messages": chat_messages(messages)}
    body.update(_common(request))
    if request.logprobs:
        body["logprobs"] = True
        if request.top_logprobs:
            body["top_logprobs"] = request.top_logprobs
    if request.tools:
        body["tools"] = request.tools
        if request.forced_tool is not None:
            body["tool_choice"] = {"type": "function", "function": {"name": request.forced_tool}}
        elif request.tool_choice == "required":
            body["tool_choice"] = "required"
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.think is not None:
        body["chat_template_kwargs"] = {"enable_thinking": request.think}
    return body


def completion_body(request: GenerationRequest, model: str) -> dict[str, Any]:
    """The ``/v1/completions`` body (raw prompt, optional suffix)."""
    if request.images:
        raise Unsupported("images need the chat form: send them without raw")
    body: dict[str, Any] = {"model": model, "prompt": request.prompt}
    if request.suffix is not None:
        body["suffix"] = request.suffix
    body.update(_common(request))
    if request.logprobs:
        body["logprobs"] = request.top_logprobs
    return body


def _common(request: GenerationRequest) -> dict[str, Any]:
    out = sampling(request.options)
    fmt = response_format(request.format)
    if fmt is not None:
        out["response_format"] = fmt
    out["stream"] = request.stream
    if request.stream:
        out["stream_options"] = {"include_usage": True}
    return out


def chat_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Ollama's messages in OpenAI's shape (tool calls with ids, tool results answering them)."""
    out: list[dict[str, Any]] = []
    pending: list[tuple[str, str]] = []  # (call id, function name) not answered yet
    for message in messages:
        item: dict[str, Any] = {"role": message.role, "content": _content(message)}
        if message.role == "assistant" and message.tool_calls:
            calls = [_call(call, len(out), i) for i, call in enumerate(message.tool_calls)]
            item["tool_calls"] = calls
            item["content"] = message.content or None
            pending = [(c["id"], c["function"]["name"]) for c in calls]
        elif message.role == "tool":
            item["tool_call_id"] = message.tool_call_id or _answered(
                pending, message.tool_name, len(out)
            )
        out.append(item)
    return out


def _content(message: Message) -> str | list[dict[str, Any]]:
    if not message.images:
        return message.content
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    for image in message.images:
        parts.append({"type": "image_url", "image_url": {"url": data_url(image)}})
    return parts


def data_url(image: str) -> str:
    """An Ollama image (base64, no media type) as a ``data:`` URL with its media type."""
    if image.startswith("data:"):
        return image
    try:
        head = base64.b64decode(image[:16] + "=" * (-len(image[:16]) % 4))
    except ValueError:
        head = b""
    kind = next((mime for magic, mime in _IMAGE_TYPES if head.startswith(magic)), "image/jpeg")
    return f"data:{kind};base64,{image}"


def _call(call: dict[str, Any], message_index: int, index: int) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments", {})
    if not isinstance(arguments, str):
        arguments = orjson.dumps(arguments).decode()
    return {
        "id": str(call.get("id") or f"call_{message_index}_{index}"),
        "type": "function",
        "function": {"name": str(function.get("name", "")), "arguments": arguments},
    }


def _answered(pending: list[tuple[str, str]], name: str | None, message_index: int) -> str:
    """The id of the call a tool result answers: the first pending one of that name."""
    for i, (call_id, function) in enumerate(pending):
        if name is None or function == name:
            del pending[i]
            return call_id
    return f"call_{message_index}"
