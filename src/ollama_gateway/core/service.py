"""Serving logic shared by every API family: defaults, limits, reasoning split, aggregation.

Routers turn a wire request into a :class:`GenerationRequest`, call :meth:`stream` or
:meth:`complete`, and render the chunks in their own format.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import aclosing

from ollama_gateway.backends.base import Backend
from ollama_gateway.core.thinking import ThinkSplitter
from ollama_gateway.core.types import Chunk, GenerationRequest, Stats
from ollama_gateway.errors import BadRequest
from ollama_gateway.settings import Settings


class GenerationService:
    def __init__(self, backend: Backend, settings: Settings) -> None:
        self.backend = backend
        self.settings = settings

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        """Apply the server's defaults and limits to a request, in place."""
        if not request.model:
            request.model = self.settings.model
        limit = self.settings.max_predict
        predict = request.options.get("num_predict")
        if predict is not None:
            if isinstance(predict, bool) or not isinstance(predict, int):
                raise BadRequest("option num_predict must be an integer")
            if predict < 0 or predict > limit:
                request.options["num_predict"] = limit
        return request

    async def stream(
        self, request: GenerationRequest, split_reasoning: bool = False
    ) -> AsyncIterator[Chunk]:
        """The chunks of one generation; the last has ``done=True``.

        Reasoning goes to ``Chunk.thinking`` when ``request.think`` is true, is dropped when it
        is false, and is left in the text when it is ``None``, unless ``split_reasoning`` asks
        for it to be split out anyway (the OpenAI API returns it as ``reasoning_content``
        without being asked). Reasoning a backend already split out (``Chunk.thinking``) is
        kept; tags left in the text are split here too, so an upstream Ollama too old to know
        ``think`` still gives the right answer.
        """
        self.prepare(request)
        source = (
            self.backend.generate(request)
            if request.kind == "generate"
            else self.backend.chat(request)
        )
        split = split_reasoning or request.think is not None
        keep = request.think is not False
        splitter: ThinkSplitter | None = None
        first = True
        async with aclosing(source):
            async for chunk in source:
                if split:
                    if first:
                        splitter = ThinkSplitter(started_inside=chunk.starts_in_thinking)
                        first = False
                    assert splitter is not None
                    thinking, text = splitter.feed(chunk.text)
                    if chunk.done:
                        more_thinking, more_text = splitter.flush()
                        thinking += more_thinking
                        text += more_text
                    chunk.thinking = chunk.thinking + thinking if keep else ""
                    chunk.text = text
                    if (
                        not chunk.done
                        and not chunk.text
                        and not chunk.thinking
                        and not chunk.tool_calls
                    ):
                        continue
                elif not keep:
                    chunk.thinking = ""
                yield chunk
                if chunk.done:
                    return

    async def complete(self, request: GenerationRequest, split_reasoning: bool = False) -> Chunk:
        """A whole generation as one chunk (text and thinking joined, stats of the last)."""
        texts: list[str] = []
        thinking: list[str] = []
        tool_calls: list[dict] = []
        last = Chunk(done=True, stats=Stats())
        async with aclosing(self.stream(request, split_reasoning)) as chunks:
            async for chunk in chunks:
                texts.append(chunk.text)
                thinking.append(chunk.thinking)
                if chunk.tool_calls:
                    tool_calls.extend(chunk.tool_calls)
                last = chunk
        return Chunk(
            text="".join(texts),
            thinking="".join(thinking),
            tool_calls=tool_calls or None,
            done=True,
            done_reason=last.done_reason,
            stats=last.stats,
            context=last.context,
            model=last.model or request.model,
        )


def now_ns() -> int:
    return time.perf_counter_ns()
