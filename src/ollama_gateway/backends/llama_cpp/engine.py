"""The embedded engine: one llama.cpp context per model, continuous batching over its slots.

One decode thread owns the context. Each step it builds a single ``llama_batch`` holding the
next token of every generating sequence followed by chunks of newly admitted prompts (up to
``n_batch`` tokens), calls ``llama_decode`` once, then samples each sequence that produced logits
with its own sampler chain. Requests join at the next step when a slot is free; finished and
cancelled ones leave and give back their slot. The KV cache is unified: every slot may use up to
``n_ctx`` cells of a ``n_ctx * n_parallel`` cache.

A finished sequence leaves its KV cells in its slot as a prompt cache: the next request admitted
to that slot reuses the longest common prefix (multi-turn chats re-evaluate only the new turn).
A cancelled sequence's cells are freed at once.

The consumer side is asyncio: :meth:`Engine.generate` is an async generator of
:class:`~ollama_gateway.core.types.Chunk`; closing it (client gone) cancels the sequence, which
leaves within one decode step.

One request never fails another: token ids are checked against the vocabulary and the sampler
(grammar included) is compiled before a sequence is submitted, off the decode thread; a batch
llama.cpp refuses is retried one sequence at a time, and an error while sampling or streaming
one sequence ends that sequence alone.

The parts: ``context.py`` (the native context, sized), ``slots.py`` (free slots and their prompt
caches), ``batch.py`` (what one step feeds), ``sequence.py`` (one generation and what each
sampled token does to it); this module schedules them on the decode thread.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable

import numpy as np

from ollama_gateway.backends.llama_cpp import batch as batches
from ollama_gateway.backends.llama_cpp._lib import lib, take_errors
from ollama_gateway.backends.llama_cpp.context import Context, EngineConfig, EngineError
from ollama_gateway.backends.llama_cpp.logprobs import token_logprobs
from ollama_gateway.backends.llama_cpp.model import Model
from ollama_gateway.backends.llama_cpp.sampling import (
    Sampler,
    SamplerError,
    SamplingOptions,
    build_sampler,
)
from ollama_gateway.backends.llama_cpp.sequence import Sequence
from ollama_gateway.backends.llama_cpp.slots import Slots
from ollama_gateway.backends.llama_cpp.work import in_worker
from ollama_gateway.core.types import Chunk
from ollama_gateway.errors import BadRequest, ContextTooLong, GatewayError, ServiceUnavailable

log = logging.getLogger(__name__)


class Engine:
    """Continuous batching over one model. Construct and :meth:`close` in worker threads."""

    def __init__(self, model: Model, config: EngineConfig | None = None) -> None:
        config = config or EngineConfig()
        self.model = model
        self._native = Context(model, config)
        self.n_ctx = self._native.n_ctx
        self.n_parallel = self._native.n_parallel
        self.capacity = self._native.capacity
        self.cache_prompt = config.cache_prompt
        self._ctx = self._native.ctx
        self._mem = self._native.mem
        self._batch = self._native.batch
        self._cond = threading.Condition()
        self._waiting: collections.deque[Sequence] = collections.deque()
        self._active: list[Sequence] = []
        self._slots = Slots(self._mem, self.n_parallel, cache_prompt=config.cache_prompt)
        self._closing = False
        self._closed = False
        self.steps = 0  # decode steps done (tests and metrics)
        self.tokens_generated = 0
        # Called on the decode thread right after a sequence left its slot (tests, metrics).
        self.on_release: Callable[[Sequence], None] | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"llama-decode:{model.path.name}", daemon=True
        )
        self._thread.start()

    # -- public, any thread --------------------------------------------------------------
    @property
    def busy(self) -> int:
        """Sequences generating or waiting for a slot."""
        with self._cond:
            return len(self._active) + len(self._waiting)

    @property
    def free_slots(self) -> int:
        with self._cond:
            return len(self._slots.free)

    def kv_tokens(self, slot: int) -> int:
        """Cells the KV cache holds for ``slot`` (0 when empty)."""
        return lib().llama_memory_seq_pos_max(self._mem, slot) + 1

    def check_prompt(self, n_prompt: int, limit: int | None = None, *, exact: bool = True) -> int:
        """The context limit for a prompt of ``n_prompt`` tokens; ContextTooLong if too long.

        ``exact=False``: ``n_prompt`` is a lower bound (tokenizing stopped early).
        """
        limit = min(limit or self.n_ctx, self.n_ctx)
        if n_prompt >= limit:
            count = f"{n_prompt}" if exact else f"more than {n_prompt - 1}"
            raise ContextTooLong(
                f"the input is {count} tokens, too long for the context window of {limit} tokens"
            )
        return limit

    def check_tokens(self, tokens: list[int], what: str = "the prompt") -> None:
        """BadRequest unless every id is in the vocabulary (llama.cpp would refuse the batch)."""
        if tokens and (min(tokens) < 0 or max(tokens) >= self.model.n_vocab):
            bad = next(t for t in tokens if not 0 <= t < self.model.n_vocab)
            shown = str(bad) if len(str(bad)) <= 20 else str(bad)[:20] + "..."
            raise BadRequest(
                f"{what} holds the token id {shown}, not in the model's vocabulary "
                f"(0 to {self.model.n_vocab - 1})"
            )

    def new_sampler(self, options: SamplingOptions, limit: int, prompt: list[int]) -> Sampler:
        """Blocking (a grammar compiles here): the sampler of a sequence of at most ``limit``
        tokens starting with ``prompt`` (its penalties have seen the prompt's last tokens);
        BadRequest when the options cannot be compiled. The caller owns it."""
        try:
            sampler = build_sampler(
                options, self.model.vocab, self.model.n_vocab, limit, self.model.piece
            )
        except SamplerError as exc:
            raise BadRequest(str(exc)) from None
        window = options.penalty_window(limit)
        sampler.accept_history(prompt[-window:] if window else [])
        return sampler

    async def generate(
        self,
        prompt: list[int],
        options: SamplingOptions | None = None,
        *,
        n_ctx: int | None = None,
        sampler: Sampler | None = None,
    ) -> AsyncGenerator[Chunk, None]:
        """Generate from ``prompt`` tokens; the last chunk has ``done=True`` and stats.

        ``sampler``: built by :meth:`new_sampler` for this prompt's limit (the engine owns it
        from here on); without one, it is built in a worker thread first. Every check happens
        before the sequence is submitted: a bad request never reaches the decode thread.
        """
        options = options or SamplingOptions()
        try:
            if not prompt:
                raise BadRequest("the prompt is empty")
            self.check_tokens(prompt)
            limit = self.check_prompt(len(prompt), n_ctx)
            if sampler is None:
                sampler = await in_worker(
                    self.new_sampler, options, limit, prompt, discard=Sampler.free
                )
            seq = Sequence(prompt, options, limit, asyncio.get_running_loop())
            seq.sampler = sampler
            self._submit(seq)
        except BaseException:
            if sampler is not None:
                sampler.free()
            raise
        try:
            while True:
                item = await seq.queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.done:
                    return
        finally:
            if not seq.finished:
                self.cancel(seq)

    def cancel(self, seq: Sequence) -> None:
        with self._cond:
            if not seq.cancelled:
                seq.cancelled = True
                seq.cancel_step = self.steps
            self._cond.notify()

    def close(self) -> None:
        """Stop the decode thread, fail what is left, free the context (blocking)."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify()
        self._thread.join()  # a step is bounded (n_batch tokens): free nothing under it
        for seq in [*self._active, *self._waiting]:
            seq.finished = True
            seq.send(ServiceUnavailable("the model was unloaded"))
            if seq.sampler is not None:
                seq.sampler.free()
                seq.sampler = None
        self._active.clear()
        self._waiting.clear()
        self._native.free()
        self._closed = True

    # -- decode thread -------------------------------------------------------------------
    def _submit(self, seq: Sequence) -> None:
        with self._cond:
            if self._closing:
                raise ServiceUnavailable("the model is being unloaded")
            self._waiting.append(seq)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            try:
                with self._cond:
                    while not self._closing and not self._active and not self._waiting:
                        self._cond.wait()
                    if self._closing:
                        return
                    self._reap()
                    self._admit()
                    if not self._active:
                        continue
                self._step()
            except Exception as exc:  # never let the decode thread die silently
                log.exception("decode step failed")
                self._fail_all(EngineError(f"generation failed: {exc}"))

    def _reap(self) -> None:
        """Drop cancelled sequences: free their sampler, slot and KV cells."""
        for seq in [s for s in self._waiting if s.cancelled]:
            self._waiting.remove(seq)
            if seq.sampler is not None:
                seq.sampler.free()
                seq.sampler = None
            seq.release_step = self.steps
        for seq in [s for s in self._active if s.cancelled]:
            self._release(seq, keep_cache=False)

    def _admit(self) -> None:
        while self._waiting and self._slots.free:
            seq = self._waiting.popleft()
            try:
                self._admit_one(seq)
            except Exception as exc:  # this request fails; the others go on
                log.exception("could not start a sequence")
                error = EngineError(f"generation failed: {exc}")
                if seq.sampler is not None:
                    seq.sampler.free()
                    seq.sampler = None
                if seq.slot >= 0:
                    self._slots.give_back(seq.slot, None)
                seq.finished = True
                seq.send(error)

    def _admit_one(self, seq: Sequence) -> None:
        seq.slot, reuse = self._slots.take(seq.prompt)
        seq.kv_tokens = seq.prompt[:reuse]
        seq.n_prompt_done = seq.n_cached = reuse
        seq.t_admit = time.perf_counter_ns()
        self._active.append(seq)

    def _step(self) -> None:
        """One decode step for every active sequence.

        When llama.cpp refuses the whole batch (nothing is changed then), every sequence is
        stepped alone, so that a failure stays with the sequence that caused it and the others
        go on.
        """
        rc = self._decode(self._active)
        if rc == 0:
            return
        if len(self._active) == 1:
            self._fail(self._active[0], decode_error(rc))
            return
        for seq in list(self._active):
            if seq in self._active:
                rc = self._decode([seq])
                if rc != 0:
                    self._fail(seq, decode_error(rc))

    def _decode(self, seqs: list[Sequence]) -> int:
        """Decode and sample ``seqs``; llama_decode's code (0 when done)."""
        budget, evicted = self.capacity, False
        while True:
            rc = self._try_step(seqs, budget)
            if rc != 1:
                return rc
            # No room in the KV cache for this batch: retry with smaller prompt chunks, as
            # llama-server does, then without the prompt caches of idle slots.
            if budget > 1:
                budget //= 2
            elif not evicted:
                self._slots.evict_idle()
                evicted = True
            else:
                return rc

    def _try_step(self, seqs: list[Sequence], budget: int) -> int:
        """One decode step over ``seqs`` with at most ``budget`` prompt tokens, then sampling.

        Returns llama_decode's code: 0 done, 1 no room in the KV cache, other values an error;
        on any non-zero code nothing was changed.
        """
        n, fed = batches.fill(self._batch, seqs, budget)
        if n == 0:
            return 0
        self._batch.n_tokens = n
        rc = lib().llama_decode(self._ctx, self._batch)
        if rc != 0:
            errors = take_errors()
            if rc != 1:
                log.warning("llama_decode returned %d: %s", rc, "; ".join(errors) or "?")
            return rc
        self.steps += 1
        batches.commit(fed)
        for seq in list(seqs):
            if seq.batch_index >= 0 and not seq.cancelled:
                try:
                    token = seq.sampler.sample(self._ctx, seq.batch_index)
                    self._on_token(seq, token)
                except Exception as exc:  # this sequence fails; the others go on
                    log.exception("a sequence failed")
                    self._fail(seq, EngineError(f"generation failed: {exc}"))
        return 0

    def _on_token(self, seq: Sequence, token: int) -> None:
        before = seq.n_generated
        reason = seq.accept(token, self.model, self._logprobs)
        self.tokens_generated += seq.n_generated - before
        if reason is not None:
            final = seq.end(reason)
            self._release(seq, keep_cache=self.cache_prompt)  # free before the consumer hears
            seq.send(final)

    def _logprobs(self, seq: Sequence, token: int) -> dict:
        """The sampled token's log-probability and the top alternatives (logprobs.py)."""
        row = np.ctypeslib.as_array(
            lib().llama_get_logits_ith(self._ctx, seq.batch_index), shape=(self.model.n_vocab,)
        )
        return token_logprobs(row, token, seq.options.logprobs or 0, self.model.piece)

    def _release(self, seq: Sequence, *, keep_cache: bool) -> None:
        with self._cond:
            if seq in self._active:
                self._active.remove(seq)
            if seq.sampler is not None:
                seq.sampler.free()
                seq.sampler = None
            self._slots.give_back(seq.slot, seq.kv_tokens if keep_cache else None)
            seq.release_step = self.steps
        if self.on_release is not None:
            self.on_release(seq)

    def _fail(self, seq: Sequence, error: GatewayError) -> None:
        """End ``seq`` alone with ``error``: its slot and KV cells are freed."""
        seq.finished = True
        self._release(seq, keep_cache=False)
        seq.send(error)

    def _fail_all(self, error: GatewayError) -> None:
        """The engine itself failed (not one sequence): every active sequence ends."""
        for seq in list(self._active):
            self._fail(seq, error)


def decode_error(rc: int) -> EngineError:
    if rc == 1:
        return EngineError("generation failed: the KV cache is full")
    return EngineError(f"generation failed: llama_decode returned {rc}")
