"""Embeddings from a loaded model: a second, small context with mean pooling.

Kept apart from the generation context so embedding never disturbs running generations. One
input at a time (a lock), each in its own cleared cache; vectors are L2-normalised as Ollama's
``/api/embed`` returns them.

A generative (causal) model reads a long input in chunks of :data:`CHUNK_TOKENS` tokens through
its KV cache and the mean of the per-token hidden states is taken here, which is what llama.cpp's
mean pooling computes over the whole input at once. Between two chunks, and between two inputs,
the embedder looks at the request's cancel flag: a request whose client left stops within one
chunk. A dedicated embedding model (its GGUF names a pooling type; these attend both ways, so the
input cannot be split) is evaluated in one piece, with the model's context as the bound.
"""

from __future__ import annotations

import math
import os
import threading
from typing import TYPE_CHECKING

import numpy as np

from ollama_gateway.backends.llama_cpp._lib import lib, take_errors
from ollama_gateway.backends.llama_cpp.model import Model
from ollama_gateway.errors import ContextTooLong, GatewayError, Unsupported

if TYPE_CHECKING:
    from ollama_gateway.backends.llama_cpp.loaded import LoadedModel
    from ollama_gateway.core.types import EmbedRequest

CHUNK_TOKENS = 256


class EmbedCancelled(Exception):
    """The embedding stopped because its request went away."""


class Embedder:
    """Blocking: call :meth:`embed` from a worker thread."""

    def __init__(self, model: Model, n_ctx: int, n_threads: int | None = None) -> None:
        lc = lib()
        self.model = model
        n_ctx = min(n_ctx, model.n_ctx_train) if model.n_ctx_train > 0 else n_ctx
        self.n_ctx = n_ctx
        self.chunked = model.meta(f"{model.architecture}.pooling_type") is None
        self.chunk = min(CHUNK_TOKENS, n_ctx) if self.chunked else n_ctx
        threads = n_threads or os.cpu_count() or 1
        params = lc.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = self.chunk
        params.n_ubatch = self.chunk
        params.n_seq_max = 1
        params.n_threads = threads
        params.n_threads_batch = threads
        params.embeddings = True
        if self.chunked:  # per-token states, pooled here across chunks
            params.pooling_type = lc.LLAMA_POOLING_TYPE_NONE
        else:
            params.pooling_type = lc.LLAMA_POOLING_TYPE_MEAN
        # The whole input is one micro-batch for a pooling model; flash attention keeps the
        # attention scores of a long input from taking n_ctx^2 memory per head.
        params.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_AUTO
        params.no_perf = True
        take_errors()
        ctx = lc.llama_init_from_model(model.handle, params)
        if not ctx:
            raise GatewayError("could not create an embedding context: " + "; ".join(take_errors()))
        self._ctx = ctx
        self._mem = lc.llama_get_memory(ctx)
        self._batch = lc.llama_batch_init(self.chunk, 0, 1)
        self._lock = threading.Lock()
        self._closed = False
        self.chunks_done = 0  # llama_decode calls made (tests, diagnostics)

    def tokens(self, text: str, truncate: bool) -> list[int]:
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
        return tokens

    def embed(
        self, text: str, *, truncate: bool = True, cancel: threading.Event | None = None
    ) -> tuple[list[float], int]:
        """The normalised embedding of ``text`` and its token count.

        Raises :class:`EmbedCancelled` between chunks once ``cancel`` is set.
        """
        tokens = self.tokens(text, truncate)
        with self._lock:
            if self._closed:
                raise GatewayError("the model was unloaded")
            lib().llama_memory_clear(self._mem, True)
            total = np.zeros(self.model.n_embd, dtype=np.float64)
            for start in range(0, len(tokens), self.chunk):
                if cancel is not None and cancel.is_set():
                    raise EmbedCancelled
                total += self._decode(tokens[start : start + self.chunk], start)
        if self.chunked:
            total /= len(tokens)
        norm = math.sqrt(float(np.dot(total, total))) or 1.0
        return (total / norm).tolist(), len(tokens)

    def _decode(self, tokens: list[int], start: int) -> np.ndarray:
        """Evaluate ``tokens`` at positions from ``start``: the sum of their states (chunked),
        or the pooled vector of the whole input."""
        lc = lib()
        batch = self._batch
        for i, token in enumerate(tokens):
            batch.token[i] = token
            batch.pos[i] = start + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = True
        batch.n_tokens = len(tokens)
        rc = lc.llama_decode(self._ctx, batch)
        self.chunks_done += 1
        if rc != 0:
            raise GatewayError(f"embedding failed: llama_decode returned {rc}")
        n_embd = self.model.n_embd
        if self.chunked:
            ptr = lc.llama_get_embeddings(self._ctx)
            rows = len(tokens)
        else:
            ptr = lc.llama_get_embeddings_seq(self._ctx, 0)
            rows = 1
        if not ptr:
            raise GatewayError("embedding failed: no output")
        states = np.ctypeslib.as_array(ptr, shape=(rows * n_embd,)).reshape(rows, n_embd)
        return states.sum(axis=0, dtype=np.float64)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            lc = lib()
            lc.llama_batch_free(self._batch)
            lc.llama_free(self._ctx)


def embed_inputs(
    loaded: LoadedModel, request: EmbedRequest, cancel: threading.Event
) -> tuple[list[list[float]], int]:
    """Blocking: the inputs' vectors and their token count, one input after the other (cancel
    is checked between inputs and between chunks of one input)."""
    with loaded.lease():
        embedder = loaded.get_embedder()
        vectors: list[list[float]] = []
        total = 0
        for text in request.inputs:
            if cancel.is_set():
                raise EmbedCancelled
            vector, count = embedder.embed(text, truncate=request.truncate, cancel=cancel)
            if request.dimensions:
                vector = shorten(vector, request.dimensions)
            vectors.append(vector)
            total += count
    return vectors, total


def shorten(vector: list[float], dimensions: int) -> list[float]:
    """The first ``dimensions`` values, normalised again (Ollama's ``dimensions``)."""
    if dimensions <= 0:
        raise Unsupported("dimensions must be a positive number")
    head = vector[:dimensions]
    norm = sum(v * v for v in head) ** 0.5 or 1.0
    return [v / norm for v in head]
