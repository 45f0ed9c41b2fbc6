"""Neutral request and result types.

Every API family (the seed contract, Ollama-native, OpenAI-compatible) converts its wire request
into a :class:`GenerationRequest` and renders the same stream of :class:`Chunk` objects. Backends
never know which API called them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

RequestKind = Literal["generate", "chat"]


@dataclass(slots=True)
class Message:
    """One chat message (Ollama's shape, which OpenAI's maps onto)."""

    role: str
    content: str = ""
    images: list[str] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    thinking: str | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None


@dataclass(slots=True)
class GenerationRequest:
    """A request to generate text, from any API.

    ``options`` holds Ollama's generation options (``temperature``, ``num_predict``, ``stop``...)
    already validated for type; backends map them onto their engine. ``format`` is ``"json"``,
    a JSON schema (dict) or ``None``. ``think`` is ``None`` when the client did not ask (the raw
    model output is returned), ``True`` to split reasoning out, ``False`` to drop it.
    ``tool_choice``: ``auto`` (the model may call one of ``tools``) or ``required`` (it must:
    ``forced_tool`` when it must call that one); ``parallel_tool_calls``: a reply may hold more
    than one call (None: not said; the embedded engine then allows one, as llama.cpp's server
    does: a small model otherwise goes on calling until its tokens run out).
    """

    model: str
    kind: RequestKind = "generate"
    prompt: str = ""
    messages: list[Message] = field(default_factory=list)
    suffix: str | None = None
    system: str | None = None
    template: str | None = None
    raw: bool = False
    format: str | dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    stream: bool = True
    keep_alive: float | None = None  # seconds; None = backend default; <0 forever; 0 unload now
    think: bool | None = None
    images: list[str] | None = None
    context: list[int] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Literal["auto", "required"] = "auto"
    forced_tool: str | None = None
    parallel_tool_calls: bool | None = None
    request_id: str = ""
    logprobs: bool = False
    top_logprobs: int = 0  # alternatives per token (0-20), with logprobs
    # The caller writes the chunks out as they come and forwards an upstream's own lines
    # (``Chunk.raw``): chunks that arrive together may be joined into one (one write).
    coalesce: bool = False


@dataclass(slots=True)
class Stats:
    """Counts and durations reported with the final chunk (durations in nanoseconds)."""

    prompt_eval_count: int = 0
    eval_count: int = 0
    total_duration: int = 0
    load_duration: int = 0
    prompt_eval_duration: int = 0
    eval_duration: int = 0


@dataclass(slots=True)
class Chunk:
    """One piece of a generation.

    ``text`` is the visible output (``response`` / ``message.content``); ``thinking`` the
    reasoning when it was split out. The last chunk has ``done=True``, a ``done_reason``
    (``stop``, ``length``, ``load``, ``unload``) and ``stats``.

    ``starts_in_thinking`` is set by a backend on its first chunk when the prompt it rendered
    ended inside the reasoning (a chat template that writes ``<think>`` itself, as DeepSeek-R1's
    does): the output then begins with reasoning and no opening tag.

    ``raw`` is set by a backend whose upstream wrote this chunk as NDJSON lines in Ollama's own
    format for the same endpoint: those lines, each ending in ``\n``, which Ollama's renderer
    forwards as they are. Whatever changes the chunk's content or model clears it.
    """

    text: str = ""
    thinking: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    done: bool = False
    done_reason: str | None = None
    stats: Stats | None = None
    context: list[int] | None = None
    model: str = ""
    starts_in_thinking: bool = False
    # With ``logprobs`` asked: one entry per generated token whose text this chunk carries,
    # ``{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}``.
    logprobs: list[dict[str, Any]] | None = None
    raw: bytes | None = None


@dataclass(slots=True)
class EmbedRequest:
    model: str
    inputs: list[str]
    truncate: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    keep_alive: float | None = None
    dimensions: int | None = None


@dataclass(slots=True)
class EmbedResult:
    model: str
    embeddings: list[list[float]]
    prompt_eval_count: int = 0
    total_duration: int = 0
    load_duration: int = 0


@dataclass(slots=True)
class ModelInfo:
    """A model as ``/api/tags`` lists it (Ollama's field names)."""

    name: str
    size: int = 0
    digest: str = ""
    modified_at: str = ""  # RFC 3339
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RunningModel:
    """A loaded model as ``/api/ps`` lists it (``upstream``: where, in a fleet)."""

    name: str
    size: int = 0
    digest: str = ""
    expires_at: str = ""  # RFC 3339
    size_vram: int = 0
    context_length: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    upstream: str = ""
