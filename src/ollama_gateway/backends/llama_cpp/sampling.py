"""Per-sequence sampling options and the llama.cpp sampler chain built from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ollama_gateway.backends.llama_cpp._lib import lib
from ollama_gateway.backends.llama_cpp.grammar_check import check_grammar

RANDOM_SEED = 0xFFFFFFFF  # LLAMA_DEFAULT_SEED: llama.cpp draws a random seed


@dataclass(slots=True)
class SamplingOptions:
    """How one sequence samples and when it stops (Ollama's defaults).

    ``num_predict``: most tokens to generate (``None`` = until end of text or the context is
    full). ``seed``: ``None`` or negative = random. ``temperature`` <= 0 = greedy. ``grammar``:
    a GBNF grammar the output must follow (``format: json``).
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
    extra: dict[str, Any] = field(default_factory=dict)

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

    Only ``chain`` is freed (``llama_sampler_free``); it owns ``penalties``. The prompt must
    never be accepted into the whole chain: a grammar sampler would reject it (and abort).
    """

    chain: Any
    penalties: Any = None

    def accept_history(self, tokens: list[int]) -> None:
        if self.penalties is not None:
            accept = lib().llama_sampler_accept
            for token in tokens:
                accept(self.penalties, token)

    def free(self) -> None:
        if self.chain is not None:
            lib().llama_sampler_free(self.chain)
            self.chain = self.penalties = None


def build_sampler(options: SamplingOptions, vocab: Any, n_vocab: int, n_ctx: int) -> Sampler:
    """A new sampler for ``options``; the caller calls :meth:`Sampler.free`.

    The order is llama.cpp's own (common/sampling): grammar, penalties, top-k, typical, top-p,
    min-p, temperature, then the seeded distribution (or greedy at temperature 0). The grammar
    is checked first (:func:`~.grammar_check.check_grammar`: BadRequest when over a limit).
    Blocking (compiling a grammar takes a while): call it from a worker thread.
    """
    if options.grammar:
        check_grammar(options.grammar)
    lc = lib()
    params = lc.llama_sampler_chain_default_params()
    params.no_perf = True
    chain = lc.llama_sampler_chain_init(params)

    def add(sampler: Any) -> None:
        if not sampler:
            lc.llama_sampler_free(chain)
            raise SamplerError("invalid sampling options")
        lc.llama_sampler_chain_add(chain, sampler)

    if options.grammar:
        grammar = lc.llama_sampler_init_grammar(vocab, options.grammar.encode(), b"root")
        if not grammar:
            lc.llama_sampler_free(chain)
            raise SamplerError("the output format could not be compiled into a grammar")
        lc.llama_sampler_chain_add(chain, grammar)
    sampler = Sampler(chain)
    if options.penalizes:
        penalties = lc.llama_sampler_init_penalties(
            n_vocab,
            options.penalty_window(n_ctx),
            options.repeat_penalty,
            options.frequency_penalty,
            options.presence_penalty,
        )
        add(penalties)
        sampler.penalties = penalties
    if options.temperature <= 0:
        add(lc.llama_sampler_init_greedy())
        return sampler
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
    return sampler
