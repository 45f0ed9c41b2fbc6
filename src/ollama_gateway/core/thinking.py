"""Split a model's ``<think>...</think>`` reasoning out of its visible output, while streaming.

Tags may be cut across chunk boundaries at any position, so text that could be the start of a tag
is held back until the next piece decides it.
"""

from __future__ import annotations

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class ThinkSplitter:
    """Feed text pieces; get back ``(thinking, content)`` pieces.

    Reasoning is recognised only at the start of the output (after optional whitespace), as
    reasoning models write it; a model whose chat template already opened the tag is handled by
    ``started_inside=True``.
    """

    def __init__(self, started_inside: bool = False) -> None:
        self._state = "inside" if started_inside else "start"
        self._pending = ""

    def feed(self, text: str) -> tuple[str, str]:
        self._pending += text
        thinking, content = [], []
        while self._pending:
            if self._state == "start":
                stripped = self._pending.lstrip()
                if not stripped:
                    return "", ""  # only whitespace so far: undecided
                if stripped.startswith(OPEN_TAG):
                    self._pending = stripped[len(OPEN_TAG) :]
                    self._state = "inside"
                elif OPEN_TAG.startswith(stripped):
                    break  # could still become the tag
                else:
                    self._state = "content"
            elif self._state == "inside":
                at = self._pending.find(CLOSE_TAG)
                if at >= 0:
                    thinking.append(self._pending[:at])
                    self._pending = self._pending[at + len(CLOSE_TAG) :].lstrip()
                    self._state = "after"
                    continue
                keep = _partial_suffix(self._pending, CLOSE_TAG)
                thinking.append(self._pending[: len(self._pending) - keep])
                self._pending = self._pending[len(self._pending) - keep :]
                break
            elif self._state == "after":
                stripped = self._pending.lstrip()
                if not stripped:
                    self._pending = ""
                    break
                self._pending = stripped
                self._state = "content"
            else:
                content.append(self._pending)
                self._pending = ""
        return "".join(thinking), "".join(content)

    def flush(self) -> tuple[str, str]:
        """The held-back text at the end of the stream."""
        rest, self._pending = self._pending, ""
        if self._state == "inside":
            return rest, ""
        if self._state == "start":
            return "", rest
        return "", rest
