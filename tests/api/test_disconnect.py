"""A client that leaves mid-stream stops the generation upstream, on both APIs."""

from __future__ import annotations

import time

import httpx
import pytest

USER = [{"role": "user", "content": "go on forever"}]


def _wait_closed(ollama, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while ollama.streams_open and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/chat", {"model": "trickle", "messages": USER}),
        ("/api/generate", {"model": "trickle", "prompt": "x", "stream": True}),
        ("/v1/chat/completions", {"model": "trickle", "messages": USER, "stream": True}),
        ("/v1/completions", {"model": "trickle", "prompt": "x", "stream": True}),
    ],
)
def test_leaving_mid_stream_closes_the_upstream_stream(gateway, ollama, path, body):
    ollama.script("trickle", trickle=0.05)  # streams until the client leaves
    before = ollama.disconnects
    with httpx.stream("POST", gateway + path, json=body, timeout=10) as r:
        lines = r.iter_lines()
        got = [next(lines) for _ in range(3)]
        assert all(got) or path.startswith("/v1")
        assert ollama.streams_open == 1
    _wait_closed(ollama)
    assert ollama.streams_open == 0
    assert ollama.disconnects == before + 1
