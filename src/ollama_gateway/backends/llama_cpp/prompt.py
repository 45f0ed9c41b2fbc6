"""Turn a request into the prompt text the model reads.

Precedence, as Ollama has it: ``raw`` prompts go as they are; a template in the request, then
the model's Ollama template (Go ``text/template``, rendered by
:func:`ollama_gateway.models.gotemplate.render.render_go_template`); otherwise the GGUF file's
``tokenizer.chat_template`` (Jinja, as Hugging Face renders it, in a sandbox); otherwise a plain
fallback format.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from ollama_gateway.core.types import GenerationRequest, Message
from ollama_gateway.errors import BadRequest, Unsupported
from ollama_gateway.models.gotemplate import render_go_template, template_variables


@dataclass(slots=True)
class ModelPromptInfo:
    """What the prompt builder needs to know about a model."""

    name: str
    go_template: str | None  # Ollama's template layer
    chat_template: str | None  # GGUF tokenizer.chat_template
    system: str | None  # the model's default system prompt
    bos_text: str
    eos_text: str


class _TemplateRaise(Exception):
    pass


def _raise_exception(message: str) -> None:
    raise _TemplateRaise(message)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _tojson(value: Any, indent: int | None = None, **_: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


@lru_cache(maxsize=32)
def _compile(source: str) -> Any:
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.filters["tojson"] = _tojson
    try:
        return env.from_string(source)
    except TemplateError as exc:
        raise BadRequest(f"the model's chat template is invalid: {exc}") from None


def render_jinja(
    source: str,
    messages: list[dict[str, Any]],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    tools: list[dict[str, Any]] | None = None,
    enable_thinking: bool = True,
) -> str:
    """Render a Hugging Face chat template (``tokenizer.chat_template``)."""
    from jinja2 import TemplateError

    template = _compile(source)
    try:
        return template.render(
            messages=messages,
            bos_token=bos_token,
            eos_token=eos_token,
            add_generation_prompt=add_generation_prompt,
            tools=tools,
            enable_thinking=enable_thinking,
        )
    except _TemplateRaise as exc:
        raise BadRequest(f"the model's chat template refused the messages: {exc}") from None
    except (TemplateError, TypeError, ValueError) as exc:
        raise BadRequest(f"the model's chat template failed: {exc}") from None


def _jinja_message(m: Message) -> dict[str, Any]:
    """A message as Hugging Face chat templates read it: calls as ``{"type": "function",
    "function": {"name", "arguments"}}`` (arguments an object), results with their call's id."""
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [_jinja_call(call) for call in m.tool_calls]
    if m.thinking:
        out["reasoning_content"] = m.thinking
    if m.tool_name:
        out["name"] = m.tool_name
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    return out


def _jinja_call(call: dict[str, Any]) -> dict[str, Any]:
    function = dict(call.get("function") or {})
    arguments = function.get("arguments")
    if isinstance(arguments, str):  # OpenAI's shape
        with contextlib.suppress(ValueError):
            function["arguments"] = json.loads(arguments)
    out: dict[str, Any] = {"type": "function", "function": function}
    if call.get("id"):
        out["id"] = call["id"]
    return out


def fallback_prompt(messages: list[Message]) -> str:
    """A plain chat format for a model without any template."""
    lines = [f"{m.role.capitalize()}: {m.content}" for m in messages]
    return "\n\n".join([*lines, "Assistant:"])


def _chat_messages(request: GenerationRequest, default_system: str | None) -> list[Message]:
    if request.kind == "chat":
        messages = list(request.messages)
        system = request.system or default_system
        if system and not any(m.role == "system" for m in messages):
            messages.insert(0, Message("system", system))
        return messages
    messages = []
    system = request.system if request.system is not None else default_system
    if system:
        messages.append(Message("system", system))
    messages.append(Message("user", request.prompt))
    return messages


def build_prompt(
    request: GenerationRequest, info: ModelPromptInfo, cancel: threading.Event | None = None
) -> str:
    """The prompt text for ``request`` (see the module docstring for the precedence).

    Blocking; a Go template stops (``Cancelled``) soon after ``cancel`` is set.
    """
    if request.images or any(m.images for m in request.messages):
        raise Unsupported(f'model "{info.name}" does not support images')
    if request.kind == "generate" and request.raw:
        if request.suffix:
            raise Unsupported(f'model "{info.name}" does not support insert in raw mode')
        return request.prompt
    go_template = request.template or info.go_template
    if go_template:
        if request.suffix and "suffix" not in template_variables(go_template):
            raise Unsupported(f'model "{info.name}" does not support insert')
        if request.kind == "chat":
            return render_go_template(
                go_template,
                messages=request.messages,
                system=request.system or info.system,
                tools=request.tools,
                think=request.think,
                cancel=cancel,
            )
        system = request.system if request.system is not None else info.system
        return render_go_template(
            go_template,
            system=system,
            prompt=request.prompt,
            suffix=request.suffix,
            think=request.think,
            cancel=cancel,
        )
    if request.suffix:
        raise Unsupported(f'model "{info.name}" does not support insert')
    messages = _chat_messages(request, info.system)
    if info.chat_template:
        return render_jinja(
            info.chat_template,
            [_jinja_message(m) for m in messages],
            bos_token=info.bos_text,
            eos_token=info.eos_text,
            add_generation_prompt=True,
            tools=request.tools,
            enable_thinking=request.think is not False,
        )
    if request.kind == "generate" and not request.system and not info.system:
        return request.prompt
    return fallback_prompt(messages)
