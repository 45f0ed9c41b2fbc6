"""Token bytes to safe text chunks: whole UTF-8 characters, stop sequences held back.

A token can end in the middle of a multi-byte character (byte-fallback tokens carry one byte
each), and a stop sequence can arrive split over several tokens. :class:`TextStream` turns the
bytes of each sampled token into text that is safe to send at once: never half a character and
never a prefix of a stop sequence that may still complete. Bytes that are not valid UTF-8 become
U+FFFD, as Ollama and llama-server print them.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence


class TextStream:
    """Incremental detokenizer for one sequence.

    ``push(data)`` returns ``(text, stopped)``: the text that may be emitted now and whether a
    stop sequence was found (the text before it is returned; the stop sequence and anything
    after it are dropped). ``flush()`` returns what is held back once generation ends for any
    other reason.
    """

    def __init__(self, stop: Sequence[str] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stop = tuple(s for s in stop if s)
        self._held = ""
        self.stopped = False

    def push(self, data: bytes) -> tuple[str, bool]:
        if self.stopped:
            return "", True
        text = self._held + self._decoder.decode(data)
        if not self._stop:
            self._held = ""
            return text, False
        cut = _first_stop(text, self._stop)
        if cut is not None:
            self._held = ""
            self.stopped = True
            return text[:cut], True
        keep = _partial_stop_suffix(text, self._stop)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep], False

    def flush(self) -> str:
        """Everything still held: an incomplete character becomes U+FFFD."""
        if self.stopped:
            return ""
        text = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        cut = _first_stop(text, self._stop) if self._stop else None
        if cut is not None:
            self.stopped = True
            return text[:cut]
        return text


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    """Index of the earliest full stop sequence in ``text``."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


def _partial_stop_suffix(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of a stop sequence."""
    best = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:n]):
                best = n
                break
    return best
