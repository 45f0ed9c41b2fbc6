"""Embeddings from a loaded model: a second, small context with mean pooling.

Kept apart from the generation context so embedding never disturbs running generations. One
input at a time (a lock), each in its own cleared cache; vectors are L2-normalised as Ollama's
``/api/embed`` returns them.
"""

from __future__ import annotations

import math
import os
import threading

from ollama_gateway.backends.llama_cpp._lib import lib, take_errors
from ollama_gateway.backends.llama_cpp.model import Model
from ollama_gateway.errors import ContextTooLong, GatewayError


class Embedder:
    """Blocking: call :meth:`embed` from a worker thread."""

    def __init__(self, model: Model, n_ctx: int, n_threads: int | None = None) -> None:
        lc = lib()
        self.model = model
        n_ctx = min(n_ctx, model.n_ctx_train) if model.n_ctx_train > 0 else n_ctx
        self.n_ctx = n_ctx
        threads = n_threads or os.cpu_count() or 1
        params = lc.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_ctx
        params.n_ubatch = n_ctx
        params.n_seq_max = 1
        params.n_threads = threads
        params.n_threads_batch = threads
        params.embeddings = True
        params.pooling_type = lc.LLAMA_POOLING_TYPE_MEAN
        # The whole input is one micro-batch (pooling needs it); flash attention keeps the
        # attention scores of a long input from taking n_ctx^2 memory per head.
        params.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_AUTO
        params.no_perf = True
        take_errors()
        ctx = lc.llama_init_from_model(model.handle, params)
        if not ctx:
            raise GatewayError("could not create an embedding context: " + "; ".join(take_errors()))
        self._ctx = ctx
        self._mem = lc.llama_get_memory(ctx)
        self._batch = lc.llama_batch_init(n_ctx, 0, 1)
        self._lock = threading.Lock()
        self._closed = False

    def embed(self, text: str, *, truncate: bool = True) -> tuple[list[float], int]:
        """The normalised embedding of ``text`` and its token count."""
        tokens = self.model.tokenize(text, add_special=True, parse_special=False)
        if not tokens:
            tokens = [self.model.bos if self.model.bos >= 0 else 0]
        if len(tokens) > self.n_ctx:
            if not truncate:
                raise ContextTooLong(
                    f"the input is {len(tokens)} tokens, longer than the context window of "
                    f"{self.n_ctx} tokens"
                )
            tokens = tokens[: self.n_ctx]
        lc = lib()
        with self._lock:
            if self._closed:
                raise GatewayError("the model was unloaded")
            lc.llama_memory_clear(self._mem, True)
            batch = self._batch
            for i, token in enumerate(tokens):
                batch.token[i] = token
                batch.pos[i] = i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = True
            batch.n_tokens = len(tokens)
            rc = lc.llama_decode(self._ctx, batch)
            if rc != 0:
                raise GatewayError(f"embedding failed: llama_decode returned {rc}")
            ptr = lc.llama_get_embeddings_seq(self._ctx, 0)
            if not ptr:
                raise GatewayError("embedding failed: no pooled output")
            vector = [float(ptr[i]) for i in range(self.model.n_embd)]
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector], len(tokens)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            lc = lib()
            lc.llama_batch_free(self._batch)
            lc.llama_free(self._ctx)
