"""Per-sequence sampling options and the llama.cpp sampler chain built from them."""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ollama_gateway.backends.llama_cpp._lib import lib
from ollama_gateway.backends.llama_cpp.grammar_check import check_grammar

RANDOM_SEED = 0xFFFFFFFF  # LLAMA_DEFAULT_SEED: llama.cpp draws a random seed
_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])  # llama_token_data


@dataclass(slots=True)
class SamplingOptions:
    """How one sequence samples and when it stops (Ollama's defaults).

    ``num_predict``: most tokens to generate (``None`` = until end of text or the context is
    full). ``seed``: ``None`` or negative = random. ``temperature`` <= 0 = greedy. ``grammar``:
    a GBNF grammar the output must follow (``format: json``, a forced tool call).
    ``grammar_trigger``: None = the grammar holds from the first token; otherwise it is lazy
    and holds from the end of this marker on (a tool call's ``<tool_call>``), or, when "",
    from the first visible token if the grammar allows that token (see :class:`Sampler`).
    """

    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.0
    typical_p: float = 1.0
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    num_predict: int | None = None
    grammar: str | None = None
    grammar_trigger: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    logprobs: int | None = None  # None: off; else how many top alternatives (0-20) per token

    def penalty_window(self, n_ctx: int) -> int:
        """Tokens the penalties look back over: ``repeat_last_n``, -1 = and at most the context
        (llama.cpp allocates the window up front)."""
        last_n = self.repeat_last_n
        return n_ctx if last_n < 0 else min(last_n, n_ctx)

    @property
    def penalizes(self) -> bool:
        return self.repeat_last_n != 0 and (
            self.repeat_penalty != 1.0 or self.presence_penalty != 0 or self.frequency_penalty != 0
        )


class SamplerError(ValueError):
    """The options could not be turned into a sampler (for example a bad grammar)."""


@dataclass(slots=True)
class Sampler:
    """A sampler chain and, inside it, the penalties sampler (to feed the prompt history to).

    Only ``chain`` and ``grammar`` are freed (``llama_sampler_free``); the chain owns
    ``penalties``. The prompt must never be accepted into the grammar: it would reject it.

    The grammar is kept out of the chain and used as llama.cpp's own common sampler does:
    the chain picks a token from all the logits, the grammar checks that one token, and only
    when it refuses is the grammar applied to the whole vocabulary and the token picked again.
    Greedy first tries the next best tokens one by one (the first the grammar allows is the one
    greedy over the masked vocabulary picks). Masking the whole vocabulary every step costs
    about as much as the model's forward pass on a small model (bench/grammar.py).

    A lazy grammar (``trigger`` not None) waits, unapplied and fed nothing, while the output is
    free text. With a marker, it takes over once a token ends exactly where the marker ends
    (its start rule is what follows the marker); a token that would run past the marker is
    passed over for the next best one that does not (or, if none, the grammar is dropped), so
    the grammar never has to accept text that it did not check token by token: llama.cpp's
    own lazy grammar accepts such text unchecked and aborts the process when it does not fit.
    With the empty trigger, the first token with visible text decides: the grammar takes it
    if it allows it, and is dropped otherwise (the reply is text).
    """

    chain: Any
    penalties: Any = None
    grammar: Any = None
    n_vocab: int = 0
    greedy: bool = False
    trigger: bytes | None = None
    piece: Callable[[int], bytes] | None = None
    _candidates: Any = None
    _ids: Any = None
    _tail: bytes = b""

    def accept_history(self, tokens: list[int]) -> None:
        if self.penalties is not None:
            accept = lib().llama_sampler_accept
            for token in tokens:
                accept(self.penalties, token)

    def sample(self, ctx: Any, index: int) -> int:
        """The next token from the logits of batch row ``index``, accepted into the samplers."""
        lc = lib()
        if self.grammar is None:
            return lc.llama_sampler_sample(self.chain, ctx, index)
        logits = lc.llama_get_logits_ith(ctx, index)
        if self.trigger is not None:
            return self._sample_waiting(logits)
        token = self._pick(logits, grammar_first=False)
        if not self._allowed(token):
            better = self._next_best() if self.greedy else None
            if better is not None:
                token = better
            else:
                token = self._pick(logits, grammar_first=True)
                if not self._allowed(token):  # accepting it would abort the process
                    raise SamplerError("no token of this model can continue the output format")
        lc.llama_sampler_accept(self.grammar, token)
        lc.llama_sampler_accept(self.chain, token)
        return token

    def _sample_waiting(self, logits: Any) -> int:
        """A token while a lazy grammar waits for its trigger (see the class docstring)."""
        assert self.trigger is not None and self.piece is not None
        token = self._pick(logits, grammar_first=False)
        piece = self.piece(token)
        if not self.trigger:  # the start of the reply
            if piece.strip():
                if self._allowed(token):
                    lib().llama_sampler_accept(self.grammar, token)
                    self.trigger = None
                else:
                    self._drop_grammar()
            lib().llama_sampler_accept(self.chain, token)
            return token
        fires, overruns = self._marker(piece)
        if overruns:
            better = self._next_best(lambda t: not self._marker(self.piece(t))[1])  # type: ignore[misc]
            if better is None:
                self._drop_grammar()
            else:
                token, piece = better, self.piece(better)
                fires = self._marker(piece)[0]
        lib().llama_sampler_accept(self.chain, token)
        if fires:
            self.trigger = None
        elif self.trigger:
            keep = len(self.trigger) - 1
            self._tail = (self._tail + piece)[-keep:] if keep else b""
        return token

    def _marker(self, piece: bytes) -> tuple[bool, bool]:
        """Whether ``piece`` after the output so far completes the marker exactly at its end
        (fires), or holds the whole marker with more after it (overruns)."""
        assert self.trigger
        text = self._tail + piece
        at = text.find(self.trigger)
        if at < 0:
            return False, False
        end = at + len(self.trigger)
        return end == len(text), end != len(text)

    def _drop_grammar(self) -> None:
        """The lazy grammar will not be needed: free it; from now on the chain alone samples."""
        if self.grammar is not None:
            lib().llama_sampler_free(self.grammar)
            self.grammar = None
        self.trigger = None

    def _pick(self, logits: Any, *, grammar_first: bool) -> int:
        lc = lib()
        if self._candidates is None:
            self._candidates = np.zeros(self.n_vocab, dtype=_TOKEN_DATA)
            self._ids = np.arange(self.n_vocab, dtype=np.int32)
        candidates = self._candidates
        candidates["id"] = self._ids  # the samplers may have reordered them last time
        candidates["logit"] = np.ctypeslib.as_array(logits, shape=(self.n_vocab,))
        data = candidates.ctypes.data_as(ctypes.POINTER(lc.llama_token_data))
        array = lc.llama_token_data_array(data, self.n_vocab, -1, False)
        if grammar_first:
            lc.llama_sampler_apply(self.grammar, ctypes.byref(array))
        lc.llama_sampler_apply(self.chain, ctypes.byref(array))
        return int(array.data[array.selected].id)

    def _next_best(
        self, allowed: Callable[[int], bool] | None = None, count: int = 64
    ) -> int | None:
        """After a pick was refused: the best of the ``count`` next tokens (by the logits the
        chain left, penalties applied) that ``allowed`` (the grammar) allows, if any."""
        allowed = allowed or self._allowed
        candidates = self._candidates
        logits, ids = candidates["logit"], candidates["id"]
        count = min(count, self.n_vocab)
        top = np.argpartition(logits, -count)[-count:]
        for i in top[np.lexsort((ids[top], -logits[top]))]:
            if allowed(int(ids[i])):
                return int(ids[i])
        return None

    def _allowed(self, token: int) -> bool:
        lc = lib()
        one = (lc.llama_token_data * 1)()
        one[0].id, one[0].logit, one[0].p = token, 0.0, 0.0
        array = lc.llama_token_data_array(one, 1, -1, False)
        lc.llama_sampler_apply(self.grammar, ctypes.byref(array))
        return not math.isinf(one[0].logit)

    def free(self) -> None:
        lc = lib()
        if self.chain is not None:
            lc.llama_sampler_free(self.chain)
            self.chain = self.penalties = None
        if self.grammar is not None:
            lc.llama_sampler_free(self.grammar)
            self.grammar = None


def build_sampler(
    options: SamplingOptions,
    vocab: Any,
    n_vocab: int,
    n_ctx: int,
    piece: Callable[[int], bytes] | None = None,
) -> Sampler:
    """A new sampler for ``options``; the caller calls :meth:`Sampler.free`.

    ``piece`` (a token's bytes) is needed for a lazy grammar (``options.grammar_trigger``).

    The order is llama.cpp's own (common/sampling): penalties, top-k, typical, top-p, min-p,
    temperature, then the seeded distribution (or greedy at temperature 0); the grammar
    outside the chain (see :class:`Sampler`), checked first
    (:func:`~.grammar_check.check_grammar`: BadRequest when over a limit).
    Blocking (compiling a grammar takes a while): call it from a worker thread.
    """
    if options.grammar:
        check_grammar(options.grammar)
    lc = lib()
    params = lc.llama_sampler_chain_default_params()
    params.no_perf = True
    chain = lc.llama_sampler_chain_init(params)

    sampler = Sampler(chain, n_vocab=n_vocab, greedy=options.temperature <= 0)
    if options.grammar and options.grammar_trigger is not None:
        if piece is None:
            lc.llama_sampler_free(chain)
            raise SamplerError("a lazy grammar needs the model's token pieces")
        sampler.trigger, sampler.piece = options.grammar_trigger.encode(), piece

    if options.grammar:
        grammar = lc.llama_sampler_init_grammar(vocab, options.grammar.encode(), b"root")
        if not grammar:
            lc.llama_sampler_free(chain)
            raise SamplerError("the output format could not be compiled into a grammar")
        sampler.grammar = grammar
    _fill_chain(sampler, chain, options, n_vocab, n_ctx)
    return sampler


def _fill_chain(
    sampler: Sampler, chain: Any, options: SamplingOptions, n_vocab: int, n_ctx: int
) -> None:
    """The chain's steps in llama.cpp's order; an invalid one frees ``sampler`` (SamplerError)."""
    lc = lib()

    def add(step: Any) -> Any:
        if not step:
            sampler.free()
            raise SamplerError("invalid sampling options")
        lc.llama_sampler_chain_add(chain, step)
        return step

    if options.penalizes:
        sampler.penalties = add(
            lc.llama_sampler_init_penalties(
                n_vocab,
                options.penalty_window(n_ctx),
                options.repeat_penalty,
                options.frequency_penalty,
                options.presence_penalty,
            )
        )
    if options.temperature <= 0:
        add(lc.llama_sampler_init_greedy())
        return
    if options.top_k > 0:
        add(lc.llama_sampler_init_top_k(options.top_k))
    if 0 < options.typical_p < 1:
        add(lc.llama_sampler_init_typical(options.typical_p, 1))
    if 0 < options.top_p < 1:
        add(lc.llama_sampler_init_top_p(options.top_p, 1))
    if options.min_p > 0:
        add(lc.llama_sampler_init_min_p(options.min_p, 1))
    add(lc.llama_sampler_init_temp(options.temperature))
    seed = RANDOM_SEED if options.seed is None or options.seed < 0 else options.seed & 0xFFFFFFFF
    add(lc.llama_sampler_init_dist(seed))
