"""Serving logic shared by every API family: defaults, limits, reasoning split, aggregation.

Routers turn a wire request into a :class:`GenerationRequest`, call :meth:`stream` or
:meth:`complete`, and render the chunks in their own format.

Admission (:func:`admitted`, around :meth:`GenerationService.stream`): every generation holds
one of its model's slots (shared round-robin between the API keys waiting for it) in the
:class:`Scheduler` from before the backend is called until the
stream ends, fails or is closed (client disconnect), and must finish within ``request_timeout``
seconds of getting its slot (checked as each chunk arrives; a backend that stops producing chunks
altogether is bounded by its own timeouts). The final chunk's generated token count goes to the
request's :class:`~ollama_gateway.core.usage.Usage`, when the middleware set one.
Embeddings (:meth:`GenerationService.embed`) are admitted the same way.

Before any of that, :mod:`ollama_gateway.core.limits` bounds the request's size (messages, text,
template, embedding inputs).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

from ollama_gateway.accounts.policy import enforce_generation
from ollama_gateway.backends.base import UPSTREAM_BACKENDS, Backend
from ollama_gateway.core.limits import check_embedding, check_generation
from ollama_gateway.core.names import full_name
from ollama_gateway.core.observer import GenerationObserver, request_state
from ollama_gateway.core.scheduler import Scheduler
from ollama_gateway.core.thinking import ThinkSplitter
from ollama_gateway.core.types import Chunk, EmbedRequest, EmbedResult, GenerationRequest, Stats
from ollama_gateway.core.usage import current_usage
from ollama_gateway.errors import BadRequest, QueueTimeout, ServerBusy, UpstreamTimeout
from ollama_gateway.observability.metrics import Metrics
from ollama_gateway.settings import Settings

_monotonic = time.monotonic


def admitted(
    stream: Callable[..., AsyncGenerator[Chunk, None]],
) -> Callable[..., AsyncGenerator[Chunk, None]]:
    """Wrap ``GenerationService.stream``: a slot of the model, a deadline, token usage.

    The slot is awaited before the backend is called (ServerBusy when the queue is full or the
    wait too long) and released when the stream finishes or is closed.
    """

    @functools.wraps(stream)
    async def admitted_stream(
        self: GenerationService, request: GenerationRequest, *args: Any, **kwargs: Any
    ) -> AsyncGenerator[Chunk, None]:
        self.prepare(request)
        model = full_name(request.model)
        scheduler = self.scheduler
        who = await self.take_slot(model)
        try:
            timeout = self.settings.request_timeout
            deadline = _monotonic() + timeout
            async with aclosing(stream(self, request, *args, **kwargs)) as chunks:
                async for chunk in chunks:
                    if _monotonic() > deadline:
                        raise UpstreamTimeout(
                            f"the generation took longer than {timeout:g} seconds"
                        )
                    if chunk.done:
                        usage = current_usage.get()
                        if usage is not None and chunk.stats is not None:
                            usage.add(chunk.stats.eval_count, chunk.stats.prompt_eval_count)
                        yield chunk
                        return
                    yield chunk
        finally:
            scheduler.release(model, who)

    return admitted_stream


class GenerationService:
    def __init__(
        self,
        backend: Backend,
        settings: Settings,
        scheduler: Scheduler | None = None,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.scheduler = scheduler or Scheduler(
            settings.parallel, settings.max_queue, settings.queue_timeout
        )
        self.metrics = metrics  # None: no metrics (the service alone, in tests)

    async def take_slot(self, model: str) -> str | None:
        """One of ``model``'s slots for the current request (round-robin across keys, each
        within its own concurrency cap); ServerBusy, counted, when refused. Returns whom the slot
        is held for, to give to ``scheduler.release``."""
        state = request_state()
        key = state.get("api_key") if state else None
        who = key.subject if key is not None else None
        try:
            if key is None:
                await self.scheduler.acquire(model)
            else:
                await self.scheduler.acquire(
                    model, who, weight=key.weight, max_concurrent=key.max_concurrent
                )
        except ServerBusy as exc:
            if self.metrics is not None:
                timed_out = isinstance(exc, QueueTimeout)
                self.metrics.rejected("queue_timeout" if timed_out else "queue_full")
            raise
        return who

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        """Apply the server's defaults and limits to a request, in place."""
        if not request.model:
            request.model = self.settings.model_name
        check_generation(request, self.settings)
        limit = self.settings.max_predict
        predict = request.options.get("num_predict")
        if predict is not None:
            if isinstance(predict, bool) or not isinstance(predict, int):
                raise BadRequest("option num_predict must be an integer")
            if predict < 0 or predict > limit:
                request.options["num_predict"] = limit
        enforce_generation(request, self.settings)  # the key's models and option caps
        return request

    @admitted
    async def stream(
        self, request: GenerationRequest, split_reasoning: bool = False
    ) -> AsyncGenerator[Chunk, None]:
        """The chunks of one generation; the last has ``done=True``.

        Reasoning goes to ``Chunk.thinking`` when ``request.think`` is true, is dropped when it
        is false, and is left in the text when it is ``None``, unless ``split_reasoning`` asks
        for it to be split out anyway (the OpenAI API returns it as ``reasoning_content``
        without being asked). Reasoning a backend already split out (``Chunk.thinking``) is
        kept; tags left in the text are split here too, so an upstream Ollama too old to know
        ``think`` still gives the right answer. A backend whose prompt opened the reasoning
        says so on its first chunk (``Chunk.starts_in_thinking``).
        """
        # ``admitted`` prepared the request (defaults and limits) before taking the slot
        source = (
            self.backend.generate(request)
            if request.kind == "generate"
            else self.backend.chat(request)
        )
        split = split_reasoning or request.think is not None
        keep = request.think is not False
        splitter: ThinkSplitter | None = None
        first = True
        observer = GenerationObserver(
            self.metrics,
            request,
            self.backend.name in UPSTREAM_BACKENDS,
            self.settings.log_prompts,
            count_loads=not hasattr(self.backend, "bind_metrics"),  # it reports its own loads
        )
        async with aclosing(source):
            async for chunk in observer.watch(source):
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
                    if thinking or text != chunk.text or (chunk.thinking and not keep):
                        chunk.raw = None  # no longer what the upstream wrote
                        chunk.thinking = chunk.thinking + thinking if keep else ""
                        chunk.text = text
                    if (
                        not chunk.done
                        and not chunk.text
                        and not chunk.thinking
                        and not chunk.tool_calls
                        and not chunk.logprobs
                    ):
                        continue
                elif not keep and chunk.thinking:
                    chunk.thinking = ""
                    chunk.raw = None
                yield chunk
                if chunk.done:
                    return

    async def complete(self, request: GenerationRequest, split_reasoning: bool = False) -> Chunk:
        """A whole generation as one chunk (text and thinking joined, stats of the last)."""
        texts: list[str] = []
        thinking: list[str] = []
        tool_calls: list[dict[str, Any]] = []
        logprobs: list[dict[str, Any]] | None = [] if request.logprobs else None
        last = Chunk(done=True, stats=Stats())
        async with aclosing(self.stream(request, split_reasoning)) as chunks:
            async for chunk in chunks:
                texts.append(chunk.text)
                thinking.append(chunk.thinking)
                if chunk.tool_calls:
                    tool_calls.extend(chunk.tool_calls)
                if chunk.logprobs and logprobs is not None:
                    logprobs.extend(chunk.logprobs)
                last = chunk
        return Chunk(
            logprobs=logprobs,
            text="".join(texts),
            thinking="".join(thinking),
            tool_calls=tool_calls or None,
            done=True,
            done_reason=last.done_reason,
            stats=last.stats,
            context=last.context,
            model=last.model or request.model,
        )

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        """Embeddings, admitted like a generation: a slot of the model (queue, queue timeout),
        at most ``request_timeout`` seconds, token metrics. Cancelling the call (the client
        left, the deadline passed) cancels the backend's work."""
        if not request.model:
            request.model = self.settings.model_name
        check_embedding(request, self.settings)
        model = full_name(request.model)
        who = await self.take_slot(model)
        try:
            timeout = self.settings.request_timeout
            try:
                result = await asyncio.wait_for(self.backend.embed(request), timeout)
            except asyncio.TimeoutError:
                raise UpstreamTimeout(
                    f"the embedding took longer than {timeout:g} seconds"
                ) from None
        finally:
            self.scheduler.release(model, who)
        usage = current_usage.get()
        if usage is not None:  # a key's token budget and usage count embeddings too
            usage.add(0, result.prompt_eval_count)
        if self.metrics is not None:
            self.metrics.observe_tokens(request.model, result.prompt_eval_count, 0, 0.0)
        state = request_state()
        if state is not None:
            state["model"] = request.model
            state["prompt_tokens"] = state.get("prompt_tokens", 0) + result.prompt_eval_count
        return result


def now_ns() -> int:
    return time.perf_counter_ns()
