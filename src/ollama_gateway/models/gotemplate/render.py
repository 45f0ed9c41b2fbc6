"""Render Ollama's model templates (Go ``text/template``) the way Ollama renders them.

Models pulled from Ollama's registry carry their prompt format as a Go template (the
``application/vnd.ollama.image.template`` layer). :func:`render_go_template` turns a chat (or a
prompt) into the model's prompt text with Ollama's own rules:

* Templates that use ``.Messages`` get the whole chat at once: ``.System`` (every system
  message joined by a blank line), ``.Messages`` (consecutive messages of one role merged, tool
  messages kept apart; each with ``.Role``, ``.Content``, ``.Thinking``, ``.ToolCalls``,
  ``.ToolName``, ``.Images``), ``.Tools``, ``.Think``, ``.IsThinkSet``, ``.Response`` (empty).
* Legacy templates (``.System`` / ``.Prompt`` / ``.Response`` only) are run once per exchange:
  every finished user/assistant turn through the whole template, then the last one with
  everything after ``{{ .Response }}`` cut off, so the prompt ends where the model must write.
* A template that names neither ``.Messages`` nor ``.Response`` gets ``{{ .Response }}`` appended.

>>> from ollama_gateway.core.types import Message
>>> render_go_template("{{ if .System }}[{{ .System }}] {{ end }}Q: {{ .Prompt }} A:",
...                    messages=None, system="Be brief.", prompt="2+2?")
'[Be brief.] Q: 2+2? A:'
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import replace
from functools import lru_cache
from typing import Any

from ollama_gateway.core.types import Message
from ollama_gateway.errors import BadRequest
from ollama_gateway.models.gotemplate.execute import Budget, Executor, GoJSON, GoStruct
from ollama_gateway.models.gotemplate.nodes import (
    Action,
    Branch,
    Command,
    Field,
    Pipe,
    TemplateError,
    identifiers,
)
from ollama_gateway.models.gotemplate.parse import parse_template

__all__ = ["TemplateError", "collate", "render_go_template", "template_variables"]

_RESPONSE = Action(Pipe([Command([Field(["Response"])])]))


@lru_cache(maxsize=64)
def _parse(template: str) -> tuple[tuple[Any, ...], frozenset[str]]:
    try:
        nodes = parse_template(template)
    except TemplateError as exc:
        raise BadRequest(f"invalid template: {exc}") from None
    except RecursionError:
        raise BadRequest("invalid template: nested too deeply") from None
    names = identifiers(nodes)
    if "messages" not in names and "response" not in names:
        nodes.append(_RESPONSE)
        names = names | {"response"}
    return tuple(nodes), frozenset(names)


def template_variables(template: str) -> set[str]:
    """The lower-cased names a template uses (``messages``, ``system``, ``tools``...)."""
    return set(_parse(template)[1])


def collate(messages: list[Message]) -> tuple[str, list[Message]]:
    """Ollama's collation: all system texts joined, consecutive same-role messages merged
    (tool messages excepted). Returns copies; the input is left as it is. Linear in the text:
    each merged content is joined once."""
    system = [m.content for m in messages if m.role == "system"]
    groups: list[tuple[Message, list[str]]] = []
    for message in messages:
        if groups and groups[-1][0].role == message.role and message.role != "tool":
            groups[-1][1].append(message.content)
        else:
            groups.append((message, [message.content]))
    merged = [replace(first, content="\n\n".join(parts)) for first, parts in groups]
    return "\n\n".join(system), merged


def _tool_call(call: dict[str, Any]) -> GoJSON:
    function = dict(call.get("function") or {})
    arguments = function.get("arguments")
    if isinstance(arguments, str):  # OpenAI's shape: arguments as a JSON string
        with contextlib.suppress(ValueError):
            function["arguments"] = json.loads(arguments)
    return GoJSON({**call, "function": function})  # function.arguments marshals as a map


def _message(m: Message) -> GoStruct:
    return GoStruct(
        {
            "Role": m.role,
            "Content": m.content,
            "Thinking": m.thinking or "",
            "Images": list(m.images or []) or None,
            "ToolCalls": GoJSON([_tool_call(c).value for c in m.tool_calls])
            if m.tool_calls
            else None,
            "ToolName": m.tool_name or "",
            "ToolCallID": m.tool_call_id or "",
        },
        value={"role": m.role, "content": m.content},
    )


def _cut_after_response(nodes: list[Any]) -> list[Any]:
    """A copy of ``nodes`` without anything after the first ``{{ .Response }}`` action
    (Ollama's ``deleteNode``: conditions stay, what follows the cut goes)."""
    cut = False

    def pipe_has_response(pipe: Pipe) -> bool:
        for cmd in pipe.cmds:
            for arg in cmd.args:
                if isinstance(arg, Field) and "Response" in arg.ident:
                    return True
                if isinstance(arg, Pipe) and pipe_has_response(arg):
                    return True
        return False

    def walk(items: list[Any]) -> list[Any]:
        nonlocal cut
        out: list[Any] = []
        for node in items:
            if cut:
                break
            if isinstance(node, Action):
                out.append(node)
                if pipe_has_response(node.pipe):
                    cut = True
            elif isinstance(node, Branch):
                body = walk(node.body)
                else_body = walk(node.else_body)
                out.append(Branch(node.kind, node.pipe, body, else_body))
            else:
                out.append(node)
        return out

    return walk(nodes)


def _execute(nodes: list[Any] | tuple[Any, ...], data: dict[str, Any], budget: Budget) -> str:
    try:
        return Executor(data, budget).run(list(nodes))
    except TemplateError as exc:
        raise BadRequest(f"template error: {exc}") from None
    except RecursionError:
        raise BadRequest("template error: nested too deeply") from None


def render_go_template(
    template: str,
    *,
    messages: list[Message] | None = None,
    system: str | None = None,
    prompt: str | None = None,
    response: str = "",
    tools: list[dict[str, Any]] | None = None,
    think: bool | str | None = None,
    suffix: str | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """Render ``template`` as Ollama would for a chat (``messages``) or a prompt.

    ``messages=None`` renders a generate request: ``system`` (if any) and ``prompt`` become a
    system and a user message, ``response`` (if any) an assistant message the model continues.
    With ``messages``, ``system`` is the model's default system prompt, used only when the chat
    has no system message. ``tools`` are Ollama/OpenAI tool definitions. ``think``: None (not
    asked), True/False, or a level string (``"high"``), which counts as True.
    ``suffix`` with a prompt renders a fill-in-the-middle request (``.Prompt`` / ``.Suffix``).
    Raises :class:`~ollama_gateway.errors.BadRequest` on an invalid or unsupported template, or
    one that runs over its :class:`~.execute.Budget` (steps, output, time; shared by every turn),
    and :class:`~.execute.Cancelled` soon after ``cancel`` is set.
    """
    nodes, names = _parse(template)
    budget = Budget(cancel=cancel)
    think_flag = bool(think) if think is not None else False
    common = {"Think": think_flag, "IsThinkSet": think is not None}
    if prompt and suffix:
        data = {"Prompt": prompt, "Suffix": suffix, "Response": "", **common}
        return _execute(nodes, data, budget)

    system_text, collated = collate(_chat(messages, system, prompt, response))
    if "messages" in names or "document" in names:
        data = {
            "System": system_text,
            "Messages": [_message(m) for m in collated],
            "Tools": GoJSON(list(tools)) if tools else None,
            "Response": "",
            "Query": "",
            "Document": "",
            "Instruction": "",
            **common,
        }
        return _execute(nodes, data, budget)
    return _render_turns(nodes, collated, common, budget)


def _chat(
    messages: list[Message] | None, system: str | None, prompt: str | None, response: str
) -> list[Message]:
    """The messages to render: a generate request's as a chat, or the chat with ``system``
    first when it has no system message."""
    if messages is None:
        chat = [Message("system", system)] if system else []
        chat.append(Message("user", prompt or ""))
        if response:
            chat.append(Message("assistant", response))
        return chat
    chat = list(messages)
    if system and not any(m.role == "system" for m in chat):
        chat.insert(0, Message("system", system))
    return chat


def _render_turns(
    nodes: tuple[Any, ...], collated: list[Message], common: dict[str, Any], budget: Budget
) -> str:
    """A template without ``.Messages``: executed once per turn (System, Prompt, Response),
    the last one cut after its ``.Response``, as Ollama does."""
    out: list[str] = []
    turn = {"System": "", "Prompt": "", "Response": ""}

    def flush() -> None:
        out.append(_execute(nodes, {**turn, **common}, budget))
        turn.update(System="", Prompt="", Response="")

    for m in collated:
        if m.role == "system":
            if turn["Prompt"] or turn["Response"]:
                flush()
            turn["System"] = m.content
        elif m.role == "user":
            if turn["Response"]:
                flush()
            turn["Prompt"] = m.content
        elif m.role == "assistant":
            turn["Response"] = m.content
    out.append(_execute(_cut_after_response(list(nodes)), {**turn, **common}, budget))
    return "".join(out)
