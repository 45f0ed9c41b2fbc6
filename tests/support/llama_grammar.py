"""llama.cpp's own grammar engine, on a real model's vocabulary: does it compile a grammar, and
does it accept a text token by token and then allow the end of generation?"""

from __future__ import annotations

import ctypes
import math
from pathlib import Path

from ollama_gateway.backends.llama_cpp._lib import lib


class LlamaGrammar:
    def __init__(self, model_path: Path) -> None:
        lc = lib()
        params = lc.llama_model_default_params()
        params.vocab_only = True
        self.model = lc.llama_model_load_from_file(str(model_path).encode(), params)
        assert self.model, f"cannot load {model_path}"
        self.vocab = lc.llama_model_get_vocab(self.model)
        self.eos = lc.llama_vocab_eos(self.vocab)

    def close(self) -> None:
        lib().llama_model_free(self.model)

    def _init(self, grammar: str):
        return lib().llama_sampler_init_grammar(self.vocab, grammar.encode(), b"root")

    def compiles(self, grammar: str) -> bool:
        sampler = self._init(grammar)
        if not sampler:
            return False
        lib().llama_sampler_free(sampler)
        return True

    def tokenize(self, text: str) -> list[int]:
        lc = lib()
        data = text.encode()
        buf = (lc.llama_token * (len(data) + 8))()
        n = lc.llama_tokenize(self.vocab, data, len(data), buf, len(buf), False, False)
        assert n >= 0
        return list(buf[:n])

    def _allowed(self, sampler, token: int) -> bool:
        lc = lib()
        data = (lc.llama_token_data * 1)()
        data[0].id, data[0].logit, data[0].p = token, 0.0, 0.0
        array = lc.llama_token_data_array(data, 1, -1, False)
        lc.llama_sampler_apply(sampler, ctypes.byref(array))
        return not math.isinf(data[0].logit)

    def accepts(self, grammar: str, text: str) -> bool:
        """Whether ``text`` is a complete output of ``grammar`` (then only the end may follow)."""
        lc = lib()
        sampler = self._init(grammar)
        assert sampler, "the grammar does not compile"
        try:
            for token in self.tokenize(text):
                if not self._allowed(sampler, token):
                    return False
                lc.llama_sampler_accept(sampler, token)
            return self._allowed(sampler, self.eos)
        finally:
            lc.llama_sampler_free(sampler)
