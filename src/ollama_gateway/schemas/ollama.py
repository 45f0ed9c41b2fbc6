"""Ollama's request bodies: generation (``/api/generate``, ``/api/chat``; the seed contract is one)
and models (``/api/show``, ``/api/pull``, ``/api/delete``, ``/api/copy``, ``/api/embed``,
``/api/embeddings``). Unknown fields are ignored and ``null`` is absent, as in Ollama's decoder
(:class:`~ollama_gateway.schemas.base.WireBody`).
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator

from ollama_gateway.core.durations import parse_duration
from ollama_gateway.core.types import EmbedRequest, GenerationRequest, Message
from ollama_gateway.errors import BadRequest, clip
from ollama_gateway.models.refs import check_model_name
from ollama_gateway.schemas.base import WireBody

ROLES = frozenset({"system", "user", "assistant", "tool"})


class Options(WireBody):
    """Ollama's generation options. Known ones are type-checked; unknown ones pass through."""

    model_config = ConfigDict(extra="allow")

    num_keep: int | None = None
    seed: int | None = None
    num_predict: int | None = None
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    typical_p: float | None = None
    repeat_last_n: int | None = None
    temperature: float | None = None
    repeat_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    penalize_newline: bool | None = None
    stop: list[str] | None = None
    num_ctx: int | None = None
    num_batch: int | None = None
    num_gpu: int | None = None
    main_gpu: int | None = None
    use_mmap: bool | None = None
    num_thread: int | None = None

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class _Common(WireBody):
    model: str = ""
    format: str | dict[str, Any] | None = None
    options: Options | None = None
    stream: bool | None = None
    keep_alive: str | float | None = None
    think: bool | str | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None

    @field_validator("keep_alive")
    @classmethod
    def _duration(cls, value: str | float | None) -> str | float | None:
        parse_duration(value)
        return value

    @field_validator("format")
    @classmethod
    def _format(cls, value: str | dict | None) -> str | dict | None:
        if isinstance(value, str) and value not in ("", "json"):
            raise ValueError('format must be "json" or a JSON schema')
        return value or None

    def _think(self) -> bool | None:
        if isinstance(self.think, str):  # "high" / "medium" / "low" levels mean: think
            return self.think.lower() not in ("false", "none", "")
        return self.think

    def _common(self) -> dict[str, Any]:
        top = self.top_logprobs or 0
        if not 0 <= top <= 20:
            raise BadRequest("top_logprobs must be between 0 and 20")
        return {
            "logprobs": bool(self.logprobs),
            "top_logprobs": top if self.logprobs else 0,
            "model": check_model_name(self.model),
            "format": self.format,
            "options": self.options.as_dict() if self.options else {},
            "stream": bool(self.stream),
            "keep_alive": parse_duration(self.keep_alive),
            "think": self._think(),
        }


class GenerateBody(_Common):
    prompt: str | None = None
    suffix: str | None = None
    system: str | None = None
    template: str | None = None
    raw: bool = False
    images: list[str] | None = None
    context: list[int] | None = None

    def to_request(self) -> GenerationRequest:
        return GenerationRequest(
            kind="generate",
            prompt=self.prompt or "",
            suffix=self.suffix,
            system=self.system,
            template=self.template,
            raw=self.raw,
            images=self.images or None,
            context=self.context or None,
            **self._common(),
        )


class ChatMessage(WireBody):
    role: str
    content: str | None = ""
    images: list[str] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    thinking: str | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        if value not in ROLES:
            raise ValueError(
                f"role must be one of system, user, assistant, tool; not {clip(repr(value))}"
            )
        return value

    def to_message(self) -> Message:
        return Message(
            role=self.role,
            content=self.content or "",
            images=self.images or None,
            tool_calls=self.tool_calls or None,
            thinking=self.thinking or None,
            tool_name=self.tool_name,
            tool_call_id=self.tool_call_id,
        )


class ChatBody(_Common):
    messages: list[ChatMessage] = Field(default_factory=list)
    tools: list[dict[str, Any]] | None = None

    def to_request(self) -> GenerationRequest:
        return GenerationRequest(
            kind="chat",
            messages=[m.to_message() for m in self.messages],
            tools=self.tools or None,
            **self._common(),
        )


class EmbedBody(WireBody):
    """``POST /api/embed``: one input or a list of them."""

    model: str = ""
    input: str | list[str] = ""
    truncate: bool = True
    options: Options | None = None
    keep_alive: str | float | None = None
    dimensions: int | None = Field(None, gt=0)

    @field_validator("keep_alive")
    @classmethod
    def _duration(cls, value: str | float | None) -> str | float | None:
        parse_duration(value)
        return value

    def inputs(self) -> list[str]:
        if isinstance(self.input, str):
            return [self.input] if self.input else []
        return list(self.input)

    def to_request(self) -> EmbedRequest:
        return EmbedRequest(
            model=check_model_name(self.model),
            inputs=self.inputs(),
            truncate=self.truncate,
            options=self.options.as_dict() if self.options else {},
            keep_alive=parse_duration(self.keep_alive),
            dimensions=self.dimensions,
        )


class EmbeddingsBody(WireBody):
    """``POST /api/embeddings``, the legacy single-prompt form."""

    model: str = ""
    prompt: str = ""
    options: Options | None = None
    keep_alive: str | float | None = None

    @field_validator("keep_alive")
    @classmethod
    def _duration(cls, value: str | float | None) -> str | float | None:
        parse_duration(value)
        return value

    def to_request(self) -> EmbedRequest:
        return EmbedRequest(
            model=check_model_name(self.model),
            inputs=[self.prompt] if self.prompt else [],
            options=self.options.as_dict() if self.options else {},
            keep_alive=parse_duration(self.keep_alive),
        )


class ModelBody(WireBody):
    """A body naming one model: ``/api/show``, ``/api/delete``, ``/api/pull``.

    ``name`` is the older spelling of ``model``; both are accepted.
    """

    model: str = ""
    name: str = ""
    verbose: bool = False
    insecure: bool = False
    stream: bool | None = None
    upstream: str | None = Field(None, max_length=200)  # a fleet's upstream (pull, delete)

    def model_name(self) -> str:
        chosen = (self.model or self.name).strip()
        if not chosen:
            raise BadRequest("field 'model' is required")
        return check_model_name(chosen)


class CopyBody(WireBody):
    """``POST /api/copy``."""

    source: str = Field(min_length=1)
    destination: str = Field(min_length=1)

    def names(self) -> tuple[str, str]:
        """``(source, destination)``, both checked to be model names."""
        return check_model_name(self.source), check_model_name(self.destination)

    upstream: str | None = Field(None, max_length=200)  # a fleet's upstream
