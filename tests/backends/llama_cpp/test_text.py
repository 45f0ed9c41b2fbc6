"""TextStream: whole UTF-8 characters only, stop sequences held back until they cannot match."""

from __future__ import annotations

from ollama_gateway.backends.llama_cpp.text import TextStream


def feed(stream: TextStream, pieces: list[bytes]) -> tuple[list[str], bool]:
    out = []
    for piece in pieces:
        text, stopped = stream.push(piece)
        out.append(text)
        if stopped:
            return out, True
    out.append(stream.flush())
    return out, False


def test_multibyte_character_split_over_tokens_comes_out_whole():
    data = "aж🎉b".encode()
    out, stopped = feed(TextStream(), [bytes([b]) for b in data])
    assert "".join(out) == "aж🎉b"
    assert all("\ufffd" not in piece for piece in out)
    assert "ж" in out and "🎉" in out  # each appeared at once, never in halves
    assert not stopped


def test_invalid_bytes_become_replacement_characters():
    out, _ = feed(TextStream(), [b"a", b"\xff", b"b", b"\xe6\x97"])
    assert "".join(out) == "a\ufffdb\ufffd"


def test_stop_sequence_split_over_tokens_is_not_leaked():
    out, stopped = feed(TextStream(["STOP"]), [b"hello S", b"T", b"O", b"P and more"])
    assert stopped
    assert "".join(out) == "hello "
    assert all("S" not in piece for piece in out)


def test_text_that_only_looked_like_a_stop_is_released():
    stream = TextStream(["STOP"])
    assert stream.push(b"go ST") == ("go ", False)
    assert stream.push(b"ay") == ("STay", False)
    assert stream.flush() == ""


def test_held_text_comes_out_at_the_end():
    stream = TextStream(["</end>"])
    assert stream.push(b"x </e") == ("x ", False)
    assert stream.flush() == "</e"


def test_earliest_of_several_stops_wins():
    out, stopped = feed(TextStream(["cd", "b"]), [b"abcd"])
    assert stopped
    assert "".join(out) == "a"


def test_nothing_after_a_stop():
    stream = TextStream(["x"])
    assert stream.push(b"axb") == ("a", True)
    assert stream.push(b"more") == ("", True)
    assert stream.flush() == ""


def _reference(stops: list[str], pieces: list[str]) -> tuple[str, bool]:
    """What a stream must emit: the text before the earliest stop sequence, or all of it."""
    text = "".join(pieces)
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    # a stop is only seen once it is complete, so an earlier-starting one that completes in a
    # later piece loses to one completed before it
    end = 0
    for piece in pieces:
        end += len(piece)
        seen = [i for s in stops if s for i in [text.find(s, 0, end)] if i >= 0]
        if seen:
            return text[: min(seen)], True
    assert not hits
    return text, False


def test_stop_matching_agrees_with_a_plain_search_on_random_text():
    import random

    rng = random.Random(7)
    for _ in range(3000):
        alphabet = "abc"
        stops = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))) for _ in range(3)]
        text = "".join(rng.choice(alphabet + "xy") for _ in range(rng.randint(0, 14)))
        cuts = sorted(rng.sample(range(len(text) + 1), min(3, len(text) + 1)))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        out, stopped = feed(TextStream(stops), [p.encode() for p in pieces])
        assert ("".join(out), stopped) == _reference(stops, pieces), (stops, pieces)
