"""OpenAI's reply shapes, as the API documents them (``/openapi.json``).

Required and nullable as in OpenAI's published spec: a field that is required there is always
sent, ``null`` when it has no value (``message.refusal``, ``choices[].logprobs``, a stream
chunk's ``finish_reason``). Replies are rendered straight to bytes by
:mod:`ollama_gateway.api.openai.render`; the API tests validate them against these models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Reply(BaseModel):
    model_config = ConfigDict(extra="allow")


class Usage(Reply):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ToolCallFunction(Reply):
    name: str
    arguments: str = Field(description="The arguments as JSON text")


class ToolCall(Reply):
    id: str
    type: Literal["function"]
    function: ToolCallFunction


class AssistantMessage(Reply):
    role: Literal["assistant"]
    content: str | None
    refusal: str | None
    tool_calls: list[ToolCall] | None = None
    reasoning_content: str | None = Field(None, description="The model's thinking, if any")


FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]


class ChatChoice(Reply):
    index: int
    message: AssistantMessage
    logprobs: dict[str, Any] | None
    finish_reason: FinishReason


class ChatCompletion(Reply):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage | None = None


class ChunkToolCall(Reply):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: dict[str, Any] | None = None


class Delta(Reply):
    role: Literal["assistant"] | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ChunkToolCall] | None = None
    reasoning_content: str | None = None


class ChunkChoice(Reply):
    index: int
    delta: Delta
    logprobs: dict[str, Any] | None = None
    finish_reason: FinishReason | None


class ChatCompletionChunk(Reply):
    """One ``data:`` event of a streamed chat completion (the stream ends with ``[DONE]``)."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = Field(
        None, description="With stream_options.include_usage: null, except on the last event"
    )


class CompletionChoice(Reply):
    index: int
    text: str
    logprobs: dict[str, Any] | None
    finish_reason: Literal["stop", "length", "content_filter"] | None


class Completion(Reply):
    """A text completion, whole or one ``data:`` event of a stream."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class Model(Reply):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(Reply):
    object: Literal["list"]
    data: list[Model]


class Embedding(Reply):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str = Field(description="Floats, or base64 little-endian float32")


class EmbeddingUsage(Reply):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(Reply):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
