"""Tool calling on the embedded engine: the plan for one request, and its output parsed.

:func:`plan_tools` runs before the model is loaded (blocking, in a worker thread): it finds
the call format the model's template teaches and, for the tools and ``tool_choice`` of the
request, the grammar that makes the calls valid (a 400 when a tool's schema cannot be
enforced). :func:`with_tool_calls` turns the engine's chunks into text and ``tool_calls``.

A template may end the prompt with the call's marker itself (a model made to call whenever it
is given tools): the reply then starts inside a call, constrained from its first token, on
every API (Ollama's has no ``tool_choice``; this is how a Modelfile makes calls required).
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
from ollama_gateway.tools.definitions import ToolSpec


@dataclass(slots=True)
class ToolPlan:
    """How one request's tools are rendered, constrained and parsed.

    ``constrained``: the tool grammar is on the sampler (a ``format`` grammar may hold instead).
    """

    format: ToolFormat
    grammar: ToolGrammar
    specs: list[ToolSpec]
    choice: ToolChoice
    parallel: bool
    constrained: bool = True

    def parser(self, opened: str = "") -> ToolCallParser:
        parser = ToolCallParser(self.format, {spec.name for spec in self.specs})
        if opened:
            parser.start_inside(opened)
        return parser

    def opened_by(self, prompt: str) -> str:
        """The call marker (and the spaces after it) that ``prompt`` ends with, if any: a
        template that opens the call itself makes the reply a call."""
        stripped = prompt.rstrip(" \n")
        for marker in self.format.markers:
            if stripped.endswith(marker):
                return prompt[len(stripped) - len(marker) :]
        return ""

    def after_marker(self) -> ToolGrammar:
        """The grammar of what follows an opened call's marker, from the first token on.
        Blocking (the schemas compile again; they were checked when the plan was made)."""
        choice = ToolChoice("auto", self.choice.name)
        lazy = tool_grammar(self.specs, self.format, choice, parallel=self.parallel)
        return ToolGrammar(lazy.text, None)


def plan_tools(request: GenerationRequest, resolved: ResolvedModel) -> ToolPlan | None:
    """The format and grammar of ``request``'s tools (None without tools). Blocking."""
    if not request.tools:
        return None
    template = request.template or resolved.template or chat_template(resolved)
    fmt = detect_format(template)
    specs = tool_specs(request.tools)
    choice = ToolChoice(request.tool_choice, request.forced_tool)
    parallel = request.parallel_tool_calls is True
    grammar = tool_grammar(specs, fmt, choice, parallel=parallel)
    return ToolPlan(fmt, grammar, specs, choice, parallel)


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
