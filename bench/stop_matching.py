"""Stop-sequence matching per token: the Aho-Corasick TextStream vs. a search per stop string.

The baseline is what ``backends/llama_cpp/text.py`` did before: for each token, ``str.find``
of every stop string in the held text, then every prefix of every stop string against its end.
Both run in this process over the same token pieces and the same stop lists, so the ratio is
what to read (the decode thread pays this for every generated token of every request).

    python bench/stop_matching.py            # options: --tokens 2000 --repeat 3
"""

from __future__ import annotations

import argparse
import codecs
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ollama_gateway.backends.llama_cpp.text import TextStream


class NaiveStream:
    """The previous algorithm: O(number of stops x their length) of Python per token."""

    def __init__(self, stop: list[str]) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stop = tuple(s for s in stop if s)
        self._held = ""

    def push(self, data: bytes) -> tuple[str, bool]:
        text = self._held + self._decoder.decode(data)
        found = [i for i in (text.find(s) for s in self._stop) if i >= 0]
        if found:
            return text[: min(found)], True
        best = 0
        for stop in self._stop:
            for n in range(min(len(stop) - 1, len(text)), best, -1):
                if text.endswith(stop[:n]):
                    best = n
                    break
        self._held = text[len(text) - best :] if best else ""
        return text[: len(text) - best], False


def pieces(n: int) -> list[bytes]:
    words = ("the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and", "then")
    return [(" " + words[i % len(words)]).encode() for i in range(n)]


def per_token_us(make, tokens: list[bytes], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        stream = make()
        start = time.perf_counter()
        for piece in tokens:
            stream.push(piece)
        best = min(best, time.perf_counter() - start)
    return best / len(tokens) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tokens = pieces(args.tokens)
    print(f"# {' '.join(sys.argv)}")
    header = ("stops", "length", "naive us/token", "automaton us/token", "ratio")
    print("{:>6} {:>6} {:>15} {:>19} {:>7}".format(*header))
    for count, length in ((1, 8), (4, 16), (32, 512), (1000, 64)):
        stops = [(f"<stop-{i}>" * length)[:length] for i in range(count)]
        naive = per_token_us(lambda s=stops: NaiveStream(s), tokens, args.repeat)
        auto = per_token_us(lambda s=stops: TextStream(s), tokens, args.repeat)
        print(f"{count:>6} {length:>6} {naive:>15.2f} {auto:>19.2f} {naive / auto:>6.1f}x")


if __name__ == "__main__":
    main()
