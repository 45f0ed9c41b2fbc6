"""Typed responses of the gateway's Ollama-native API.

Small dataclasses, built from the JSON the server sends with :meth:`Wire.from_dict`. Fields the
server sends that we do not know about are kept in ``extra``, so a newer server never breaks an
older client. Every object also answers ``obj["field"]`` and ``obj.get("field")`` like the dicts
(and the official ``ollama`` client's models) callers may be used to.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypedDict, TypeVar

W = TypeVar("W", bound="Wire")


@dataclass(kw_only=True)
class Wire:
    """Base of every response type: dict-like access, unknown fields kept in ``extra``."""

    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    #: How to build nested fields: field name -> function of the raw JSON value.
    _nested: ClassVar[Mapping[str, Callable[[Any], Any]]] = {}

    @classmethod
    def from_dict(cls: type[W], data: Mapping[str, Any]) -> W:
        """Build from a JSON object; unknown keys go to ``extra``, ``null`` keeps the default."""
        names = {f.name for f in dataclasses.fields(cls) if f.init and f.name != "extra"}
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key not in names:
                extra[key] = value
            elif value is not None:
                convert = cls._nested.get(key)
                known[key] = convert(value) if convert else value
        return cls(**known, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object again (``None`` fields left out, ``extra`` merged back)."""
        out = {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name != "extra" and getattr(self, f.name) is not None
        }
        out.update(self.extra)
        return out

    def __getitem__(self, key: str) -> Any:
        if key in self.extra:
            return self.extra[key]
        if key != "extra" and key in {f.name for f in dataclasses.fields(self)}:
            return getattr(self, key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def get(self, key: str, default: Any = None) -> Any:
        """``self[key]``, or ``default`` when there is no such field."""
        try:
            return self[key]
        except KeyError:
            return default


def _plain(value: Any) -> Any:
    if isinstance(value, Wire):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _list_of(cls: type[W]) -> Callable[[Any], list[W]]:
    return lambda items: [cls.from_dict(item) for item in items]


@dataclass(kw_only=True)
class Timings(Wire):
    """Counts and durations (nanoseconds) sent with the last chunk of a generation."""

    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None


@dataclass(kw_only=True)
class GenerateChunk(Timings):
    """One line of a streamed ``/api/generate`` answer; the last has ``done=True``."""

    model: str = ""
    created_at: str = ""
    response: str = ""
    thinking: str | None = None
    done: bool = False
    done_reason: str | None = None
    context: list[int] | None = None


@dataclass(kw_only=True)
class GenerateResponse(GenerateChunk):
    """A whole ``/api/generate`` answer, with the seed contract's fields.

    ``generated_text`` and ``elapsed_time`` (seconds) come from the gateway; against a plain
    Ollama server they are derived from ``response`` and ``total_duration``.
    """

    generated_text: str = ""
    elapsed_time: float | None = None

    def __post_init__(self) -> None:
        if not self.generated_text and self.response:
            self.generated_text = self.response
        if self.elapsed_time is None and self.total_duration is not None:
            self.elapsed_time = self.total_duration / 1e9


@dataclass(kw_only=True)
class ToolCall(Wire):
    """A function the model asks to call: ``function = {"name": ..., "arguments": {...}}``."""

    function: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class Message(Wire):
    """One chat message. ``role`` is ``system``, ``user``, ``assistant`` or ``tool``."""

    role: str = "user"
    content: str = ""
    thinking: str | None = None
    images: list[str] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_name: str | None = None

    _nested = {"tool_calls": _list_of(ToolCall)}


@dataclass(kw_only=True)
class ChatResponse(Timings):
    """A ``/api/chat`` answer, or one streamed line of it (the last has ``done=True``)."""

    model: str = ""
    created_at: str = ""
    message: Message = field(default_factory=lambda: Message(role="assistant"))
    done: bool = False
    done_reason: str | None = None

    _nested = {"message": Message.from_dict}


#: A streamed chat line has the same shape as the whole answer.
ChatChunk = ChatResponse


@dataclass(kw_only=True)
class ModelDetails(Wire):
    """What a model is: its file format, family, size class and quantization."""

    parent_model: str | None = None
    format: str | None = None
    family: str | None = None
    families: list[str] | None = None
    parameter_size: str | None = None
    quantization_level: str | None = None


@dataclass(kw_only=True)
class ModelInfo(Wire):
    """One model of ``/api/tags``."""

    name: str = ""
    model: str = ""
    modified_at: str | None = None
    size: int | None = None
    digest: str | None = None
    details: ModelDetails | None = None

    _nested = {"details": ModelDetails.from_dict}


@dataclass(kw_only=True)
class ListResponse(Wire):
    """``/api/tags``: the models the server has."""

    models: list[ModelInfo] = field(default_factory=list)

    _nested = {"models": _list_of(ModelInfo)}


@dataclass(kw_only=True)
class RunningModel(ModelInfo):
    """One model of ``/api/ps``: loaded, with its memory use and unload time."""

    expires_at: str | None = None
    size_vram: int | None = None
    context_length: int | None = None


@dataclass(kw_only=True)
class ProcessResponse(Wire):
    """``/api/ps``: the models loaded now."""

    models: list[RunningModel] = field(default_factory=list)

    _nested = {"models": _list_of(RunningModel)}


@dataclass(kw_only=True)
class ShowResponse(Wire):
    """``/api/show``: a model's details, template, parameters and capabilities."""

    modelfile: str | None = None
    parameters: str | None = None
    template: str | None = None
    system: str | None = None
    license: str | None = None
    modified_at: str | None = None
    details: ModelDetails | None = None
    model_info: dict[str, Any] | None = None
    capabilities: list[str] | None = None

    _nested = {"details": ModelDetails.from_dict}


@dataclass(kw_only=True)
class ProgressResponse(Wire):
    """One line of ``/api/pull`` progress: a status, and bytes done of a layer's total."""

    status: str = ""
    digest: str | None = None
    total: int | None = None
    completed: int | None = None


@dataclass(kw_only=True)
class EmbedResponse(Timings):
    """``/api/embed``: one vector per input."""

    model: str = ""
    embeddings: list[list[float]] = field(default_factory=list)


@dataclass(kw_only=True)
class StatusResponse(Wire):
    """The answer of ``/api/delete`` and ``/api/copy``."""

    status: str = "success"


@dataclass(kw_only=True)
class VersionResponse(Wire):
    """``/api/version``."""

    version: str = ""


class GenerateOptions(TypedDict, total=False):
    """Keyword arguments of :meth:`Client.generate` besides ``prompt``, ``model``, ``stream``."""

    system: str
    template: str
    suffix: str
    context: list[int]
    raw: bool
    images: Sequence[str | bytes | os.PathLike[str]]  # base64 text, raw bytes or file paths
    format: str | dict[str, Any]
    options: dict[str, Any]
    think: bool | str
    keep_alive: float | str


class ChatOptions(TypedDict, total=False):
    """Keyword arguments of :meth:`Client.chat` besides ``messages``, ``model``, ``stream``."""

    tools: list[dict[str, Any]]
    format: str | dict[str, Any]
    options: dict[str, Any]
    think: bool | str
    keep_alive: float | str
