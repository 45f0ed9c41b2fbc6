"""Ollama's reply shapes, as the API documents them (``/openapi.json``).

The routers render replies straight to JSON bytes (:mod:`ollama_gateway.api.ollama.render`); these
models describe those bytes for the schema, and the API tests validate real replies against the
schema, so the two cannot drift apart. Optional fields are left out of a reply, not sent as null.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Reply(BaseModel):
    """Base of the reply models: a reply may carry more fields than documented here."""

    model_config = ConfigDict(extra="allow")


class Stats(Reply):
    """Timings (nanoseconds) and token counts, on the last object of a generation."""

    done_reason: str | None = Field(None, description="stop, length, or load (only on the last)")
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None


class GenerateChunk(Stats):
    """One ``/api/generate`` object: a whole reply, or one line of a stream."""

    model: str
    created_at: str = Field(description="RFC 3339, UTC")
    response: str
    thinking: str | None = None
    done: bool
    context: list[int] | None = None


class GenerateReply(GenerateChunk):
    """``/api/generate`` without streaming: Ollama's object plus the seed contract's fields."""

    generated_text: str = Field(description="The seed contract's name for the whole response.")
    elapsed_time: float = Field(description="Seconds the gateway spent on the request.")


class ReplyMessage(Reply):
    role: str
    content: str
    thinking: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class ChatChunk(Stats):
    """One ``/api/chat`` object: a whole reply, or one line of a stream."""

    model: str
    created_at: str
    message: ReplyMessage
    done: bool


class StreamError(Reply):
    """A stream that fails after it started ends with this line (the status stays 200)."""

    error: str


class ModelDetails(Reply):
    parent_model: str | None = None
    format: str | None = None
    family: str | None = None
    families: list[str] | None = None
    parameter_size: str | None = None
    quantization_level: str | None = None


class ModelEntry(Reply):
    name: str
    model: str
    modified_at: str | None = None
    size: int
    digest: str
    details: ModelDetails


class TagsReply(Reply):
    models: list[ModelEntry]


class RunningEntry(Reply):
    name: str
    model: str
    size: int
    digest: str
    details: ModelDetails
    expires_at: str | None = None
    size_vram: int
    context_length: int | None = None


class PsReply(Reply):
    models: list[RunningEntry]


class VersionReply(Reply):
    version: str


class ShowReply(Reply):
    modelfile: str | None = None
    parameters: str | None = None
    template: str | None = None
    system: str | None = None
    license: str | None = None
    details: ModelDetails | None = None
    model_info: dict[str, Any]
    capabilities: list[str] | None = None
    modified_at: str | None = None


class Progress(Reply):
    """One ``/api/pull`` status: a line of the stream, or the last one without streaming."""

    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None


class EmbedReply(Reply):
    model: str
    embeddings: list[list[float]]
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None


class EmbeddingsReply(Reply):
    embedding: list[float]
