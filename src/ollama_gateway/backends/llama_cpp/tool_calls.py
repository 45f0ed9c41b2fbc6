"""Tool calling on the embedded engine: the plan for one request, and its output parsed.

:func:`plan_tools` runs before the model is loaded (blocking, in a worker thread): it finds
the call format the model's template teaches and, for the tools and ``tool_choice`` of the
request, the grammar that makes the calls valid (a 400 when a tool's schema cannot be
enforced). :func:`with_tool_calls` turns the engine's chunks into text and ``tool_calls``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from ollama_gateway.backends.llama_cpp.capabilities import chat_template
from ollama_gateway.core.types import Chunk, GenerationRequest
from ollama_gateway.models.store import ResolvedModel
from ollama_gateway.tools import (
    ToolCallParser,
    ToolChoice,
    ToolFormat,
    ToolGrammar,
    detect_format,
    tool_grammar,
    tool_specs,
)


@dataclass(frozen=True, slots=True)
class ToolPlan:
    format: ToolFormat
    grammar: ToolGrammar
    names: frozenset[str]

    def parser(self) -> ToolCallParser:
        return ToolCallParser(self.format, self.names)


def plan_tools(request: GenerationRequest, resolved: ResolvedModel) -> ToolPlan | None:
    """The format and grammar of ``request``'s tools (None without tools). Blocking."""
    if not request.tools:
        return None
    template = request.template or resolved.template or chat_template(resolved)
    fmt = detect_format(template)
    specs = tool_specs(request.tools)
    choice = ToolChoice(request.tool_choice, request.forced_tool)
    grammar = tool_grammar(specs, fmt, choice, parallel=request.parallel_tool_calls)
    return ToolPlan(fmt, grammar, frozenset(spec.name for spec in specs))


async def with_tool_calls(
    chunks: AsyncIterator[Chunk], parser: ToolCallParser
) -> AsyncIterator[Chunk]:
    """``chunks`` with the calls taken out of their text (held back only while a marker or a
    call is incomplete); the last chunk carries whatever was still held. Closing it closes
    ``chunks`` (the engine's sequence is cancelled at once)."""
    async with aclosing(chunks):  # type: ignore[type-var]
        async for chunk in chunks:
            text, calls = parser.feed(chunk.text) if chunk.text else ("", [])
            if chunk.done:
                more_text, more_calls = parser.flush()
                text, calls = text + more_text, calls + more_calls
            chunk.text = text
            if calls:
                chunk.tool_calls = [*(chunk.tool_calls or []), *calls]
            if chunk.done or chunk.text or chunk.tool_calls:
                yield chunk
