"""OpenAI's request bodies (``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``).

Each model converts itself into the neutral request; anything the gateway cannot honour is an
:class:`~ollama_gateway.errors.Unsupported` (400) rather than being silently ignored. Fields that
change nothing about the output (``user``, ``metadata``, ``store``...) are accepted and ignored, and
``null`` is the same as an absent field wherever OpenAI's spec allows it
(:class:`~ollama_gateway.schemas.base.WireBody`).
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import Field, field_validator

from ollama_gateway.core.types import EmbedRequest, GenerationRequest, Message
from ollama_gateway.errors import BadRequest, Unsupported, clip
from ollama_gateway.models.refs import check_model_name
from ollama_gateway.schemas.base import WireBody
from ollama_gateway.tools.definitions import ToolChoice

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class StreamOptions(WireBody):
    include_usage: bool = False


class ResponseFormat(WireBody):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: dict[str, Any] | None = None

    def to_format(self) -> str | dict[str, Any] | None:
        if self.type == "json_object":
            return "json"
        if self.type == "json_schema":
            schema = (self.json_schema or {}).get("schema")
            if not isinstance(schema, dict):
                raise BadRequest("response_format.json_schema.schema must be a JSON schema object")
            return schema
        return None


class _Sampling(WireBody):
    """Sampling fields shared by chat and text completions."""

    model: str = ""
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=0)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    n: int | None = None
    logit_bias: dict[str, float] | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> list[str] | None:
        if value is None:
            return None
        stops = [value] if isinstance(value, str) else value
        return [s for s in stops if s] or None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream and self.stream_options and self.stream_options.include_usage)

    def _check(self) -> None:
        check_model_name(self.model)
        if self.n not in (None, 1):
            raise Unsupported("only n=1 is supported")
        if self.logit_bias:
            raise Unsupported("logit_bias is not supported")

    def _options(self, max_tokens: int | None) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if max_tokens is not None:
            options["num_predict"] = max_tokens
        for name in ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty"):
            value = getattr(self, name)
            if value is not None:
                options[name] = value
        if self.stop:
            options["stop"] = self.stop
        return options


# --- chat ---------------------------------------------------------------------------------


class OpenAIMessage(WireBody):
    role: str
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


def _data_url_image(part: dict[str, Any]) -> str:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise BadRequest("image_url parts need an image_url.url")
    if not url.startswith("data:"):
        raise Unsupported("only data: URLs are supported for images (this server fetches nothing)")
    header, _, data = url.partition(",")
    if not header.endswith(";base64") or not data:
        raise BadRequest("image data URLs must be base64: data:image/png;base64,...")
    return data


def _content(content: str | list[dict[str, Any]] | None) -> tuple[str, list[str]]:
    """The text and base64 images of a message's content (a string or content parts)."""
    if content is None or isinstance(content, str):
        return content or "", []
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        kind = part.get("type")
        if kind in ("text", "input_text", "refusal"):
            text = part.get("text", part.get("refusal"))
            if not isinstance(text, str):
                raise BadRequest(f"a {kind} content part needs a string")
            texts.append(text)
        elif kind == "image_url":
            images.append(_data_url_image(part))
        else:
            raise Unsupported(f"content parts of type {clip(repr(kind))} are not supported")
    return "\n".join(texts), images


def _arguments(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    raw = function.get("arguments")
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("tool_calls[].function.arguments must be a JSON object") from None
    if not isinstance(parsed, dict):
        raise BadRequest("tool_calls[].function.arguments must be a JSON object")
    return parsed


def to_messages(messages: list[OpenAIMessage]) -> list[Message]:
    """OpenAI's messages as neutral ones: tool results named after the call they answer."""
    out: list[Message] = []
    call_names: dict[str, str] = {}
    for message in messages:
        text, images = _content(message.content)
        if message.role == "tool":
            name = call_names.get(message.tool_call_id or "", message.name)
            out.append(
                Message(
                    role="tool", content=text, tool_name=name, tool_call_id=message.tool_call_id
                )
            )
            continue
        role = _ROLES.get(message.role)
        if role is None:
            raise BadRequest(f"unsupported message role {clip(repr(message.role))}")
        calls = None
        if message.tool_calls:
            calls = []
            for call in message.tool_calls:
                name = (call.get("function") or {}).get("name", "")
                function = {"name": name, "arguments": _arguments(call)}
                neutral: dict[str, Any] = {"function": function}
                if call.get("id"):
                    call_names[call["id"]] = name
                    neutral["id"] = call["id"]
                calls.append(neutral)
        out.append(Message(role=role, content=text, images=images or None, tool_calls=calls))
    return out


class ChatCompletionBody(_Sampling):
    messages: list[OpenAIMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=0)
    response_format: ResponseFormat | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    reasoning_effort: str | None = None

    def _think(self) -> bool | None:
        if self.reasoning_effort is None:
            return None
        return self.reasoning_effort.lower() != "none"

    def to_request(self) -> GenerationRequest:
        self._check()
        top = self.top_logprobs
        if top is not None and not 0 <= top <= 20:
            raise BadRequest("top_logprobs must be between 0 and 20")
        if top and not self.logprobs:
            raise BadRequest("logprobs must be true when top_logprobs is set")
        tools = self.tools or None
        choice = ToolChoice.parse(self.tool_choice)
        if choice.mode == "none":
            tools, choice = None, ToolChoice()
        limit = self.max_completion_tokens
        if limit is None:
            limit = self.max_tokens
        return GenerationRequest(
            model=self.model,
            kind="chat",
            messages=to_messages(self.messages),
            format=self.response_format.to_format() if self.response_format else None,
            options=self._options(limit),
            stream=self.stream,
            think=self._think(),
            tools=tools,
            tool_choice="required" if choice.forced else "auto",
            forced_tool=choice.name,
            parallel_tool_calls=self.parallel_tool_calls,
            logprobs=bool(self.logprobs),
            top_logprobs=top or 0,
        )


# --- text completions ---------------------------------------------------------------------


class CompletionBody(_Sampling):
    prompt: str | list[str] | list[int] | list[list[int]] = ""
    suffix: str | None = None
    echo: bool = False
    logprobs: int | None = None
    best_of: int | None = None

    def prompt_text(self) -> str:
        if isinstance(self.prompt, str):
            return self.prompt
        if len(self.prompt) == 1 and isinstance(self.prompt[0], str):
            return self.prompt[0]
        if self.prompt and not all(isinstance(p, str) for p in self.prompt):
            raise Unsupported("prompts as token ids are not supported; send text")
        raise Unsupported("only one prompt per request is supported")

    def to_request(self) -> GenerationRequest:
        self._check()
        if self.logprobs is not None and not 0 <= self.logprobs <= 20:
            raise BadRequest("logprobs must be between 0 and 20")
        if self.best_of not in (None, 1):
            raise Unsupported("only best_of=1 is supported")
        return GenerationRequest(
            model=self.model,
            kind="generate",
            prompt=self.prompt_text(),
            suffix=self.suffix or None,
            options=self._options(self.max_tokens),
            stream=self.stream,
            logprobs=self.logprobs is not None,
            top_logprobs=self.logprobs or 0,
        )


# --- embeddings ---------------------------------------------------------------------------


class OpenAIEmbeddingsBody(WireBody):
    model: str = ""
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, gt=0)

    def to_request(self) -> EmbedRequest:
        if isinstance(self.input, str):
            inputs = [self.input]
        elif all(isinstance(item, str) for item in self.input):
            inputs = list(self.input)  # type: ignore[arg-type]
        else:
            raise Unsupported("inputs as token ids are not supported; send text")
        if not inputs:
            raise BadRequest("input must not be empty")
        return EmbedRequest(
            model=check_model_name(self.model), inputs=inputs, dimensions=self.dimensions
        )
