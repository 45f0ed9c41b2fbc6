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
