"""One generation in the engine: its prompt, sampler, text stream, timings and consumer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ollama_gateway.backends.llama_cpp.sampling import SamplingOptions
from ollama_gateway.backends.llama_cpp.text import TextStream
from ollama_gateway.core.types import Chunk, Stats

if TYPE_CHECKING:
    from ollama_gateway.backends.llama_cpp.model import Model


class Sequence:
    """State of one request, owned by the decode thread once admitted.

    The consumer side (an asyncio task) only reads ``queue`` and sets ``cancelled``; everything
    else is touched by the decode thread alone.
    """

    __slots__ = (
        "batch_index",
        "cancel_step",
        "cancelled",
        "finished",
        "generated",
        "kv_tokens",
        "limit",
        "logprobs",
        "loop",
        "n_cached",
        "n_generated",
        "n_prompt_done",
        "options",
        "pending",
        "prompt",
        "queue",
        "release_step",
        "sampler",
        "slot",
        "stream",
        "t_admit",
        "t_first",
        "t_submit",
    )

    def __init__(
        self,
        prompt: list[int],
        options: SamplingOptions,
        limit: int,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.prompt = prompt
        self.options = options
        self.limit = limit  # most tokens (prompt + generated) this sequence may hold
        self.loop = loop
        self.queue: asyncio.Queue[Chunk | BaseException] = asyncio.Queue()
        self.stream = TextStream(options.stop)
        self.slot = -1
        self.sampler: Any = None
        self.kv_tokens: list[int] = []  # tokens whose KV is in the cache, in order
        self.n_cached = 0  # prompt tokens reused from the slot's cache
        self.n_prompt_done = 0
        self.n_generated = 0
        self.generated: list[int] = []
        self.pending: int | None = None  # sampled, to be decoded in the next step
        self.logprobs: list[dict[str, Any]] = []  # of tokens whose text is not sent yet
        self.batch_index = -1
        self.cancelled = False
        self.finished = False
        self.cancel_step = -1
        self.release_step = -1
        self.t_submit = time.perf_counter_ns()
        self.t_admit = 0
        self.t_first = 0

    # -- tokens (decode thread) ----------------------------------------------------------
    def accept(
        self,
        token: int,
        model: Model,
        logprobs: Callable[[Sequence, int], dict[str, Any]],
    ) -> str | None:
        """Take a sampled token: its text is sent (less what a stop sequence holds back).

        Returns why the sequence ends ("stop", "length"), or None: the token is decoded next
        step. ``logprobs(self, token)`` gives the token's entry while its logits are current.
        """
        if not self.t_first:
            self.t_first = time.perf_counter_ns()
        if model.is_eog(token):
            # counted, as Ollama (numPredicted++ before its check) and llama-server count it;
            # it is not part of the text or the context
            self.n_generated += 1
            return "stop"
        predict = self.options.num_predict
        if predict is not None and self.n_generated >= predict:
            return "length"  # num_predict 0: nothing at all
        self.n_generated += 1
        self.generated.append(token)
        if self.options.logprobs is not None:
            self.logprobs.append(logprobs(self, token))
        text, stopped = self.stream.push(model.piece(token))
        if text:
            self.send(Chunk(text=text, logprobs=self.take_logprobs()))
        if stopped:
            return "stop"
        if self._at_limit():
            return "length"
        self.pending = token
        return None

    def _at_limit(self) -> bool:
        """num_predict reached, or prompt + output fill the sequence's context."""
        predict = self.options.num_predict
        if predict is not None and self.n_generated >= predict:
            return True
        return len(self.kv_tokens) + 1 >= self.limit  # + the token just sampled

    def end(self, reason: str) -> Chunk:
        """The sequence is done: send the text held back; the final chunk, to send once the
        sequence has left its slot."""
        tail = self.stream.flush()
        if tail:
            self.send(Chunk(text=tail, logprobs=self.take_logprobs()))
        context = self.prompt + self.generated
        final = Chunk(done=True, done_reason=reason, stats=self.stats(), context=context)
        final.logprobs = self.take_logprobs()  # of tokens whose text a stop sequence held back
        self.finished = True
        return final

    # -- delivery (decode thread -> event loop) ------------------------------------------
    def send(self, item: Chunk | BaseException) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the consumer's loop is closed: nobody is listening
            self.cancelled = True

    def take_logprobs(self) -> list[dict[str, Any]] | None:
        """The pending logprob entries, handed to the chunk being sent (None if off)."""
        if self.options.logprobs is None:
            return None
        taken, self.logprobs = self.logprobs, []
        return taken

    def stats(self) -> Stats:
        now = time.perf_counter_ns()
        first = self.t_first or now
        return Stats(
            prompt_eval_count=len(self.prompt),  # Ollama counts cached prompt tokens too
            eval_count=self.n_generated,
            prompt_eval_duration=max(0, first - self.t_admit) if self.t_admit else 0,
            eval_duration=max(0, now - first) if self.t_first else 0,
        )

    @property
    def prompt_left(self) -> int:
        return len(self.prompt) - self.n_prompt_done
