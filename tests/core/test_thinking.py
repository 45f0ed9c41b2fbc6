"""The reasoning splitter, exhaustively: every way a backend could cut the output into pieces."""

from __future__ import annotations

import doctest
import itertools

import pytest

from ollama_gateway.core import thinking
from ollama_gateway.core.thinking import ThinkSplitter

# (output as the model writes it, started_inside, expected thinking, expected content)
CASES = [
    ("<think>\nLet me think.\n</think>\n\nAnswer.", False, "Let me think.", "Answer."),
    ("<think>Hm</think>Yes", False, "Hm", "Yes"),
    ("  \n<think> a < b </think> c", False, "a < b", "c"),
    ("<think>\n\n</think>\n\nHello", False, "", "Hello"),  # thinking switched off
    ("<think>never closed", False, "never closed", ""),  # cut by num_predict
    ("<think>x</thinkk>y</think>z", False, "x</thinkk>y", "z"),
    ("<think>a</think>b <think>c</think>", False, "a", "b <think>c</think>"),
    ("Plain answer, no reasoning.", False, "", "Plain answer, no reasoning."),
    ("  leading spaces kept", False, "", "  leading spaces kept"),
    ("<thin", False, "", "<thin"),  # the start of a tag that never completed
    ("<thinking>not a tag", False, "", "<thinking>not a tag"),
    ("<b>bold</b>", False, "", "<b>bold</b>"),
    ("", False, "", ""),
    ("   ", False, "", "   "),
    # the chat template opened the tag: the output starts inside the reasoning
    ("Reasoning here.\n</think>\n\nAnswer.", True, "Reasoning here.", "Answer."),
    ("\nR</think>A", True, "R", "A"),
    ("</think>A", True, "", "A"),
    ("only reasoning", True, "only reasoning", ""),
    ("R <</think>A", True, "R <", "A"),
    ("<think>one\n\ntwo \n</think>x", False, "one\n\ntwo", "x"),  # inner whitespace kept
    ("<think>cut off \n", False, "cut off \n", ""),  # never closed: all of it
    ("<think>\n\n\n", False, "", ""),
]


def _run(pieces: list[str], started_inside: bool) -> tuple[str, str]:
    splitter = ThinkSplitter(started_inside=started_inside)
    thinking, content = [], []
    for piece in pieces:
        t, c = splitter.feed(piece)
        thinking.append(t)
        content.append(c)
    t, c = splitter.flush()
    return "".join(thinking) + t, "".join(content) + c


def _splits(text: str, cuts: int):
    for points in itertools.combinations(range(1, len(text)), cuts):
        bounds = (0, *points, len(text))
        yield [text[a:b] for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize(("output", "inside", "want_thinking", "want_content"), CASES)
def test_every_cut_gives_the_same_split(output, inside, want_thinking, want_content):
    want = (want_thinking, want_content)
    assert _run([output], inside) == want
    assert _run(list(output), inside) == want  # one character at a time
    for cuts in (1, 2):
        for pieces in _splits(output, cuts):
            assert _run(pieces, inside) == want, pieces
    # empty pieces anywhere change nothing
    assert _run(["", *itertools.chain.from_iterable((c, "") for c in output)], inside) == want


def test_text_that_cannot_be_a_tag_is_released_at_once():
    splitter = ThinkSplitter()
    assert splitter.feed("<think>") == ("", "")
    assert splitter.in_thinking
    assert splitter.feed("Step one") == ("Step one", "")
    assert splitter.feed(" and <") == (" and", "")  # " <" may be the end: "</think>"
    assert splitter.feed("b") == (" <b", "")
    assert splitter.feed("</think>") == ("", "")
    assert not splitter.in_thinking
    assert splitter.feed("\n\nDone") == ("", "Done")
    assert splitter.feed(" and <think> stays") == ("", " and <think> stays")


def test_content_without_reasoning_streams_without_delay():
    splitter = ThinkSplitter()
    assert splitter.feed("Hello") == ("", "Hello")
    assert splitter.feed("<think>") == ("", "<think>")
    assert splitter.feed("") == ("", "")


def test_doctests():
    result = doctest.testmod(thinking)
    assert result.attempted >= 5 and result.failed == 0
