"""Tool definitions and ``tool_choice`` from a request, checked and bounded before any work.

A tool is ``{"type": "function", "function": {"name", "description", "parameters"}}`` (OpenAI's
shape, which Ollama's API shares; ``type`` may be left out). Bounds: at most
:data:`MAX_TOOLS` tools (OpenAI's own limit), names of 1 to 64 letters, digits, ``_``, ``-`` or
``.``, no name twice, ``parameters`` a JSON schema object, all of them together at most
:data:`MAX_TOOLS_BYTES` of JSON. The schemas themselves are bounded by the grammar converter's
limits when a grammar is made of them (grammar.py). Each breach is a 400 that names the tool.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from ollama_gateway.errors import BadRequest, Unsupported, clip

MAX_TOOLS = 128
MAX_TOOLS_BYTES = 256 * 1024
MAX_PARALLEL_CALLS = 4  # calls one grammar-constrained reply may hold
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool as the grammar needs it: its name and its parameters' JSON schema."""

    name: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """``auto`` (the model may call), ``required`` (it must), ``none``; ``name``: the one tool
    it must call (OpenAI's ``{"type": "function", "function": {"name": ...}}``)."""

    mode: str = "auto"
    name: str | None = None

    @property
    def forced(self) -> bool:
        return self.mode == "required"

    @classmethod
    def parse(cls, value: Any) -> ToolChoice:
        """OpenAI's ``tool_choice`` (None: ``auto``)."""
        if value is None or value == "auto":
            return cls()
        if value in ("none", "required"):
            return cls(value)
        if isinstance(value, dict) and value.get("type") == "function":
            function = value.get("function")
            name = function.get("name") if isinstance(function, dict) else value.get("name")
            if isinstance(name, str) and name:
                return cls("required", name)
            raise BadRequest("tool_choice.function.name must be the name of one of the tools")
        if isinstance(value, str):
            raise BadRequest(
                f'tool_choice must be "auto", "none", "required" or a function, '
                f"not {clip(repr(value))}"
            )
        raise Unsupported("tool_choice must be a string or {type: function, function: {name}}")


def tool_specs(tools: list[Any]) -> list[ToolSpec]:
    """The tools' names and schemas; BadRequest when a definition is malformed or over a bound."""
    if len(tools) > MAX_TOOLS:
        raise BadRequest(f"too many tools: {len(tools)} (the limit is {MAX_TOOLS})")
    try:
        size = len(orjson.dumps(tools))
    except (TypeError, orjson.JSONEncodeError):
        raise BadRequest("tools must be JSON") from None
    if size > MAX_TOOLS_BYTES:
        raise BadRequest(f"the tools take {size} bytes of JSON (the limit is {MAX_TOOLS_BYTES})")
    specs: list[ToolSpec] = []
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        spec = _spec(i, tool)
        if spec.name in seen:
            raise BadRequest(f"tools[{i}]: the name {spec.name!r} is used by another tool")
        seen.add(spec.name)
        specs.append(spec)
    return specs


def check_tools(tools: list[Any] | None, choice: ToolChoice | None = None) -> None:
    """BadRequest unless ``tools`` (and the tool ``choice`` names) are well formed and bounded."""
    specs = tool_specs(tools) if tools else []
    named = choice.name if choice is not None else None
    if named is not None and not any(spec.name == named for spec in specs):
        raise BadRequest(f"tool_choice names {clip(repr(named))}, which is not a tool")
    if choice is not None and choice.forced and not specs:
        raise BadRequest('tool_choice "required" needs at least one tool')


def _spec(i: int, tool: Any) -> ToolSpec:
    if not isinstance(tool, dict):
        raise BadRequest(f"tools[{i}] must be an object")
    kind = tool.get("type", "function")
    if kind != "function":
        raise Unsupported(f"tools[{i}]: only tools of type function are supported")
    function = tool.get("function")
    if not isinstance(function, dict):
        raise BadRequest(f"tools[{i}].function must be an object")
    name = function.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise BadRequest(
            f"tools[{i}].function.name must be 1 to 64 letters, digits, '_', '-' or '.', "
            f"not {clip(repr(name))}"
        )
    parameters = function.get("parameters")
    if parameters is None:
        parameters = {"type": "object"}
    if not isinstance(parameters, dict):
        raise BadRequest(f"tools[{i}].function.parameters must be a JSON schema object")
    return ToolSpec(name, parameters)
