"""What the embedded engine can do with a model, decided in one place.

Used by ``/api/show`` (``capabilities``) and by every generation before the model loads, with
Ollama's rules and Ollama's words for a refusal:

- ``completion``: unless the GGUF names a pooling type (a dedicated embedding model), as
  Ollama decides. A generation on such a model: 400 ``"<model>" does not support generate``
  (``chat``).
- ``embedding``: always; this engine embeds with any model (mean pooling, embeddings.py).
- ``insert``: the model's Go template uses ``.Suffix``.
- ``thinking``: the model's template marks reasoning: a Go template that writes ``.Thinking``
  of the messages between two tags (Ollama's ``thinking.InferTags``), or a GGUF chat template
  with both ``<think>`` and ``</think>`` (or that strips past reasoning by splitting at
  ``</think>``). ``think: true`` on another model: 400 ``"<model>" does not support thinking``.
- ``tools``: the model's Go template uses ``.Tools`` (Ollama's rule), or, without one, its GGUF
  chat template uses ``tools``. ``tools`` for another model: 400
  ``<model> does not support tools``, the name fully qualified as Ollama writes it.
- ``vision``: never (images are refused by the prompt builder).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from ollama_gateway.core.types import GenerationRequest
from ollama_gateway.errors import BadRequest, Unsupported, clip
from ollama_gateway.models.gguf_meta import GGUFFormatError, read_gguf_metadata
from ollama_gateway.models.gotemplate.nodes import (
    Branch,
    Field,
    Pipe,
    TemplateError,
    Text,
    Variable,
    identifiers,
)
from ollama_gateway.models.gotemplate.parse import parse_template
from ollama_gateway.models.store import ResolvedModel

COMPLETION, EMBEDDING, INSERT, THINKING, TOOLS = (
    "completion",
    "embedding",
    "insert",
    "thinking",
    "tools",
)


def capabilities(resolved: ResolvedModel) -> list[str]:
    """The capabilities of ``resolved``, in Ollama's order (blocking: reads the GGUF header).

    A file that cannot be read counts as a plain generative model: loading it says why not.
    """
    try:
        stat = resolved.model_path.stat()
        facts = _gguf_facts(str(resolved.model_path), stat.st_size, stat.st_mtime_ns)
    except (GGUFFormatError, OSError):
        facts = (False, "")
    return list(_capabilities(*facts, resolved.template))


def chat_template(resolved: ResolvedModel) -> str:
    """The GGUF file's ``tokenizer.chat_template`` ("" when none or unreadable; blocking)."""
    try:
        stat = resolved.model_path.stat()
        return _gguf_facts(str(resolved.model_path), stat.st_size, stat.st_mtime_ns)[1]
    except (GGUFFormatError, OSError):
        return ""


@lru_cache(maxsize=64)
def _gguf_facts(path: str, _size: int, _mtime: int) -> tuple[bool, str]:
    """(names a pooling type, chat template) of a GGUF file (cached per file version)."""
    meta = read_gguf_metadata(path, max_array=0)
    arch = meta.get("general.architecture")
    pooling = arch is not None and f"{arch.value}.pooling_type" in meta
    chat = meta.get("tokenizer.chat_template")
    return pooling, str(chat.value) if chat is not None else ""


@lru_cache(maxsize=256)
def _capabilities(pooling: bool, chat_template: str, go_template: str | None) -> tuple[str, ...]:
    caps = [EMBEDDING] if pooling else [COMPLETION, EMBEDDING]
    if go_template:
        nodes = _parsed(go_template)
        names = _names(nodes) if nodes is not None else set()
        if "tools" in names:
            caps.append(TOOLS)
        if "suffix" in names:
            caps.append(INSERT)
        if nodes is not None and _go_thinks(nodes):
            caps.append(THINKING)
        return tuple(caps)
    if _JINJA_TOOLS.search(chat_template):
        caps.append(TOOLS)
    if _jinja_thinks(chat_template):
        caps.append(THINKING)
    return tuple(caps)


_JINJA_TOOLS = re.compile(r"\btools\b")


def check_request(request: GenerationRequest, caps: list[str], resolved: ResolvedModel) -> None:
    """Refuse what the model cannot do, with Ollama's messages (see the module docstring)."""
    if COMPLETION not in caps:
        kind = "generate" if request.kind == "generate" else "chat"
        raise BadRequest(f"{_quoted(request.model)} does not support {kind}")
    if request.tools and TOOLS not in caps:
        full = resolved.ref.full if resolved.ref is not None else resolved.name
        raise Unsupported(f"{clip(full)} does not support tools")
    if request.think and THINKING not in caps:
        raise BadRequest(f"{_quoted(request.model)} does not support thinking")


def _quoted(name: str) -> str:
    """``name`` as Go's ``%q`` writes it (Ollama formats model names in errors so)."""
    return json.dumps(clip(name), ensure_ascii=False)


def _parsed(template: str) -> list[Any] | None:
    try:
        return parse_template(template)
    except (TemplateError, RecursionError):
        return None


def _names(nodes: list[Any]) -> set[str]:
    return set(identifiers(nodes))


def _jinja_thinks(template: str) -> bool:
    if "<think>" in template and "</think>" in template:
        return True
    splits = "content.split('</think>')" in template or 'content.split("</think>")' in template
    return splits and "reasoning_content" not in template


def _go_thinks(nodes: list[Any]) -> bool:
    """Ollama's ``InferTags``: ``.Thinking`` inside a ``range`` over ``.Messages``, in a list
    whose first and last nodes are text (the opening and closing tags)."""

    def visit(items: list[Any], in_messages: bool) -> bool:
        for node in items:
            if not isinstance(node, Branch):
                continue
            inside = in_messages or (node.kind == "range" and _uses(node.pipe, "Messages"))
            for body in (node.body, node.else_body):
                if inside and body and _tags_around_thinking(body):
                    return True
                if visit(body, inside):
                    return True
        return False

    return visit(nodes, False)


def _tags_around_thinking(body: list[Any]) -> bool:
    first, last = body[0], body[-1]
    if not (isinstance(first, Text) and isinstance(last, Text)):
        return False
    if not (first.text.strip() and last.text.strip()):
        return False
    return any(not isinstance(n, Branch | Text) and _mentions(n, "Thinking") for n in body)


def _uses(pipe: Pipe, field: str) -> bool:
    return _mentions(pipe, field)


def _mentions(node: Any, field: str) -> bool:
    """Whether ``.<field>`` appears anywhere in ``node`` (a pipeline, an action...)."""
    if isinstance(node, Field | Variable):  # .Messages, $.Messages
        return bool(node.ident) and node.ident[0] == field
    if isinstance(node, list | tuple):
        return any(_mentions(item, field) for item in node)
    slots = getattr(type(node), "__slots__", ())
    return any(_mentions(getattr(node, name), field) for name in slots if name != "text")
