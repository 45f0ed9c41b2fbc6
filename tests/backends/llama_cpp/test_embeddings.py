"""Embeddings of a long input, read in chunks, are llama.cpp's own mean pooling of the whole."""

from __future__ import annotations

import math

import pytest

from ollama_gateway.backends.llama_cpp._lib import lib
from ollama_gateway.backends.llama_cpp.embeddings import CHUNK_TOKENS, EmbedCancelled, Embedder

TEXT = " ".join(f"hello world {i} the cat sat on the mat." for i in range(120))


def pooled_by_llama_cpp(model, tokens: list[int]) -> list[float]:
    """The whole input in one batch, mean-pooled by llama.cpp (the reference)."""
    lc = lib()
    params = lc.llama_context_default_params()
    params.n_ctx = params.n_batch = params.n_ubatch = len(tokens)
    params.n_seq_max = 1
    params.n_threads = params.n_threads_batch = 1
    params.embeddings = True
    params.pooling_type = lc.LLAMA_POOLING_TYPE_MEAN
    ctx = lc.llama_init_from_model(model.handle, params)
    batch = lc.llama_batch_init(len(tokens), 0, 1)
    try:
        for i, token in enumerate(tokens):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, i, 1
            batch.seq_id[i][0], batch.logits[i] = 0, True
        batch.n_tokens = len(tokens)
        assert lc.llama_decode(ctx, batch) == 0
        ptr = lc.llama_get_embeddings_seq(ctx, 0)
        vector = [float(ptr[i]) for i in range(model.n_embd)]
    finally:
        lc.llama_batch_free(batch)
        lc.llama_free(ctx)
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector]


def test_chunked_mean_is_llama_cpps_mean_pooling(tiny_model):
    embedder = Embedder(tiny_model, 2048, 1)
    try:
        assert embedder.chunked
        tokens = embedder.tokens(TEXT, truncate=True)
        assert len(tokens) > 2 * CHUNK_TOKENS  # several chunks
        vector, count = embedder.embed(TEXT)
        assert count == len(tokens)
        assert embedder.chunks_done == -(-len(tokens) // CHUNK_TOKENS)
        reference = pooled_by_llama_cpp(tiny_model, tokens)
        assert sum(a * b for a, b in zip(vector, reference, strict=True)) > 0.99999
        assert max(abs(a - b) for a, b in zip(vector, reference, strict=True)) < 1e-4
    finally:
        embedder.close()


def test_a_cancelled_embedding_stops_between_chunks(tiny_model):
    import threading

    embedder = Embedder(tiny_model, 2048, 1)
    try:
        cancel = threading.Event()
        cancel.set()
        with pytest.raises(EmbedCancelled):
            embedder.embed(TEXT, cancel=cancel)
        assert embedder.chunks_done == 0
    finally:
        embedder.close()
