"""Log-probabilities of generated tokens (``logprobs`` / ``top_logprobs`` on both APIs).

For each generated token: the log-softmax of the logits the sampler was given (the model's own
distribution over the whole vocabulary, before penalties, temperature, truncation or a grammar,
as Ollama and llama.cpp's server report by default), of the sampled token and of the ``top``
most likely tokens, each with its text and bytes. Computed on the decode thread, only for the
sequences that asked; numpy over one row of logits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

MAX_TOP_LOGPROBS = 20


def _entry(token: int, logprob: float, piece: Callable[[int], bytes]) -> dict[str, Any]:
    data = piece(token)
    return {
        "token": data.decode("utf-8", errors="replace"),
        "logprob": logprob,
        "bytes": list(data),
    }


def token_logprobs(
    logits: np.ndarray, token: int, top: int, piece: Callable[[int], bytes]
) -> dict[str, Any]:
    """``{"token", "logprob", "bytes", "top_logprobs": [...]}`` for ``token`` sampled from one
    row of ``logits``; ``top_logprobs`` (only when ``top`` > 0, as Ollama writes it) holds the
    ``top`` most likely, best first."""
    row = logits
    peak = float(row.max())
    # exp in float32 (the logits' own precision), summed in float64
    log_total = peak + float(np.log(np.exp(row - np.float32(peak)).sum(dtype=np.float64)))
    entry = _entry(token, float(row[token]) - log_total, piece)
    count = min(top, MAX_TOP_LOGPROBS, row.size)
    if count > 0:
        cut = row[np.argpartition(row, row.size - count)[row.size - count :]].min()
        best = np.flatnonzero(row >= cut)  # ties at the cut included, then
        best = best[np.lexsort((best, -row[best]))][:count]  # by logit, then by id
        entry["top_logprobs"] = [_entry(int(i), float(row[i]) - log_total, piece) for i in best]
    return entry
