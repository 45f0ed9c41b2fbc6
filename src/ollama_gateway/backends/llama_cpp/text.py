"""Token bytes to safe text chunks: whole UTF-8 characters, stop sequences held back.

A token can end in the middle of a multi-byte character (byte-fallback tokens carry one byte
each), and a stop sequence can arrive split over several tokens. :class:`TextStream` turns the
bytes of each sampled token into text that is safe to send at once: never half a character and
never a prefix of a stop sequence that may still complete. Bytes that are not valid UTF-8 become
U+FFFD, as Ollama and llama-server print them.

Stop sequences are found with an Aho-Corasick automaton (:class:`StopMatcher`), so the Python
work per token does not grow with the number of stop strings (which is bounded anyway:
``backends/llama_cpp/options.py``).
"""

from __future__ import annotations

import codecs
import functools
from collections.abc import Sequence


class StopMatcher:
    """An Aho-Corasick automaton over the stop strings: text is fed one character at a time and
    the cost per character does not depend on how many stop strings there are.

    A state stands for the longest suffix of the text read so far that is a prefix of some stop
    string; ``depth[state]`` is its length (what must be held back) and ``found[state]`` the
    length of the longest stop string ending there (0: none). Immutable once built; one matcher
    may serve many streams at once (see :func:`stop_matcher`).
    """

    __slots__ = ("depth", "fail", "found", "goto")

    def __init__(self, stops: Sequence[str]) -> None:
        self.goto: list[dict[str, int]] = [{}]
        self.depth = [0]
        self.found = [0]
        for stop in stops:
            state = 0
            for ch in stop:
                nxt = self.goto[state].get(ch)
                if nxt is None:
                    nxt = len(self.goto)
                    self.goto[state][ch] = nxt
                    self.goto.append({})
                    self.depth.append(self.depth[state] + 1)
                    self.found.append(0)
                state = nxt
            self.found[state] = max(self.found[state], len(stop))
        self.fail = [0] * len(self.goto)
        order = list(self.goto[0].values())  # breadth first: a state's fail link is shallower
        for state in order:
            for ch, child in self.goto[state].items():
                order.append(child)
                if state:
                    self.fail[child] = self.next(self.fail[state], ch)
                self.found[child] = max(self.found[child], self.found[self.fail[child]])

    def next(self, state: int, ch: str) -> int:
        goto, fail = self.goto, self.fail
        while True:
            nxt = goto[state].get(ch)
            if nxt is not None:
                return nxt
            if state == 0:
                return 0
            state = fail[state]


@functools.lru_cache(maxsize=64)
def stop_matcher(stops: tuple[str, ...]) -> StopMatcher:
    """The (shared, cached) matcher of ``stops``: a model's stop strings come with every request."""
    return StopMatcher(stops)


class TextStream:
    """Incremental detokenizer for one sequence.

    ``push(data)`` returns ``(text, stopped)``: the text that may be emitted now and whether a
    stop sequence was found (the text before it is returned; the stop sequence and anything
    after it are dropped). ``flush()`` returns what is held back once generation ends for any
    other reason.
    """

    def __init__(self, stop: Sequence[str] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = tuple(s for s in stop if s)
        self._matcher = stop_matcher(stops) if stops else None
        self._state = 0
        self._held = ""
        self.stopped = False

    def push(self, data: bytes) -> tuple[str, bool]:
        if self.stopped:
            return "", True
        new = self._decoder.decode(data)
        if self._matcher is None:
            return new, False
        return self._scan(new)

    def flush(self) -> str:
        """Everything still held: an incomplete character becomes U+FFFD."""
        if self.stopped:
            return ""
        new = self._decoder.decode(b"", final=True)
        if self._matcher is None:
            return new
        text, stopped = self._scan(new)
        if stopped:
            return text
        text, self._held = text + self._held, ""
        return text

    def _scan(self, new: str) -> tuple[str, bool]:
        """Feed ``new``: the text that is safe to emit, and whether a stop sequence ended it.

        Of several stop sequences completed by ``new``, the one that starts first wins.
        """
        matcher = self._matcher
        assert matcher is not None
        text = self._held + new
        state, found, step = self._state, matcher.found, matcher.next
        cut = -1
        for pos in range(len(self._held), len(text)):
            state = step(state, text[pos])
            if found[state]:
                start = pos + 1 - found[state]
                cut = start if cut < 0 else min(cut, start)
        if cut >= 0:
            self._held = ""
            self.stopped = True
            return text[:cut], True
        self._state = state
        keep = matcher.depth[state]
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep], False
