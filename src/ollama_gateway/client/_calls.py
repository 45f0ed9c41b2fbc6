"""Request building, once for both clients: each function returns the :class:`Call` to send.

Options left at ``None`` are not sent, so the server's defaults apply. ``generate`` without
streaming sends no ``stream`` field at all: that is the seed contract, whose answer carries
``generated_text`` and ``elapsed_time`` besides Ollama's fields.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ollama_gateway.client._base import Call
from ollama_gateway.client._types import (
    ChatResponse,
    EmbedResponse,
    GenerateChunk,
    GenerateResponse,
    ListResponse,
    Message,
    ProcessResponse,
    ProgressResponse,
    ShowResponse,
    StatusResponse,
    VersionResponse,
)

GENERATE_OPTIONS = frozenset(
    {"system", "template", "suffix", "context", "raw", "images", "format", "options", "think"}
    | {"keep_alive"}
)
CHAT_OPTIONS = frozenset({"tools", "format", "options", "think", "keep_alive"})
EMBED_OPTIONS = frozenset({"truncate", "options", "keep_alive", "dimensions"})


def _body(known: frozenset[str], given: Mapping[str, Any], method: str) -> dict[str, Any]:
    unknown = sorted(set(given) - known)
    if unknown:
        raise TypeError(f"{method}() got unexpected keyword argument(s): {', '.join(unknown)}")
    return {key: value for key, value in given.items() if value is not None}


def _model(body: dict[str, Any], model: str | None) -> dict[str, Any]:
    if model:
        body["model"] = model
    return body


def images_b64(images: Sequence[str | bytes | os.PathLike[str]]) -> list[str]:
    """Images as Ollama wants them: base64 text. Bytes and paths are encoded; text is kept.

    >>> images_b64([b"GIF89a", "R0lGODlh"])
    ['R0lGODlh', 'R0lGODlh']
    """
    out = []
    for image in images:
        if isinstance(image, os.PathLike):
            image = Path(image).read_bytes()
        out.append(base64.b64encode(image).decode("ascii") if isinstance(image, bytes) else image)
    return out


def generate(prompt: str, model: str | None, stream: bool, options: Mapping[str, Any]) -> Call[Any]:
    """``POST /api/generate``; ``model=None`` lets the gateway use its default model."""
    body = _model({"prompt": prompt}, model)
    body.update(_body(GENERATE_OPTIONS, options, "generate"))
    if "images" in body:
        body["images"] = images_b64(body["images"])
    if stream:
        body["stream"] = True
        return Call("POST", "/api/generate", GenerateChunk.from_dict, body, stream=True)
    return Call("POST", "/api/generate", GenerateResponse.from_dict, body)


def _message(message: Message | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(message, Message):
        out = message.to_dict()
    elif isinstance(message, Mapping) and "role" in message:
        out = dict(message)
    else:
        raise TypeError("each chat message must be a Message or a mapping with a 'role'")
    if out.get("images"):
        out["images"] = images_b64(out["images"])
    return out


def chat(
    messages: Sequence[Message | Mapping[str, Any]],
    model: str | None,
    stream: bool,
    options: Mapping[str, Any],
) -> Call[ChatResponse]:
    """``POST /api/chat`` with the whole conversation so far."""
    body = _model({"messages": [_message(m) for m in messages]}, model)
    body.update(_body(CHAT_OPTIONS, options, "chat"))
    body["stream"] = stream
    return Call("POST", "/api/chat", ChatResponse.from_dict, body, stream=stream)


def embed(
    input: str | Sequence[str],
    model: str | None,
    options: Mapping[str, Any],
) -> Call[EmbedResponse]:
    """``POST /api/embed``: one vector per input string."""
    body = _model({"input": input if isinstance(input, str) else list(input)}, model)
    body.update(_body(EMBED_OPTIONS, options, "embed"))
    return Call("POST", "/api/embed", EmbedResponse.from_dict, body)


def pull(name: str, insecure: bool, stream: bool) -> Call[ProgressResponse]:
    """``POST /api/pull``: progress lines while streaming, else the final status."""
    body: dict[str, Any] = {"model": name, "stream": stream}
    if insecure:
        body["insecure"] = True
    return Call("POST", "/api/pull", ProgressResponse.from_dict, body, stream=stream)


def list_models() -> Call[ListResponse]:
    """``GET /api/tags``."""
    return Call("GET", "/api/tags", ListResponse.from_dict)


def ps() -> Call[ProcessResponse]:
    """``GET /api/ps``."""
    return Call("GET", "/api/ps", ProcessResponse.from_dict)


def show(model: str) -> Call[ShowResponse]:
    """``POST /api/show``."""
    return Call("POST", "/api/show", ShowResponse.from_dict, {"model": model})


def delete(model: str) -> Call[StatusResponse]:
    """``DELETE /api/delete``."""
    return Call("DELETE", "/api/delete", StatusResponse.from_dict, {"model": model})


def copy(source: str, destination: str) -> Call[StatusResponse]:
    """``POST /api/copy``."""
    body = {"source": source, "destination": destination}
    return Call("POST", "/api/copy", StatusResponse.from_dict, body)


def version() -> Call[VersionResponse]:
    """``GET /api/version``."""
    return Call("GET", "/api/version", VersionResponse.from_dict)


CREATE_FIELDS = frozenset(
    {"from_", "files", "template", "system", "parameters", "messages", "license", "quantize"}
)


def create(model: str, stream: bool, fields: Mapping[str, Any]) -> Call[ProgressResponse]:
    """``POST /api/create``: status lines while streaming, else the final status."""
    body = _body(CREATE_FIELDS, fields, "create")
    if "from_" in body:
        body["from"] = body.pop("from_")
    return Call(
        "POST", "/api/create", ProgressResponse.from_dict, {"model": model, **body}, stream=stream
    )


def blob_digest(path: str | os.PathLike[str]) -> str:
    """``sha256:<hex>`` of a file, read a megabyte at a time."""
    import hashlib

    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()
