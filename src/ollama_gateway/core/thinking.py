"""Split a model's ``<think>...</think>`` reasoning out of its visible output, while streaming.

Reasoning models (DeepSeek-R1 and its distillations, QwQ, Qwen3) write their reasoning first,
between ``<think>`` and ``</think>``, then the answer. The pieces a backend yields are cut at
token boundaries, so a tag may arrive split across any number of pieces (``<th`` + ``ink>``):
text that could still become a tag is held back until the next piece decides it, and nothing
else is delayed.

Some chat templates (DeepSeek-R1's in several versions) end the prompt with ``<think>\\n``
themselves; the model's output then begins inside the reasoning with no opening tag. The
backend says so on its first chunk (``Chunk.starts_in_thinking``) and the splitter starts with
``started_inside=True``.

Whitespace is handled as Ollama's parser does: whitespace around the reasoning (after
``<think>``, before and after ``</think>``) is dropped, so
``<think>\\nWhy?\\n</think>\\n\\nBecause.`` gives the reasoning ``Why?`` and the answer
``Because.``. Whitespace inside the reasoning is held back only until more text shows it is not
the end.
"""

from __future__ import annotations

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"

# States of the splitter.
_START = 0  # nothing decided yet: leading whitespace, or a possible opening tag
_THINK_START = 1  # just inside the reasoning: dropping leading whitespace
_THINKING = 2  # inside the reasoning
_AFTER = 3  # just after the closing tag: dropping whitespace before the answer
_CONTENT = 4  # the answer (or an output that never had reasoning): passed through


def partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``.

    >>> partial_suffix("abc</thi", "</think>"), partial_suffix("abc", "</think>")
    (5, 0)
    >>> partial_suffix("<", "</think>"), partial_suffix("a</think", "</think>")
    (1, 7)
    """
    start = text.rfind(tag[0], max(0, len(text) - len(tag) + 1))
    while start >= 0:
        if tag.startswith(text[start:]):
            return len(text) - start
        start = text.find(tag[0], start + 1)
    return 0


def prompt_opens_thinking(prompt: str) -> bool:
    """Whether a rendered prompt leaves the model inside its reasoning (for backends to set
    ``Chunk.starts_in_thinking`` on their first chunk).

    >>> prompt_opens_thinking("User: 1+1?\\nAssistant: <think>\\n")
    True
    >>> prompt_opens_thinking("<think>\\n\\n</think>\\n\\n"), prompt_opens_thinking("Hi")
    (False, False)
    """
    return prompt.rstrip().endswith(OPEN_TAG)


class ThinkSplitter:
    """Feed text pieces; get back ``(thinking, content)`` pieces.

    Reasoning is recognised only at the start of the output (after optional whitespace), as
    reasoning models write it; a ``<think>`` later in an answer is part of the answer. Call
    :meth:`flush` once at the end for anything still held back.

    >>> s = ThinkSplitter()
    >>> [s.feed(piece) for piece in ["<th", "ink>\\nHm", "m.</th", "ink>\\n\\nYes."]]
    [('', ''), ('Hm', ''), ('m.', ''), ('', 'Yes.')]
    >>> s.flush()
    ('', '')
    """

    __slots__ = ("_pending", "_state")

    def __init__(self, started_inside: bool = False) -> None:
        self._state = _THINK_START if started_inside else _START
        self._pending = ""

    @property
    def in_thinking(self) -> bool:
        """Whether the output is (as far as seen) inside the reasoning."""
        return self._state in (_THINK_START, _THINKING)

    def feed(self, text: str) -> tuple[str, str]:
        """Split one piece; returns what can be released now as ``(thinking, content)``."""
        if self._state == _CONTENT:  # the hot path once the answer has begun
            if self._pending:
                text, self._pending = self._pending + text, ""
            return "", text
        if not text:
            return "", ""
        pending = self._pending + text
        self._pending = ""
        thinking = ""
        content = ""
        while pending:
            state = self._state
            if state == _START:
                stripped = pending.lstrip()
                if not stripped:
                    self._pending = pending  # only whitespace so far: undecided
                    break
                if stripped.startswith(OPEN_TAG):
                    pending = stripped[len(OPEN_TAG) :]
                    self._state = _THINK_START
                elif OPEN_TAG.startswith(stripped):
                    self._pending = pending  # could still become the tag
                    break
                else:
                    self._state = _CONTENT  # no reasoning: the raw text, whitespace included
            elif state == _THINK_START:
                pending = pending.lstrip()
                if pending:
                    self._state = _THINKING
            elif state == _THINKING:
                at = pending.find(CLOSE_TAG)
                if at >= 0:
                    thinking += pending[:at].rstrip()
                    pending = pending[at + len(CLOSE_TAG) :]
                    self._state = _AFTER
                    continue
                # hold back what may still be the closing tag, and the whitespace before it
                released = pending[: len(pending) - partial_suffix(pending, CLOSE_TAG)].rstrip()
                thinking += released
                self._pending = pending[len(released) :]
                break
            elif state == _AFTER:
                pending = pending.lstrip()
                if pending:
                    self._state = _CONTENT
            else:
                content += pending
                break
        return thinking, content

    def flush(self) -> tuple[str, str]:
        """What is still held back at the end of the output, as ``(thinking, content)``."""
        rest, self._pending = self._pending, ""
        if self._state in (_THINK_START, _THINKING):
            return rest, ""  # reasoning that never closed (e.g. cut by num_predict)
        if self._state == _AFTER:
            return "", ""
        return "", rest  # an output that was only whitespace or the start of a tag
