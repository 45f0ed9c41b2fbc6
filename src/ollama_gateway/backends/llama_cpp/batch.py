"""One decode step's ``llama_batch``: which tokens of which sequences go in, and what each
sequence records once llama_decode has taken them.

Each sequence that sampled a token last step feeds that token first; then newly admitted prompts
are fed in chunks, up to ``budget`` tokens in all. A sequence whose last prompt token (or pending
token) is in the batch asks for logits and records where they are (``batch_index``).
"""

from __future__ import annotations

from typing import Any

from ollama_gateway.backends.llama_cpp.sequence import Sequence

Fed = list[tuple[Sequence, int]]  # (sequence, tokens it fed this step)


def fill(batch: Any, seqs: list[Sequence], budget: int) -> tuple[int, Fed]:
    """Put the step's tokens into ``batch``; how many, and which sequences fed how many."""
    n = 0
    fed: Fed = []
    for seq in seqs:
        seq.batch_index = -1
        if seq.pending is not None:
            _put(batch, n, seq.pending, len(seq.kv_tokens), seq.slot, True)
            seq.batch_index = n
            fed.append((seq, 1))
            n += 1
    for seq in seqs:
        if n >= budget:
            break
        if seq.pending is None and seq.prompt_left > 0:
            take = min(budget - n, seq.prompt_left)
            start = seq.n_prompt_done
            for k in range(start, start + take):
                last = k == len(seq.prompt) - 1
                _put(batch, n, seq.prompt[k], k, seq.slot, last)
                if last:
                    seq.batch_index = n
                n += 1
            fed.append((seq, take))
    return n, fed


def commit(fed: Fed) -> None:
    """llama_decode took the batch: the fed tokens are in the KV cache now."""
    for seq, count in fed:
        if seq.pending is not None:
            seq.kv_tokens.append(seq.pending)
            seq.pending = None
        else:
            seq.kv_tokens.extend(seq.prompt[seq.n_prompt_done : seq.n_prompt_done + count])
            seq.n_prompt_done += count


def _put(batch: Any, i: int, token: int, pos: int, seq_id: int, logits: bool) -> None:
    batch.token[i] = token
    batch.pos[i] = pos
    batch.n_seq_id[i] = 1
    batch.seq_id[i][0] = seq_id
    batch.logits[i] = logits
