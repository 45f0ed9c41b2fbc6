"""The engine's native resources: its sizing (:class:`EngineConfig`), one llama.cpp context with
a unified KV cache for ``n_parallel`` sequences, and the ``llama_batch`` each step fills.

Created and freed in worker threads; :meth:`Context.free` only once the decode thread is gone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ollama_gateway.backends.llama_cpp._lib import lib, take_errors
from ollama_gateway.backends.llama_cpp.model import Model
from ollama_gateway.errors import GatewayError


@dataclass(slots=True)
class EngineConfig:
    """Context sizing: ``n_ctx`` tokens per sequence, ``n_parallel`` sequences at once."""

    n_ctx: int = 4096
    n_parallel: int = 4
    n_threads: int | None = None
    n_batch: int = 512
    cache_prompt: bool = True
    # llama.cpp's CPU flash attention sums in a different order for a batch than for a single
    # row, so a sequence's output would depend on what else runs with it; without it, each
    # sequence gets the very tokens it would get alone. -1 auto, 0 off, 1 on.
    flash_attn: int = 0


class EngineError(GatewayError):
    """llama.cpp failed while decoding."""


class Context:
    """A llama.cpp context for ``model`` sized by ``config``, its memory and its batch.

    ``n_ctx``: tokens per sequence (at most what the model was trained on); ``capacity``: tokens
    one batch holds. Every sequence may use up to ``n_ctx`` cells of the unified cache.
    """

    def __init__(self, model: Model, config: EngineConfig) -> None:
        lc = lib()
        self.n_parallel = max(1, config.n_parallel)
        n_ctx = max(16, config.n_ctx)
        if model.n_ctx_train > 0:
            n_ctx = min(n_ctx, model.n_ctx_train)
        self.n_ctx = n_ctx
        self.capacity = max(config.n_batch, self.n_parallel)
        threads = config.n_threads or os.cpu_count() or 1
        params = lc.llama_context_default_params()
        params.n_ctx = n_ctx * self.n_parallel
        params.n_batch = self.capacity
        params.n_ubatch = min(self.capacity, 512)
        params.n_seq_max = self.n_parallel
        params.n_threads = threads
        params.n_threads_batch = threads
        params.kv_unified = True
        params.flash_attn_type = config.flash_attn
        params.no_perf = True
        take_errors()
        ctx = lc.llama_init_from_model(model.handle, params)
        if not ctx:
            errors = take_errors()
            raise EngineError("could not create a llama.cpp context: " + ("; ".join(errors) or "?"))
        self.ctx = ctx
        self.mem = lc.llama_get_memory(ctx)
        self.batch = lc.llama_batch_init(self.capacity, 0, 1)

    def free(self) -> None:
        lc = lib()
        lc.llama_batch_free(self.batch)
        lc.llama_free(self.ctx)
