"""The engine's slots: which are free, and the tokens each one's KV cells still hold.

A finished sequence leaves its KV cells in its slot as a prompt cache; the next sequence admitted
is given the free slot whose cache shares the longest prefix with its prompt. Touched by the
decode thread only (and by the engine under its lock).
"""

from __future__ import annotations

from typing import Any

from ollama_gateway.backends.llama_cpp._lib import lib


class Slots:
    """``n`` slots over one llama.cpp memory (``mem``), each with its cached tokens."""

    def __init__(self, mem: Any, n: int, *, cache_prompt: bool) -> None:
        self._mem = mem
        self.cache_prompt = cache_prompt
        self.free: list[int] = list(range(n))
        self._cache: list[list[int]] = [[] for _ in range(n)]

    def take(self, prompt: list[int]) -> tuple[int, int]:
        """Take the best free slot for ``prompt`` and drop its cells past the shared prefix.

        Returns the slot and how many of the prompt's tokens its cache already holds.
        """
        slot, reuse = self.pick(prompt)
        lib().llama_memory_seq_rm(self._mem, slot, reuse, -1)
        self.free.remove(slot)
        self._cache[slot] = []
        return slot, reuse

    def pick(self, prompt: list[int]) -> tuple[int, int]:
        """The free slot whose cache shares the longest prefix with ``prompt``, and that length.

        Without a shared prefix: an empty slot, else the one freed longest ago.
        """
        empty = [slot for slot in self.free if not self._cache[slot]]
        best, best_len = (empty or self.free)[0], 0
        if self.cache_prompt:
            for slot in self.free:
                n = common_prefix(self._cache[slot], prompt)
                if n > best_len:
                    best, best_len = slot, n
        # At least the last prompt token is evaluated again: its logits start the generation.
        return best, min(best_len, len(prompt) - 1)

    def give_back(self, slot: int, tokens: list[int] | None) -> None:
        """``slot`` is free again; its cells stay as a cache of ``tokens``, or go when None."""
        if tokens is None:
            lib().llama_memory_seq_rm(self._mem, slot, -1, -1)
            self._cache[slot] = []
        else:
            self._cache[slot] = tokens
        if slot not in self.free:
            self.free.append(slot)

    def evict_idle(self) -> None:
        """Free the cells every idle slot keeps as a prompt cache."""
        for slot in self.free:
            if self._cache[slot]:
                lib().llama_memory_seq_rm(self._mem, slot, -1, -1)
                self._cache[slot] = []


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
